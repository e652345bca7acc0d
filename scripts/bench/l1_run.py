"""One L1 measurement: list every key under a prefix with one system.
worker.py runs it in a fresh fork; by hand:

    python l1_run.py --system fastlist

Systems: fastlist and sequential build an OssMapDataset over the prefix
(its constructor lists: what a user waits for) with
datasetConfig.enableFastList on or off; oss2 walks ObjectIteratorV2 with
1,000-key pages, as a hand-written dataset would.
"""
from __future__ import annotations

import argparse
import json
import os
import time

PREFIX = "l1/"


def run_case(system: str, expect: int = 0) -> dict:
    env = os.environ
    bucket = env.get("BENCH_BUCKET", "bench")
    if system in ("fastlist", "sequential"):
        from osstorchconnector import OssMapDataset
        config = env["BENCH_FASTLIST_CONFIG" if system == "fastlist" else "BENCH_CONFIG_PATH"]
        # warm-up, not timed: load the core and open a connection
        OssMapDataset.from_prefix(f"oss://{bucket}/warm/", endpoint=env["BENCH_ENDPOINT"],
                                  cred_path=env["BENCH_CRED_PATH"], config_path=config, region=env["BENCH_REGION"])
        t0, c0 = time.monotonic(), time.process_time()
        ds = OssMapDataset.from_prefix(f"oss://{bucket}/{PREFIX}", endpoint=env["BENCH_ENDPOINT"],
                                       cred_path=env["BENCH_CRED_PATH"], config_path=config,
                                       region=env["BENCH_REGION"])
        seconds, cpu_s = time.monotonic() - t0, time.process_time() - c0
        n = len(ds)
        first, last = ds._bucket_objects[0][1], ds._bucket_objects[-1][1]
        ordered = all(a[1] < b[1] for a, b in zip(ds._bucket_objects, ds._bucket_objects[1:]))
    elif system == "oss2":
        import oss2
        b = oss2.Bucket(oss2.Auth(env["OSS_ACCESS_KEY_ID"], env["OSS_ACCESS_KEY_SECRET"]), env["BENCH_ENDPOINT"], bucket)
        list(oss2.ObjectIteratorV2(b, prefix="warm/", max_keys=1000))
        t0, c0 = time.monotonic(), time.process_time()
        keys = [(o.key, o.size) for o in oss2.ObjectIteratorV2(b, prefix=PREFIX, max_keys=1000)]
        seconds, cpu_s = time.monotonic() - t0, time.process_time() - c0
        n, first, last = len(keys), keys[0][0], keys[-1][0]
        ordered = all(a[0] < b[0] for a, b in zip(keys, keys[1:]))
    else:
        raise ValueError(f"unknown system {system}")
    if expect and n != expect:
        raise RuntimeError(f"{system} listed {n} keys, expected {expect}")
    if not ordered:
        raise RuntimeError(f"{system} listed keys out of order")
    return {"system": system, "keys": n, "seconds": seconds, "keys_per_s": n / seconds, "first": first, "last": last,
            "cpu_s": cpu_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--expect", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(run_case(a.system, a.expect)))


if __name__ == "__main__":
    main()
