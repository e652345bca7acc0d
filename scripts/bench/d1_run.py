"""One D1 measurement: a DataLoader (batch 64) over the D1 images with one
data path, and the memory it took. worker.py runs it in a fresh fork; by
hand (for a profiler):

    python d1_run.py --system ours-iter --workers 2 --transform none [--limit N] [--seconds T]

Runs under our virtualenv and, for the upstream-* systems, under upstream's
(it imports osstorchconnector, whichever is installed). The server comes
from BENCH_* environment variables (common.BenchServer.connection_env).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

import imaging
import torch
from measure import MemorySampler, WorkerMemory, cpu
from torch.utils.data import DataLoader, Dataset

BATCH = 64
PREFIX = "d1/"
INDEX_KEY = "d1-index.txt"


# ---------------------------------------------------------------- the baselines


class SeedOSSDataset(Dataset):
    """The seed document's hand-written oss2 dataset ("Load training data with
    a custom dataset"), kept as written except for what stops it from
    running: the index bytes are decoded before split(','),
    `self._indices(index)` indexes instead of calling, `Image` is imported,
    and each process makes its own Bucket — the seed's, made in the
    constructor, is inherited by forked DataLoader workers, which then share
    its keep-alive socket and read each other's responses (oss2 fails with
    BadStatusLine full of JPEG bytes). Like the seed it reads its index
    object in the constructor and GETs one object per __getitem__; the image
    becomes a tensor because the default collate cannot batch PIL images."""

    def __init__(self, endpoint, bucket, auth, index_file, decode):
        import oss2

        self._args = (auth, endpoint, bucket)
        self._bucket = oss2.Bucket(auth, endpoint, bucket)
        self._pid = os.getpid()
        # Index file format: each sample is "path:label", samples separated by commas.
        self._indices = self._bucket.get_object(index_file).read().decode().split(",")
        self._decode = decode

    def _get_bucket(self):
        if self._pid != os.getpid():
            import oss2

            self._bucket, self._pid = oss2.Bucket(*self._args), os.getpid()
        return self._bucket

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, index):
        from PIL import Image

        img_path, label = self._indices[index].strip().split(":")
        img_str = self._get_bucket().get_object(img_path)
        img_buf = io.BytesIO()
        img_buf.write(img_str.read())
        img_buf.seek(0)
        if not self._decode:
            return img_buf.getvalue(), label
        img = Image.open(img_buf).convert("RGB")
        img_buf.close()
        return imaging.to_tensor(img), label


class PlainV2Dataset(Dataset):
    """What a user writes with the new SDK (alibabacloud-oss-v2) and no
    connector: list the prefix once, GET one object per item."""

    def __init__(self, endpoint, region, bucket, prefix, ak, sk, decode):
        self._args = (endpoint, region, ak, sk)
        self._bucket, self._decode = bucket, decode
        self._client = None
        client = self._get_client()
        import alibabacloud_oss_v2 as oss

        self._keys = []
        for page in client.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=bucket, prefix=prefix, max_keys=1000)
        ):
            self._keys.extend(o.key for o in page.contents or [])

    def _get_client(self):
        # one client per process: DataLoader workers build their own
        if self._client is None or self._pid != os.getpid():
            import alibabacloud_oss_v2 as oss

            endpoint, region, ak, sk = self._args
            cfg = oss.config.load_default()
            cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(ak, sk)
            cfg.region, cfg.endpoint, cfg.use_path_style = region, endpoint, True
            self._client, self._pid = oss.Client(cfg), os.getpid()
        return self._client

    def __getstate__(self):
        return dict(self.__dict__, _client=None)

    def __len__(self):
        return len(self._keys)

    def __getitem__(self, i):
        import alibabacloud_oss_v2 as oss

        r = self._get_client().get_object(oss.GetObjectRequest(bucket=self._bucket, key=self._keys[i]))
        data = r.body.read()
        return imaging.decode_bytes(data) if self._decode else data


# ---------------------------------------------------------------- the run


def build(system, transform, env, prefix=PREFIX):
    decode = transform == "decode"
    endpoint, cred, region, bucket = (
        env["BENCH_ENDPOINT"],
        env["BENCH_CRED_PATH"],
        env["BENCH_REGION"],
        env["BENCH_BUCKET"],
    )
    config = env.get("BENCH_CONFIG_PATH", "")
    tf = imaging.read_decode if decode else imaging.read_bytes
    uri = f"oss://{bucket}/{prefix}"
    if system in ("ours-map", "ours-iter", "upstream-map", "upstream-iter"):
        from osstorchconnector import OssIterableDataset, OssMapDataset

        if system.startswith("upstream"):
            endpoint = env["BENCH_UPSTREAM_ENDPOINT"]
        cls = OssMapDataset if system.endswith("map") else OssIterableDataset
        return cls.from_prefix(uri, endpoint=endpoint, cred_path=cred, config_path=config, transform=tf, region=region)
    if system == "oss2-seed":
        import oss2
        from oss2.credentials import EnvironmentVariableCredentialsProvider

        auth = oss2.ProviderAuth(EnvironmentVariableCredentialsProvider())
        return SeedOSSDataset(endpoint, bucket, auth, INDEX_KEY, decode)
    if system == "ossv2":
        return PlainV2Dataset(
            endpoint, region, bucket, PREFIX, env["OSS_ACCESS_KEY_ID"], env["OSS_ACCESS_KEY_SECRET"], decode
        )
    raise SystemExit(f"unknown system {system}")


def count_batch(batch, transform):
    """(samples, bytes) in one batch, whatever shape the system gives it."""
    if transform == "decode":
        x = batch if isinstance(batch, torch.Tensor) else batch[0]  # the seed's batches are [images, labels]
        return x.shape[0], x.numel()
    n = nbytes = 0
    for item in batch:
        data = item[0] if isinstance(item, tuple) else item
        n += 1
        nbytes += len(data)
    return n, nbytes


def run_case(system, workers=0, transform="none", limit=0, seconds=0.0, profile="", prefix=PREFIX):
    """Read the D1 images under `prefix` through one system with a
    DataLoader until all are read, or `limit` samples, or `seconds` have
    passed."""
    env = os.environ
    t0 = time.monotonic()
    ds = build(system, transform, env, prefix)
    setup_s = time.monotonic() - t0
    collate = imaging.list_collate if transform == "none" else None
    loader = DataLoader(ds, batch_size=BATCH, num_workers=workers, collate_fn=collate)

    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
    mem = MemorySampler(period=0.02).start()
    wmem = WorkerMemory().start() if workers else None
    n = nbytes = batches = 0
    first_batch_s = None
    c0, t0 = cpu(), time.monotonic()
    if prof:
        prof.enable()
    it = iter(loader)
    expected = _len(ds)
    for batch in it:
        k, b = count_batch(batch, transform)
        n, nbytes, batches = n + k, nbytes + b, batches + 1
        if first_batch_s is None:
            first_batch_s = time.monotonic() - t0
        if (limit and n >= limit) or (seconds and time.monotonic() - t0 >= seconds):
            break
        if wmem is not None and n == expected:  # the epoch's last batch: workers still there
            wmem.sample()
    elapsed = time.monotonic() - t0
    if prof:
        prof.disable()
        prof.dump_stats(profile)
    mem.stop()
    worker_mem = wmem.stop() if wmem is not None else {}
    del it  # shuts the workers down (and joins them, so that their CPU time is counted)
    cpu_s = cpu() - c0
    return {
        "system": system,
        "workers": workers,
        "transform": transform,
        "objects": n,
        "bytes": nbytes,
        "batches": batches,
        "seconds": elapsed,
        "objects_per_s": n / elapsed,
        "setup_s": setup_s,
        "first_batch_s": first_batch_s,
        "dataset_len": _len(ds),
        "cpu_s": cpu_s,
        "peak_rss_growth": mem.peak_growth,
        "peak_rss_total": mem.peak_total,
        "worker_private_mean": worker_mem.get("mean"),
        "worker_private_max": worker_mem.get("max"),
    }


def main():
    """Standalone, for profiling one case (py-spy record -- python d1_run.py ...)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--transform", choices=["none", "decode"], default="none")
    ap.add_argument("--limit", type=int, default=0, help="stop after this many samples (0: all)")
    ap.add_argument("--seconds", type=float, default=0, help="stop after this long (0: no limit)")
    ap.add_argument("--profile", default="", help="write a cProfile of the main process here")
    a = ap.parse_args()
    print(json.dumps(run_case(a.system, a.workers, a.transform, a.limit, a.seconds, a.profile)))


def _len(ds):
    try:
        return len(ds)
    except TypeError:
        return None


if __name__ == "__main__":
    main()
