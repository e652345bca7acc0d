#!/usr/bin/env python3
"""The demo: `make demo`.

Starts the embedded local OSS server, uploads a small labelled dataset, then
lists and reads it back through osstorchconnector's Go core and prints what
it did. (The datasets and checkpoints join this demo as they land.)
"""
from __future__ import annotations

import io
import os
import sys
import time

from osstorchconnector import _native, __version__
from osstorchconnector.testing import LocalOssServer

try:
    from tqdm import tqdm
except ImportError:  # the demo extra brings tqdm; without it, no bars
    def tqdm(it, **_):
        return it

BUCKET = "demo"
CLASSES = 10
PER_CLASS = 50
SIZE = 16 << 10


def main() -> int:
    print(f"osstorchconnector {__version__}: demo on a local OSS-compatible server")
    with LocalOssServer([BUCKET]) as oss:
        oss.set_faults(latency_ms=5)  # a little first-byte latency, as real OSS has
        print(f"server:      {oss.endpoint} (region {oss.region}, V4 signatures checked)")
        print(f"credentials: {oss.cred_path}")
        total = CLASSES * PER_CLASS
        t0 = time.monotonic()
        for i in tqdm(range(total), desc="upload", unit="obj"):
            oss.put_object(BUCKET, f"train/class{i % CLASSES}/{i:05d}.bin", os.urandom(SIZE))
        print(f"uploaded {total} objects of {SIZE // 1024} KiB in {time.monotonic() - t0:.1f} s")

        client = _native.NativeClient({"endpoint": oss.endpoint, "cred_path": oss.cred_path, "region": oss.region})
        t0 = time.monotonic()
        objs = client.list(BUCKET, "train/")
        t_list = time.monotonic() - t0
        st = oss.stats()
        print(f"listed {len(objs)} objects under oss://{BUCKET}/train/ in {t_list * 1000:.0f} ms "
              f"({st['list_pages']} pages of up to 1000 keys)")
        labels = {}
        t0 = time.monotonic()
        nbytes = 0
        for o in tqdm(objs, desc="read", unit="obj"):
            data = client.get(BUCKET, o["key"])
            assert len(data) == o["size"], o
            nbytes += len(data)
            label = o["key"].split("/")[1]
            labels[label] = labels.get(label, 0) + 1
        dt = time.monotonic() - t0
        print(f"read {len(objs)} objects ({nbytes / 2**20:.1f} MiB) in {dt:.1f} s: {len(objs) / dt:.0f} objects/s "
              "(one at a time; the datasets fetch concurrently)")
        print("labels:", ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
        print(f"core: {os.path.basename(_native.library_source())} {_native.version()}")
        st = oss.stats()
        print(f"server saw: {sum(sum(v.values()) for v in st['requests'].values())} requests, "
              f"{st['bytes_out'] / 2**20:.1f} MiB out, peak {st['peak_concurrent']} concurrent")
        if len(objs) != total or set(labels.values()) != {PER_CLASS}:
            print("demo FAILED: not every object came back", file=sys.stderr)
            return 1
    print("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
