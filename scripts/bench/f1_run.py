"""One F1 measurement (fsspec, issue #17): a filesystem reads many small
objects with one ``cat``, or one large object front to back through
``open()``. worker.py runs it in a fresh fork; by hand (the server from
BENCH_* environment variables, common.BenchServer.connection_env):

    python f1_run.py --system ours --case small --count 2000
    python f1_run.py --system ossfs --case big

Systems:

* ours: osstorchconnector.fsspec.OssFsspecFileSystem (storage options
  endpoint, cred_path, region, config_path);
* ossfs: ossfs.OSSFileSystem from PyPI, what fsspec's built-in "oss"
  protocol names (oss2 underneath; key/secret from the environment);
* ossfs-async: ossfs.AioOSSFileSystem, its asyncio sibling (aiooss2), whose
  ``cat`` runs the GETs concurrently.

Cases:

* small: ``fs.cat(paths)`` of count objects (the paths given, no listing),
  every byte counted;
* big: ``fs.open(path, "rb")`` and ``read(8 MiB)`` until the end, each
  filesystem with its default block size and cache.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict

from measure import cpu

SMALL = "f1/small/%05d"
BIG = "f1/big-0"
READ = 8 << 20  # bytes asked of each read() in the big case


def filesystem(system: str):
    env = os.environ
    if system == "ours":
        from osstorchconnector.fsspec import OssFsspecFileSystem

        return OssFsspecFileSystem(
            endpoint=env["BENCH_ENDPOINT"],
            cred_path=env["BENCH_CRED_PATH"],
            region=env["BENCH_REGION"],
            config_path=env.get("BENCH_CONFIG_PATH", ""),
        )
    if system in ("ossfs", "ossfs-async"):
        import ossfs

        cls = ossfs.OSSFileSystem if system == "ossfs" else ossfs.AioOSSFileSystem
        return cls(endpoint=env["BENCH_ENDPOINT"], key=env["OSS_ACCESS_KEY_ID"], secret=env["OSS_ACCESS_KEY_SECRET"])
    raise ValueError(f"unknown F1 system {system!r}")


def small(system: str, count: int, expect_bytes: int) -> Dict[str, Any]:
    fs = filesystem(system)
    bucket = os.environ.get("BENCH_BUCKET", "bench")
    paths = [f"{bucket}/{SMALL % i}" for i in range(count)]
    c0, t0 = cpu(), time.monotonic()
    out = fs.cat(paths)
    seconds = time.monotonic() - t0
    used = cpu() - c0
    nbytes = sum(len(v) for v in out.values())
    if len(out) != count or (expect_bytes and nbytes != expect_bytes):
        raise RuntimeError(f"{system} cat returned {len(out)} objects, {nbytes} bytes; expected {count}")
    return {"objects": count, "bytes": nbytes, "seconds": seconds, "cpu_s": used}


def big(system: str, expect_bytes: int) -> Dict[str, Any]:
    fs = filesystem(system)
    path = f"{os.environ.get('BENCH_BUCKET', 'bench')}/{BIG}"
    c0, t0 = cpu(), time.monotonic()
    nbytes = 0
    with fs.open(path, "rb") as f:
        while True:
            chunk = f.read(READ)
            if not chunk:
                break
            nbytes += len(chunk)
    seconds = time.monotonic() - t0
    used = cpu() - c0
    if expect_bytes and nbytes != expect_bytes:
        raise RuntimeError(f"{system} read {nbytes} bytes of {expect_bytes}")
    return {"bytes": nbytes, "seconds": seconds, "cpu_s": used}


def run_case(system: str, case: str, count: int = 0, expect_bytes: int = 0) -> Dict[str, Any]:
    if case == "small":
        out = small(system, count, expect_bytes)
    elif case == "big":
        out = big(system, expect_bytes)
    else:
        raise ValueError(f"unknown F1 case {case!r}")
    out.update(system=system, case=case)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True, choices=["ours", "ossfs", "ossfs-async"])
    ap.add_argument("--case", required=True, choices=["small", "big"])
    ap.add_argument("--count", type=int, default=2000)
    a = ap.parse_args()
    print(json.dumps(run_case(a.system, a.case, a.count)))


if __name__ == "__main__":
    main()
