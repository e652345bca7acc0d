"""One L1 measurement: list every key under a prefix with one system.
worker.py runs it in a fresh fork; by hand:

    python l1_run.py --system fastlist

Systems: fastlist and sequential build an OssMapDataset over the prefix
(its constructor lists: what a user waits for) with
datasetConfig.enableFastList on or off; oss2 walks ObjectIteratorV2 with
1,000-key pages, as a hand-written dataset would.

Cases for ours and upstream (--system ours|upstream-... under the matching
virtualenv): *-map builds the map dataset (time, CPU, parent RSS growth);
*-first-batch times an OssIterableDataset's first batch with 8 DataLoader
workers; *-epoch reads every object of a map dataset with 2 workers and
reports each worker's private memory at the epoch's end.
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
        OssMapDataset.from_prefix(
            f"oss://{bucket}/warm/",
            endpoint=env["BENCH_ENDPOINT"],
            cred_path=env["BENCH_CRED_PATH"],
            config_path=config,
            region=env["BENCH_REGION"],
        )
        t0, c0 = time.monotonic(), time.process_time()
        ds = OssMapDataset.from_prefix(
            f"oss://{bucket}/{PREFIX}",
            endpoint=env["BENCH_ENDPOINT"],
            cred_path=env["BENCH_CRED_PATH"],
            config_path=config,
            region=env["BENCH_REGION"],
        )
        seconds, cpu_s = time.monotonic() - t0, time.process_time() - c0
        n = len(ds)
        first, last = ds._bucket_objects[0][1], ds._bucket_objects[-1][1]
        ordered = all(a[1] < b[1] for a, b in zip(ds._bucket_objects, ds._bucket_objects[1:]))
    elif system == "oss2":
        import oss2

        b = oss2.Bucket(
            oss2.Auth(env["OSS_ACCESS_KEY_ID"], env["OSS_ACCESS_KEY_SECRET"]), env["BENCH_ENDPOINT"], bucket
        )
        list(oss2.ObjectIteratorV2(b, prefix="warm/", max_keys=1000))
        t0, c0 = time.monotonic(), time.process_time()
        keys = [(o.key, o.size) for o in oss2.ObjectIteratorV2(b, prefix=PREFIX, max_keys=1000)]
        seconds, cpu_s = time.monotonic() - t0, time.process_time() - c0
        n, first, last = len(keys), keys[0][0], keys[-1][0]
        ordered = all(a[0] < b[0] for a, b in zip(keys, keys[1:]))
    elif system.split("-", 1)[0] in ("ours", "upstream"):
        return _connector_case(system, expect)
    else:
        raise ValueError(f"unknown system {system}")
    if expect and n != expect:
        raise RuntimeError(f"{system} listed {n} keys, expected {expect}")
    if not ordered:
        raise RuntimeError(f"{system} listed keys out of order")
    return {
        "system": system,
        "keys": n,
        "seconds": seconds,
        "keys_per_s": n / seconds,
        "first": first,
        "last": last,
        "cpu_s": cpu_s,
    }


def _read_all(batch: list) -> int:
    """Collate: read every sample's body (a DataObject may fetch lazily),
    hand back only the count."""
    for o in batch:
        o.read()
    return len(batch)


def _connector_case(system: str, expect: int) -> dict:
    from measure import WorkerMemory, cpu, rss

    from osstorchconnector import OssIterableDataset, OssMapDataset

    env = os.environ
    bucket = env.get("BENCH_BUCKET", "bench")
    who, case = system.split("-", 1)
    kw = {
        "endpoint": env["BENCH_UPSTREAM_ENDPOINT" if who == "upstream" else "BENCH_ENDPOINT"],
        "cred_path": env["BENCH_CRED_PATH"],
        "config_path": env["BENCH_CONFIG_PATH"],
        "region": env["BENCH_REGION"],
    }
    OssMapDataset.from_prefix(f"oss://{bucket}/warm/", **kw)  # load the core, open a connection: not timed
    uri = f"oss://{bucket}/{PREFIX}"
    out = {"system": system}
    if case == "map":
        base = rss()
        t0, c0 = time.monotonic(), time.process_time()
        ds = OssMapDataset.from_prefix(uri, **kw)
        out.update(seconds=time.monotonic() - t0, cpu_s=time.process_time() - c0, rss_growth=rss() - base, keys=len(ds))
    elif case == "first-batch":
        from torch.utils.data import DataLoader

        ds = OssIterableDataset.from_prefix(uri, **kw)
        loader = DataLoader(ds, batch_size=64, num_workers=8, collate_fn=_read_all)
        t0 = time.monotonic()
        it = iter(loader)
        got = next(it)
        out.update(first_batch_s=time.monotonic() - t0, batch=got, keys=expect)
        del it
    elif case == "epoch":
        from torch.utils.data import DataLoader

        ds = OssMapDataset.from_prefix(uri, **kw)
        n = len(ds)
        loader = DataLoader(ds, batch_size=256, num_workers=2, collate_fn=_read_all)
        wmem = WorkerMemory(period=1.0).start()
        t0, c0, read = time.monotonic(), cpu(), 0
        it = iter(loader)
        for k in it:
            read += k
            if read == n:  # the epoch's last batch: the workers are still there
                wmem.sample()
        seconds = time.monotonic() - t0
        m = wmem.stop()
        del it
        out.update(
            keys=read,
            seconds=seconds,
            cpu_s=cpu() - c0,
            worker_private_mean=m["mean"],
            worker_private_max=m["max"],
            workers_seen=m["workers"],
        )
    else:
        raise ValueError(f"unknown system {system}")
    if expect and out["keys"] != expect:
        raise RuntimeError(f"{system} saw {out['keys']} keys, expected {expect}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--expect", type=int, default=0)
    a = ap.parse_args()
    print(json.dumps(run_case(a.system, a.expect)))


if __name__ == "__main__":
    main()
