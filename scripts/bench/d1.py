"""D1, small objects: DataLoader throughput over ~100 KB JPEGs, and (M1) the
memory it takes.

Systems: ours (OssMapDataset with __getitems__, OssIterableDataset), the
seed's hand-written oss2 dataset, a plain alibabacloud-oss-v2 dataset,
upstream osstorchconnector (its own virtualenv), and the raw limit (the Go
core's GET loop, no Python, at the same number of requests in flight).
Repeats are interleaved (rep 1 of every case, then rep 2, ...) so that a
noisy minute hits every system alike.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
from typing import Any, Dict, List, Optional

import common
import imaging
from common import MIB, Profile, log, record

BATCH = 64
FAST = ["ours-map", "ours-iter", "upstream-map", "upstream-iter"]
SLOW = ["oss2-seed", "ossv2"]
PREFETCH_CONCURRENCY = 24  # datasetConfig.prefetchConcurrency (upstream's default, used by both)
MEMORY_BUDGET = 256 * MIB  # memoryBudget (our default): fetched-but-unconsumed bytes per prefetcher
# The short epoch (the first 1,000 images): with the full epoch, two dataset
# sizes, from which the CPU an epoch costs before its per-sample work (worker
# start-up, listing, shutdown) is fitted.
SHORT_PREFIX = "d1/img-0000"


def run(
    profile: Profile,
    tools: Dict[str, str],
    scratch: pathlib.Path,
    hosts: Dict[str, Optional[common.Host]],
    notes: List[str],
    profile_dir: Optional[pathlib.Path] = None,
) -> List[Dict[str, Any]]:
    sizes = imaging.make_images(scratch / "images")
    mean_size = sum(sizes) / len(sizes)
    n = profile.d1_objects
    log(f"D1: {n} images of {min(sizes) // 1000}-{max(sizes) // 1000} KB (mean {mean_size / 1000:.0f} KB)")
    samples: Dict[tuple, List[Dict[str, Any]]] = {}
    with common.BenchServer() as srv:
        filled = srv.fill(n, "d1/img-%07d.jpg", body_dir=str(scratch / "images"))
        log(f"D1: stored {filled['objects']} objects ({filled['bytes'] / MIB:.0f} MiB) in {filled['seconds']:.1f} s")
        index = ",".join(f"d1/img-{i:07d}.jpg:{i % imaging.VARIANTS}" for i in range(n))
        srv.srv.put_object(common.BUCKET, "d1-index.txt", index)
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config.json", scratch)
        upstream = hosts.get("upstream")
        for rep in range(max(profile.repeats, profile.repeats_other, profile.slow_repeats)):
            for workers in profile.d1_workers:
                conc = PREFETCH_CONCURRENCY * max(1, workers)
                if rep < profile.repeats:
                    samples.setdefault(("raw", workers, "none"), []).append(_raw(tools["rawget"], env, conc, n, srv))
                for transform in ("none", "decode"):
                    for system in FAST + SLOW:
                        if rep >= repeats(profile, system, transform):
                            continue
                        host = upstream if system.startswith("upstream") else hosts["ours"]
                        if host is None:
                            continue
                        args: Dict[str, Any] = {"system": system, "workers": workers, "transform": transform}
                        if system in SLOW:
                            # a fixed number of batches per process: each takes 64 x ~40 ms
                            args["limit"] = BATCH * profile.d1_slow_rounds * max(1, workers)
                        elif transform == "decode":
                            args["limit"] = profile.d1_decode_objects
                        if profile_dir is not None and rep == 0 and system.startswith("ours"):
                            args["profile"] = str(profile_dir / f"d1-{system}-w{workers}-{transform}.prof")
                        out = srv.run_on(host, "d1", args, env, timeout=900)
                        if "error" not in out and "limit" not in args and out["objects"] != n:
                            out = {"error": f"delivered {out['objects']} of {n} objects"}
                        samples.setdefault((system, workers, transform), []).append(out)
                        _log_sample(rep, system, workers, transform, out)
            if rep < profile.repeats:
                _short_epochs(rep, profile, srv, hosts, env, samples, min(n, 1000))
        server_stats = srv.stats()
    log(
        f"D1: server saw peak {server_stats.get('peak_concurrent')} concurrent requests, "
        f"{server_stats.get('faults_injected')} tail stalls"
    )
    return _records(profile, samples, mean_size, notes)


def _short_epochs(
    rep: int,
    profile: Profile,
    srv: common.BenchServer,
    hosts: Dict[str, Optional[common.Host]],
    env: Dict[str, str],
    samples: Dict[tuple, List[Dict[str, Any]]],
    short: int,
) -> None:
    """The fast systems at the most workers over the first `short` images."""
    workers = max(profile.d1_workers)
    for system in FAST:
        host = hosts.get("upstream") if system.startswith("upstream") else hosts["ours"]
        if host is None:
            continue
        out = srv.run_on(
            host,
            "d1",
            {"system": system, "workers": workers, "transform": "none", "prefix": SHORT_PREFIX},
            env,
            timeout=600,
        )
        if "error" not in out and out["objects"] != short:
            out = {"error": f"delivered {out['objects']} of {short} objects"}
        samples.setdefault((system, workers, "short"), []).append(out)
        _log_sample(rep, system, workers, "short", out)


def repeats(profile: Profile, system: str, transform: str) -> int:
    if system in SLOW:
        return profile.slow_repeats if transform == "none" else min(1, profile.slow_repeats)
    if system.endswith("-iter") and transform == "none":
        return profile.repeats
    return profile.repeats_other


def _raw(rawget: str, env: Dict[str, str], conc: int, n: int, srv: common.BenchServer) -> Dict[str, Any]:
    """rawget against the same server: list, then GET everything with conc
    requests in flight (its clock starts after the listing)."""
    from measure import proc_cpu

    cmd = [
        rawget,
        "--endpoint",
        env["BENCH_ENDPOINT"],
        "--cred-path",
        env["BENCH_CRED_PATH"],
        "--region",
        env["BENCH_REGION"],
        "--bucket",
        env["BENCH_BUCKET"],
        "--prefix",
        "d1/",
        "--concurrency",
        str(conc),
        "--config-path",
        env["BENCH_CONFIG_PATH"],
    ]
    c0, s0 = os.times(), proc_cpu(srv.srv.pid)
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        return {"error": "rawget timed out"}
    c1 = os.times()
    if p.returncode != 0:
        return {"error": f"rawget exit status {p.returncode}: {p.stderr[-800:]}"}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    if out.get("errors") or out.get("objects") != n:
        return {"error": f"rawget read {out.get('objects')} of {n} objects, {out.get('errors')} errors"}
    out["cpu_s"] = c1.children_user + c1.children_system - c0.children_user - c0.children_system
    out["server_cpu_s"] = proc_cpu(srv.srv.pid) - s0
    log(f"  raw           c={conc:<3d}             {out['objects_per_s']:8.0f} img/s")
    return out


def _log_sample(rep: int, system: str, workers: int, transform: str, out: Dict[str, Any]) -> None:
    if "error" in out:
        log(
            f"  {system:<13} w={workers} {transform:<6} rep {rep + 1}: FAILED {out['error']} {out.get('detail', '')[-600:]}"
        )
    else:
        log(
            f"  {system:<13} w={workers} {transform:<6} rep {rep + 1}: {out['objects_per_s']:8.0f} img/s "
            f"({out['objects']} in {out['seconds']:.1f} s, +{out['peak_rss_growth'] / MIB:.0f} MiB)"
        )


def _records(
    profile: Profile, samples: Dict[tuple, List[Dict[str, Any]]], mean_size: float, notes: List[str]
) -> List[Dict[str, Any]]:
    recs = []
    for (system, workers, transform), outs in sorted(samples.items()):
        ok = common.successes(outs, notes, f"D1 {system} workers={workers} transform={transform}")
        if not ok or transform == "short":
            continue
        params: Dict[str, Any] = {
            "workers": workers,
            "transform": transform,
            "batch_size": BATCH,
            "dataset_objects": profile.d1_objects,
            "object_kb": round(mean_size / 1000),
        }
        if system == "raw":
            params["concurrency"] = ok[0]["concurrency"]
            params["objects_read"] = ok[0]["objects"]
            recs.append(record("D1", system, params, "throughput", [o["objects_per_s"] for o in ok], "images/s"))
            recs.append(
                record("D1", system, params, "client_cpu", [o["cpu_s"] / o["objects"] * 1e3 for o in ok], "ms/image")
            )
            continue
        params["objects_read"] = min(o["objects"] for o in ok)
        if system in SLOW:
            params["batches_per_process"] = profile.d1_slow_rounds
        recs.append(record("D1", system, params, "throughput", [o["objects_per_s"] for o in ok], "images/s"))
        recs.append(
            record("D1", system, params, "client_cpu", [o["cpu_s"] / o["objects"] * 1e3 for o in ok], "ms/image")
        )
        recs.append(
            record("D1", system, params, "server_cpu", [o["server_cpu_s"] / o["objects"] * 1e3 for o in ok], "ms/image")
        )
        mparams = dict(params, during="D1")
        if system.startswith("ours"):
            procs = max(1, workers)
            mparams["bound_mib"] = MEMORY_BUDGET * procs / MIB
            mparams["bound"] = f"memoryBudget {MEMORY_BUDGET // MIB} MiB x {procs} process(es)"
        recs.append(record("M1", system, mparams, "peak_rss_growth", [o["peak_rss_growth"] / MIB for o in ok], "MiB"))
        if transform == "none":
            recs.append(record("D1", system, params, "first_batch", [o["first_batch_s"] for o in ok], "s"))
            if workers and ok[0].get("worker_private_mean"):
                recs.append(
                    record("D1", system, params, "worker_private", [o["worker_private_mean"] / MIB for o in ok], "MiB")
                )
    recs += _epoch_fixed(profile, samples, notes)
    return recs


def _epoch_fixed(
    profile: Profile, samples: Dict[tuple, List[Dict[str, Any]]], notes: List[str]
) -> List[Dict[str, Any]]:
    """CPU an epoch costs per DataLoader worker before its per-sample work:
    the line through (objects, client CPU) of the short and the full epoch
    (medians), its intercept divided by the workers. Each pair of repeats
    gives one estimate; the record holds them all."""
    import statistics

    recs = []
    workers = max(profile.d1_workers)
    for system in FAST:
        short = [o for o in samples.get((system, workers, "short"), []) if "error" not in o]
        full = [o for o in samples.get((system, workers, "none"), []) if "error" not in o]
        if not short or not full:
            continue
        fits = []
        for s_, f_ in zip(short, full * len(short)):
            per_sample = (f_["cpu_s"] - s_["cpu_s"]) / (f_["objects"] - s_["objects"])
            fits.append((s_["cpu_s"] - per_sample * s_["objects"], per_sample))
        params = {
            "workers": workers,
            "transform": "none",
            "short_objects": short[0]["objects"],
            "dataset_objects": full[0]["objects"],
        }
        recs.append(record("D1", system, params, "epoch_fixed_cpu_per_worker", [a / workers for a, _ in fits], "s"))
        recs.append(record("D1", system, params, "fitted_cpu_per_sample", [b * 1e3 for _, b in fits], "ms/image"))
        recs.append(
            record(
                "D1",
                system,
                dict(params, dataset_objects=short[0]["objects"]),
                "first_batch",
                [o["first_batch_s"] for o in short],
                "s",
            )
        )
        if statistics.median(a for a, _ in fits) < 0:
            notes.append(f"D1 {system}: the fitted per-epoch CPU came out negative (noise larger than the fixed cost)")
    return recs
