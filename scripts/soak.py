"""Soak: continuous epochs over many objects with random low-rate faults,
watching for slow leaks and drift.

    python scripts/soak.py --minutes 30 --objects 100000     # the real run
    python scripts/soak.py --minutes 1 --objects 4000        # a smoke

Epochs alternate between an OssIterableDataset read by two persistent
DataLoader workers and an OssMapDataset read in the main process through
__getitems__ batches, so both the forked-worker path and the in-process path
of the core keep running. Every sample is checked byte for byte against
content derived from its key, and every epoch must deliver every object
exactly once.

Every few seconds a sampler records the main process's RSS, open file
descriptors, threads and the core's goroutines and live handles (through
ost_runtime_stats), the workers' RSS and descriptors, and the server's RSS.
The run writes bench/results/soak.json and soak.png and prints whether the
curves stayed flat: the median of the last quarter of the run against the
median of the second quarter (the first is warm-up: pools, caches, the
allocator reaching its working set).
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import hashlib
import json
import os
import pathlib
import statistics
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BUCKET = "soak-bucket"
PREFIX = "soak/"

# Low rates of the faults real OSS produces that a reader must ride through.
# Flipped bytes are left to the fault suite: they surface as per-sample
# errors, which would end a DataLoader epoch here.
FAULTS = dict(
    latency_ms=2,
    latency_jitter_ms=3,
    error_rate_500=0.002,
    error_rate_503=0.002,
    qos_delay_ms=20,
    reset_rate=0.001,
    reset_after_bytes=1500,
    truncate_rate=0.001,
    truncate_after_bytes=2500,
    stall_rate=0.0005,
    stall_ms=200,
    stall_after_bytes=1000,
)


def content(key: str, size: int) -> bytes:
    seed = hashlib.blake2b(key.encode(), digest_size=32).digest()
    return (seed * (size // 32 + 1))[:size]


def key_of(i: int) -> str:
    return f"{PREFIX}{i:07d}.bin"


# Module-level (picklable) pieces for the DataLoader.
def to_pair(obj):
    return obj.key, obj.read()


def keep(batch):
    return batch


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


class Sampler(threading.Thread):
    def __init__(self, period: float, server_pid: int) -> None:
        super().__init__(daemon=True)
        self.period = period
        self.server_pid = server_pid
        self.workers: list = []
        self.samples: list = []
        self.stop = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        from osstorchconnector import _native

        while not self.stop.wait(self.period):
            rt = _native.runtime_stats()
            me = os.getpid()
            self.samples.append(
                {
                    "t": round(time.monotonic() - self.t0, 2),
                    "rss_main_mib": rss_kib(me) / 1024,
                    "fds_main": fds(me),
                    "threads_main": threads(me),
                    "goroutines_main": rt["goroutines"],
                    "go_heap_mib": rt["heap_alloc"] / 2**20,
                    "handles_main": rt["handles"],
                    "rss_workers_mib": sum(rss_kib(p) for p in self.workers) / 1024,
                    "fds_workers": sum(fds(p) for p in self.workers),
                    "rss_server_mib": rss_kib(self.server_pid) / 1024,
                    # other work on this shared machine moves throughput: keep it beside the curves
                    "loadavg_1m": os.getloadavg()[0],
                }
            )


def populate(srv, n: int, size: int) -> None:
    from osstorchconnector import _native

    client = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
    with cf.ThreadPoolExecutor(16) as ex:
        for f in cf.as_completed(
            [ex.submit(lambda i=i: client.put(BUCKET, key_of(i), content(key_of(i), size))) for i in range(n)]
        ):
            f.result()


def check(pairs, seen: set, size: int) -> None:
    for key, data in pairs:
        k = key.split("/", 2)[-1] if key.startswith("/") else key
        if data != content(k, size):
            raise AssertionError(f"corrupt bytes accepted for {k}")
        if k in seen:
            raise AssertionError(f"{k} delivered twice in one epoch")
        seen.add(k)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--objects", type=int, default=100_000)
    ap.add_argument("--size", type=int, default=8192, help="bytes per object")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--sample-seconds", type=float, default=5.0)
    args = ap.parse_args(argv)

    from torch.utils.data import DataLoader

    from osstorchconnector import OssIterableDataset, OssMapDataset
    from osstorchconnector.testing import LocalOssServer

    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="soak-")
    config = os.path.join(tmp, "config.json")
    with open(config, "w") as f:
        json.dump(
            {
                "logLevel": 2,
                "logPath": os.path.join(tmp, "connector.log"),
                "auditPath": os.path.join(tmp, "audit.log"),
                "readWriteTimeoutMs": 1500,
            },
            f,
        )

    with LocalOssServer([BUCKET]) as srv:
        t = time.monotonic()
        populate(srv, args.objects, args.size)
        print(f"populated {args.objects} x {args.size} B in {time.monotonic() - t:.0f} s", flush=True)
        srv.set_faults(**FAULTS)
        srv.reset_stats()
        common = dict(
            endpoint=srv.endpoint, cred_path=srv.cred_path, config_path=config, region=srv.region, transform=to_pair
        )
        uri = f"oss://{BUCKET}/{PREFIX}"
        iterable = OssIterableDataset.from_prefix(uri, **common)
        it_loader = DataLoader(
            iterable,
            batch_size=64,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
            collate_fn=keep,
            multiprocessing_context="fork" if args.workers else None,
        )
        mapped = OssMapDataset.from_prefix(uri, **common)
        map_loader = DataLoader(mapped, batch_size=64, num_workers=0, collate_fn=keep)

        sampler = Sampler(args.sample_seconds, srv.pid)
        sampler.start()
        epochs = []
        deadline = time.monotonic() + args.minutes * 60
        e = 0
        try:
            while time.monotonic() < deadline:
                kind = "iterable+workers" if e % 2 == 0 else "map+getitems"
                loader = it_loader if e % 2 == 0 else map_loader
                seen: set = set()
                t0 = time.monotonic()
                batches = iter(loader)
                if e % 2 == 0 and args.workers:
                    sampler.workers = [w.pid for w in getattr(batches, "_workers", [])]
                for batch in batches:
                    check(batch, seen, args.size)
                dt = time.monotonic() - t0
                if len(seen) != args.objects:
                    raise AssertionError(f"epoch {e} delivered {len(seen)} of {args.objects}")
                epochs.append(
                    {
                        "epoch": e,
                        "kind": kind,
                        "seconds": round(dt, 2),
                        "objects_per_s": round(len(seen) / dt, 1),
                        "end_t": round(time.monotonic() - sampler.t0, 1),
                    }
                )
                print(
                    f"epoch {e} {kind}: {len(seen)} objects in {dt:.1f} s ({len(seen) / dt:.0f}/s), "
                    f"rss {rss_kib(os.getpid()) / 1024:.0f} MiB",
                    flush=True,
                )
                e += 1
        finally:
            sampler.stop.set()
            sampler.join()
        stats = srv.stats()

    report = summarize(sampler.samples, epochs, stats, args)
    (out / "soak.json").write_text(json.dumps(report, indent=1))
    plot(report, out / "soak.png")
    print(json.dumps(report["flat"], indent=1))
    print(f"wrote {out / 'soak.json'} and {out / 'soak.png'}")
    return 0 if report["all_flat"] else 1


def summarize(samples, epochs, stats, args) -> dict:
    n = len(samples)
    flat = {}
    # second quarter vs last quarter: the first quarter is warm-up
    q2, q4 = samples[n // 4 : n // 2], samples[3 * n // 4 :]
    limits = {
        "rss_main_mib": ("rel", 0.10),
        "rss_workers_mib": ("rel", 0.10),
        "rss_server_mib": ("rel", 0.10),
        "fds_main": ("abs", 4),
        "fds_workers": ("abs", 4),
        "threads_main": ("abs", 4),
        "goroutines_main": ("abs", 8),
        "handles_main": ("abs", 2),
    }
    for name, (how, lim) in limits.items():
        if not q2 or not q4:
            continue
        a = statistics.median(s[name] for s in q2)
        b = statistics.median(s[name] for s in q4)
        grew = (b - a) / a if how == "rel" and a else (b - a)
        flat[name] = {
            "second_quarter": round(a, 1),
            "last_quarter": round(b, 1),
            "growth": round(grew, 3),
            "limit": lim,
            "flat": grew <= lim,
        }
    for kind in sorted({ep["kind"] for ep in epochs}):
        rates = [ep["objects_per_s"] for ep in epochs if ep["kind"] == kind]
        if len(rates) >= 4:
            h = len(rates) // 2
            a, b = statistics.median(rates[:h]), statistics.median(rates[h:])
            flat[f"throughput {kind}"] = {
                "first_half": a,
                "second_half": b,
                "change": round((b - a) / a, 3),
                "limit": -0.15,
                "flat": (b - a) / a >= -0.15,
            }
    faults = stats.get("faults_injected", 0)
    return {
        "params": {
            "minutes": args.minutes,
            "objects": args.objects,
            "size": args.size,
            "workers": args.workers,
            "faults": FAULTS,
        },
        "epochs": epochs,
        "samples": samples,
        "faults_injected": faults,
        "requests": stats.get("requests"),
        "flat": flat,
        "all_flat": all(v["flat"] for v in flat.values()),
    }


def plot(report, path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install '.[bench]'); no plot", file=sys.stderr)
        return
    s, ep = report["samples"], report["epochs"]
    t = [x["t"] / 60 for x in s]
    fig, ax = plt.subplots(2, 2, figsize=(12, 8))
    for kind, marker in (("iterable+workers", "o"), ("map+getitems", "s")):
        pts = [(x["end_t"] / 60, x["objects_per_s"]) for x in ep if x["kind"] == kind]
        if pts:
            ax[0][0].plot(*zip(*pts), marker=marker, label=kind)
    ax[0][0].set_title("throughput per epoch (objects/s); load average on the right")
    if s and "loadavg_1m" in s[0]:
        la = ax[0][0].twinx()
        la.plot(t, [x["loadavg_1m"] for x in s], color="grey", alpha=0.4, linewidth=1)
        la.set_ylabel("1-min load average (2 cores)")
        la.set_ylim(bottom=0)
    ax[0][0].set_ylim(bottom=0)
    ax[0][0].legend()
    for name, label in (("rss_main_mib", "main"), ("rss_workers_mib", "2 workers"), ("rss_server_mib", "server")):
        ax[0][1].plot(t, [x[name] for x in s], label=label)
    ax[0][1].set_title("RSS (MiB)")
    ax[0][1].set_ylim(bottom=0)
    ax[0][1].legend()
    ax[1][0].plot(t, [x["goroutines_main"] for x in s], label="goroutines (main)")
    ax[1][0].plot(t, [x["threads_main"] for x in s], label="threads (main)")
    ax[1][0].plot(t, [x["handles_main"] for x in s], label="core handles (main)")
    ax[1][0].set_title("goroutines, threads, handles")
    ax[1][0].set_ylim(bottom=0)
    ax[1][0].legend()
    ax[1][1].plot(t, [x["fds_main"] for x in s], label="main")
    ax[1][1].plot(t, [x["fds_workers"] for x in s], label="2 workers")
    ax[1][1].set_title("open file descriptors")
    ax[1][1].set_ylim(bottom=0)
    ax[1][1].legend()
    for a in ax.flat:
        a.set_xlabel("minutes")
    p = report["params"]
    fig.suptitle(
        f"soak: {p['minutes']:g} min, {p['objects']} objects x {p['size']} B, "
        f"{report['faults_injected']} faults injected, {len(ep)} epochs"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    sys.exit(main())
