"""R1, cache, shuffle, resume (issue #16): what the node-local cache, a
seeded shuffle and a mid-epoch resume cost or save, each against its
baseline in the same run.

* Cache: an OssIterableDataset over D1-like images (4 DataLoader workers,
  batch 64, emulated network on) without the cache, and with it for two
  epochs in one process (epoch 1 fills an empty cache directory, epoch 2
  reads it; the server counts the requests of each), against the same
  objects as files in a local directory.
* Shuffle: the same dataset with shuffle=True, seed=1 against without,
  interleaved (the order of each pair alternates).
* Resume: torchdata's StatefulDataLoader over a prefix of many small keys
  (8 workers): a few batches, state_dict() saved; in a fresh process
  load_state_dict() to the first batch, beside the time the listing alone
  takes (a resumed epoch lists the prefix again to find what is left).
* Ranks: 4 processes as distributed ranks (shard_by_rank=True, 2 workers
  each) read one epoch of a prefix; the server counts the listing requests,
  beside those of one process reading the same prefix.

Every case runs in a fresh fork of the measurement host (worker.py).
"""

from __future__ import annotations

import os
import pathlib
import shutil
from typing import Any, Dict, List, Optional

import common
import imaging
from common import MIB, Profile, log, record

WORKERS = 4
BATCH = 64
# per profile: images in the cache/shuffle dataset, keys of the ranks' prefix
SIZES = {"full": {"objects": 6_000, "rank_keys": 10_000}, "quick": {"objects": 1_000, "rank_keys": 2_000}}
CACHE_BYTES = 4 << 30  # far above the dataset: nothing is evicted
# the shuffle target is a 5 % margin, narrower than one case's run-to-run
# spread on a shared machine: more pairs than the other cases
EXTRA_SHUFFLE_PAIRS = 6
RESUME_WORKERS = 8
# Every worker delivers a batch before the state is saved: a state in which
# some worker had not started yet does not resume (the resumed loader never
# yields its first batch).
RESUME_BATCHES = RESUME_WORKERS + 2
RANKS = 4
RANK_WORKERS = 2
RANK_OBJECT_BYTES = 1024
RESUME_OBJECT_BYTES = 16  # as L1's keys: the listing is what is measured
LIST_CONCURRENCY = 16


def run(
    profile: Profile,
    tools: Dict[str, str],
    scratch: pathlib.Path,
    hosts: Dict[str, Optional[common.Host]],
    notes: List[str],
) -> List[Dict[str, Any]]:
    size = SIZES.get(profile.name, SIZES["quick"])
    host = hosts["ours"]
    recs = _cache_and_shuffle(profile, size["objects"], host, scratch, notes)
    recs += _ranks(size["rank_keys"], host, scratch, notes)
    recs += _resume(profile, profile.l1_keys, host, scratch, notes)
    return recs


def _run(
    host: common.Host, args: Dict[str, Any], env: Dict[str, str], label: str, timeout: float = 300
) -> Dict[str, Any]:
    # the local files and the cache are hundreds of MiB of dirty pages: written back now, not on the
    # clock of the next case
    os.sync()
    out = host.run("r1", args, env, timeout=timeout)
    if "error" in out:
        log(f"  {label:<24}: FAILED {out['error']} {out.get('detail', '')[-800:]}")
    return out


def _log_epoch(label: str, rep: int, e: Dict[str, Any]) -> None:
    gets = e.get("requests", {}).get("GetObject")
    log(
        f"  {label:<14} rep {rep + 1}: {e['objects_per_s']:8.0f} img/s ({e['objects']} in {e['seconds']:.2f} s, "
        f"first batch {e['first_batch_s']:.2f} s, CPU {e['cpu_s'] / e['objects'] * 1e3:.2f} ms/img"
        + (f", {gets or 0} GETs" if "requests" in e else "")
        + ")"
    )


# ---------------------------------------------------------------- cache and shuffle


def _cache_and_shuffle(
    profile: Profile, n: int, host: common.Host, scratch: pathlib.Path, notes: List[str]
) -> List[Dict[str, Any]]:
    sizes = imaging.make_images(scratch / "images")
    bodies = [p.read_bytes() for p in sorted((scratch / "images").iterdir())]  # the server's order: object i, i mod n
    local = (scratch / "local" / "r1").resolve()
    local.mkdir(parents=True)
    for i in range(n):
        (local / f"img-{i:07d}.jpg").write_bytes(bodies[i % len(bodies)])
    samples: Dict[str, List[Dict[str, Any]]] = {}
    with common.BenchServer() as srv:
        filled = srv.fill(n, "r1/img-%07d.jpg", body_dir=str(scratch / "images"))
        log(f"R1: stored {filled['objects']} images ({filled['bytes'] / MIB:.0f} MiB), the same as files in {local}")
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config.json", scratch)
        base = {"workers": WORKERS, "expect": n, "server_pid": srv.srv.pid}
        reps = max(1, profile.repeats)
        pairs = reps + (EXTRA_SHUFFLE_PAIRS if profile.name == "full" else 0)
        for rep in range(max(reps, pairs)):
            order = [("oss", False), ("oss-shuffle", True)]
            for system, shuffle in order[::-1] if rep % 2 else order:
                out = _run(host, dict(base, case="epoch", shuffle=shuffle), env, system)
                samples.setdefault(system, []).append(out)
                if "error" not in out:
                    _log_epoch(system, rep, out)
            if rep >= reps:
                continue
            cache_dir = scratch / f"cache-{rep}"  # empty: epoch 1 is cold
            out = _run(host, dict(base, case="cache", cache_dir=str(cache_dir), cache_bytes=CACHE_BYTES), env, "cache")
            shutil.rmtree(cache_dir, ignore_errors=True)
            if "error" in out:
                samples.setdefault("cache-epoch1", []).append(out)
                samples.setdefault("cache-epoch2", []).append(out)
            else:
                for k in ("epoch1", "epoch2"):
                    e = dict(out[k], cache_files=out["cache_files"], cache_bytes_on_disk=out["cache_bytes_on_disk"])
                    samples.setdefault(f"cache-{k}", []).append(e)
                    _log_epoch(f"cache {k}", rep, e)
            for system in ("local-plain", "local-ours"):
                out = _run(
                    host, {"case": system, "workers": WORKERS, "expect": n, "local_dir": str(local)}, env, system
                )
                samples.setdefault(system, []).append(out)
                if "error" not in out:
                    _log_epoch(system, rep, out)
    shutil.rmtree(scratch / "local", ignore_errors=True)
    return _epoch_records(samples, n, sum(sizes) / len(sizes), notes)


def _epoch_records(
    samples: Dict[str, List[Dict[str, Any]]], n: int, mean_size: float, notes: List[str]
) -> List[Dict[str, Any]]:
    recs = []
    for system, outs in samples.items():
        ok = common.successes(outs, notes, f"R1 {system}")
        if not ok:
            continue
        local = system.startswith("local")
        params: Dict[str, Any] = {
            "workers": WORKERS,
            "batch_size": BATCH,
            "dataset_objects": n,
            "object_kb": round(mean_size / 1000),
            "network": "none: local files (page cache)" if local else "emulated",
        }
        if system.startswith("cache"):
            params["cache_bytes"] = CACHE_BYTES
            params["epoch"] = int(system[-1])
        if system == "oss-shuffle":
            params["seed"] = 1
        recs.append(record("R1", system, params, "throughput", [o["objects_per_s"] for o in ok], "images/s"))
        recs.append(
            record("R1", system, params, "client_cpu", [o["cpu_s"] / o["objects"] * 1e3 for o in ok], "ms/image")
        )
        recs.append(record("R1", system, params, "first_batch", [o["first_batch_s"] for o in ok], "s"))
        if not local:
            recs.append(
                record(
                    "R1", system, params, "server_cpu", [o["server_cpu_s"] / o["objects"] * 1e3 for o in ok], "ms/image"
                )
            )
            for op, metric in (
                ("GetObject", "get_requests"),
                ("HeadObject", "head_requests"),
                ("ListObjectsV2", "list_requests"),
            ):
                recs.append(record("R1", system, params, metric, [o["requests"].get(op, 0) for o in ok], "requests"))
        if system == "cache-epoch2":
            recs.append(
                record("R1", system, params, "cache_on_disk", [o["cache_bytes_on_disk"] / MIB for o in ok], "MiB")
            )
    return recs


# ---------------------------------------------------------------- ranks


def _ranks(keys: int, host: common.Host, scratch: pathlib.Path, notes: List[str]) -> List[Dict[str, Any]]:
    recs = []
    with common.BenchServer() as srv:
        srv.fill(keys, "r1rank/%04d/%08d", per_dir=1000, size=RANK_OBJECT_BYTES)
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config-ranks.json", scratch)
        # one rank; the ranks sharing one listing; each rank listing for itself (the baseline)
        for world, share in ((1, True), (RANKS, True), (RANKS, False)):
            srv.srv.reset_stats()
            case = {"case": "ranks", "world": world, "workers": RANK_WORKERS, "expect": keys, "share": share}
            out = _run(host, case, env, "ranks")
            ok = common.successes([out], notes, f"R1 ranks world={world} share={share}")
            if not ok:
                continue
            st = srv.srv.settled_stats()
            lists = sum(st["requests"].get("ListObjectsV2", {}).values())
            gets = sum(st["requests"].get("GetObject", {}).values())
            log(
                f"  {world} rank(s) x {RANK_WORKERS} workers{'' if share else ', each rank listing'}: "
                f"{out['objects']} objects in {out['seconds']:.1f} s, "
                f"{lists} list requests, {gets} GETs"
            )
            params = {
                "keys": keys,
                "object_bytes": RANK_OBJECT_BYTES,
                "ranks": world,
                "workers_per_rank": RANK_WORKERS,
                "network": "emulated",
            }
            system = f"ranks-{world}" if share or world == 1 else f"ranks-{world}-each-lists"
            recs.append(record("R1", system, params, "list_requests", [lists], "requests"))
            recs.append(record("R1", system, params, "get_requests", [gets], "requests"))
            recs.append(record("R1", system, params, "time", [out["seconds"]], "s"))
    return recs


# ---------------------------------------------------------------- resume


def _resume(
    profile: Profile, keys: int, host: common.Host, scratch: pathlib.Path, notes: List[str]
) -> List[Dict[str, Any]]:
    samples: Dict[str, List[Dict[str, Any]]] = {}
    with common.BenchServer() as srv:
        filled = srv.fill(keys, "r1big/%04d/%08d", per_dir=1000, size=RESUME_OBJECT_BYTES)
        log(f"R1: stored {filled['objects']} keys in {filled['seconds']:.1f} s")
        srv.srv.put_object(common.BUCKET, "warm/x", b"x")
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config-resume.json", scratch)
        configs = {
            "fastlist": common.write_config(
                scratch / "config-resume-fastlist.json",
                scratch,
                datasetConfig={"enableFastList": True, "listConcurrency": LIST_CONCURRENCY},
            ),
            # explicit: with enableFastList unset a resumed epoch lists concurrently
            "sequential": common.write_config(
                scratch / "config-resume-sequential.json", scratch, datasetConfig={"enableFastList": False}
            ),
        }
        state = None
        for rep in range(max(1, profile.l1_repeats)):
            path = scratch / f"resume-{rep}.pt"
            saved = _run(
                host,
                {
                    "case": "resume-save",
                    "workers": RESUME_WORKERS,
                    "batches": RESUME_BATCHES,
                    "state_path": str(path),
                    "config": configs["fastlist"],
                },
                env,
                "resume-save",
            )
            samples.setdefault("save", []).append(saved)
            if "error" in saved:
                continue
            state = (path, set(saved["keys"]))
            log(
                f"  resume-save  rep {rep + 1}: first batch {saved['first_batch_s']:.2f} s, "
                f"state_dict() {saved['state_dict_s'] * 1e3:.0f} ms, {saved['state_bytes']} bytes"
            )
            _resume_pair(
                host, env, "fastlist", configs["fastlist"], path, set(saved["keys"]), keys, rep, samples, notes
            )
        if state is not None:  # without FastList, once: sequential pages take ~1,000 round trips per million keys
            _resume_pair(host, env, "sequential", configs["sequential"], state[0], state[1], keys, 0, samples, notes)
    return _resume_records(samples, keys, notes)


def _resume_pair(
    host: common.Host,
    env: Dict[str, str],
    listing: str,
    config: str,
    path: pathlib.Path,
    seen: set,
    keys: int,
    rep: int,
    samples: Dict[str, List[Dict[str, Any]]],
    notes: List[str],
) -> None:
    """A resume from the saved state, then the listing alone, with one client config."""
    out = _run(
        host,
        {"case": "resume-load", "workers": RESUME_WORKERS, "state_path": str(path), "config": config},
        env,
        f"resume-load {listing}",
    )
    if "error" not in out:
        again = seen.intersection(out["first_batch_keys"])
        if again:
            notes.append(
                f"R1 resume ({listing}): the resumed first batch repeated {len(again)} key(s) delivered before "
                f"the state was saved, e.g. {sorted(again)[0]}"
            )
        log(
            f"  resume-load  {listing:<10} rep {rep + 1}: first batch {out['resume_first_batch_s']:.2f} s after "
            f"load_state_dict ({out['requests'].get('ListObjectsV2', 0)} list requests)"
        )
    samples.setdefault(f"load-{listing}", []).append(out)
    lst = _run(host, {"case": "list", "config": config, "expect": keys}, env, f"list {listing}")
    if "error" not in lst:
        log(f"  list         {listing:<10} rep {rep + 1}: {lst['keys']} keys in {lst['seconds']:.2f} s")
    samples.setdefault(f"list-{listing}", []).append(lst)


def _resume_records(samples: Dict[str, List[Dict[str, Any]]], keys: int, notes: List[str]) -> List[Dict[str, Any]]:
    recs = []
    saved = common.successes(samples.get("save", []), notes, "R1 resume-save")
    for listing in ("fastlist", "sequential"):
        load = common.successes(samples.get(f"load-{listing}", []), notes, f"R1 resume-load {listing}")
        lst = common.successes(samples.get(f"list-{listing}", []), notes, f"R1 list {listing}")
        params: Dict[str, Any] = {
            "keys": keys,
            "object_bytes": RESUME_OBJECT_BYTES,
            "workers": RESUME_WORKERS,
            "batch_size": BATCH,
            "batches_before_save": RESUME_BATCHES,
            "network": "emulated",
            "listing": f"FastList ({LIST_CONCURRENCY} in flight)" if listing == "fastlist" else "sequential pages",
        }
        system = f"resume-{listing}"
        if load:
            recs.append(
                record("R1", system, params, "resume_first_batch", [o["resume_first_batch_s"] for o in load], "s")
            )
            recs.append(
                record(
                    "R1",
                    system,
                    params,
                    "resume_list_requests",
                    [o["requests"].get("ListObjectsV2", 0) for o in load],
                    "requests",
                )
            )
        if lst:
            recs.append(record("R1", system, params, "listing", [o["seconds"] for o in lst], "s"))
        if listing == "fastlist" and saved:
            recs.append(record("R1", system, params, "fresh_first_batch", [o["first_batch_s"] for o in saved], "s"))
    return recs
