"""Listing a large prefix: today's JSON listing (ost_list + a Python tuple
per key, what OssMapDataset.from_prefix keeps) against ost_list_packed + a
Listing, with FastList on and off. Each case runs in a fresh interpreter:
wall time, client CPU (the process's, the server runs apart), the growth of
the parent's RSS, and what a forked worker copies after reading 20,000 random
entries (its Private_Dirty).

    PYTHONPATH=python .venv/bin/python scripts/bench/listing_compare.py [--keys N] [--latency]

--latency adds ossemu's first-byte latency (20-50 ms per request), as the
L1 benchmark does, which is where FastList's concurrency shows.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.parse


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def private_dirty(pid: int) -> int:
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) * 1024
    return 0


def case(kind: str, opts: dict, bucket: str, prefix: str) -> dict:
    from osstorchconnector import _native
    c = _native.NativeClient(opts)
    c.list(bucket, "warm/")  # load the core, open a connection
    c.list_packed(bucket, "warm/")
    base = rss()
    t0, c0 = time.monotonic(), time.process_time()
    if kind == "json":
        entries = [(bucket, o["key"], o["size"], "") for o in c.list(bucket, prefix)]
    else:
        entries = c.list_packed(bucket, prefix)
    seconds, cpu = time.monotonic() - t0, time.process_time() - c0
    grown = rss() - base
    n = len(entries)
    # a forked worker reading 20,000 random entries
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        rnd = random.Random(1)
        for _ in range(20_000):
            entries[rnd.randrange(n)]
        os.write(w, b"x")
        time.sleep(30)
        os._exit(0)
    os.close(w)
    os.read(r, 1)
    copied = private_dirty(pid)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return {"keys": n, "seconds": seconds, "cpu_s": cpu, "rss_growth": grown, "worker_private_dirty": copied}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--latency", action="store_true")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--opts", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.case:
        print(json.dumps(case(a.case, json.loads(a.opts), "bench", "l1/")))
        return
    from osstorchconnector.testing import LocalOssServer
    with LocalOssServer(["bench"]) as srv, tempfile.TemporaryDirectory() as tmp:
        q = urllib.parse.urlencode({"bucket": "bench", "count": a.keys, "key_format": "l1/%04d/%08d", "per_dir": 1000,
                                    "size": 16})
        srv._admin("POST", "fill?" + q)
        srv.put_object("bench", "warm/x", b"x")
        if a.latency:
            srv.set_faults(latency_ms=20, latency_jitter_ms=30, seed=7)
        for fast in (False, True):
            cfg = os.path.join(tmp, f"config-{fast}.json")
            with open(cfg, "w") as f:
                json.dump({"logLevel": 2, "logPath": os.path.join(tmp, "log"),
                           "datasetConfig": {"enableFastList": fast, "listConcurrency": 16}}, f)
            opts = {"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region, "config_path": cfg}
            for kind in ("json", "packed"):
                srv.reset_stats()
                out = subprocess.run([sys.executable, __file__, "--case", kind, "--opts", json.dumps(opts)],
                                     capture_output=True, text=True, check=True)
                res = json.loads(out.stdout.strip().splitlines()[-1])
                st = srv.stats()
                res["list_requests"] = sum(st["requests"].get("ListObjectsV2", {}).values())
                n = res["keys"]
                print(f"fastlist={fast!s:5} {kind:6}: {n} keys in {res['seconds']:.2f} s, client CPU "
                      f"{res['cpu_s'] / n * 1e6:.2f} us/key, parent RSS +{res['rss_growth'] / 2**20:.0f} MiB "
                      f"({res['rss_growth'] / n:.0f} B/key), forked worker copied "
                      f"{res['worker_private_dirty'] / 2**20:.1f} MiB, {res['list_requests']} list requests",
                      flush=True)


if __name__ == "__main__":
    main()
