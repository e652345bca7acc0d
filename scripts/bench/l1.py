"""L1, listing: every key of a large prefix with FastList (concurrent split
key ranges), with sequential 1,000-key pages (our client, FastList off),
and with oss2's ObjectIteratorV2. Keys are laid out like a dataset:
l1/<dir>/<n>, 1,000 per directory.

Over the same keys, ours beside upstream's: the time to an
OssIterableDataset's first batch with 8 workers (emulated network on, like
the listing), then with the network off (as fast as the server answers)
the map dataset's construction time, CPU and parent memory, and the private
memory of each of 2 workers after a full epoch of the map dataset."""

from __future__ import annotations

import pathlib
from typing import Any, Dict, List, Optional

import common
from common import Profile, log, record

SYSTEMS = ["fastlist", "sequential", "oss2"]
WHO = ["ours", "upstream"]
LIST_CONCURRENCY = 16  # datasetConfig.listConcurrency (default)


def run(
    profile: Profile,
    tools: Dict[str, str],
    scratch: pathlib.Path,
    hosts: Dict[str, Optional[common.Host]],
    notes: List[str],
) -> List[Dict[str, Any]]:
    n = profile.l1_keys
    samples: Dict[str, List[Dict[str, Any]]] = {}
    with common.BenchServer() as srv:
        filled = srv.fill(n, "l1/%04d/%08d", per_dir=1000, size=16)
        log(
            f"L1: stored {filled['objects']} keys in {filled['seconds']:.1f} s (server RSS {srv.rss() / (1 << 30):.1f} GiB)"
        )
        srv.srv.put_object(common.BUCKET, "warm/x", b"x")
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config.json", scratch)
        env["BENCH_FASTLIST_CONFIG"] = common.write_config(
            scratch / "config-fastlist.json",
            scratch,
            datasetConfig={"enableFastList": True, "listConcurrency": LIST_CONCURRENCY},
        )
        for rep in range(profile.l1_repeats):
            for system in SYSTEMS:
                if system == "oss2" and rep >= 1:  # ~1,000 pages parsed in Python: once
                    continue
                srv.srv.reset_stats()
                out = srv.run_on(hosts["ours"], "l1", {"system": system, "expect": n}, env, timeout=1200)
                if "error" not in out:
                    st = srv.stats()
                    out["requests"] = sum(st["requests"].get("ListObjectsV2", {}).values())
                    out["peak_concurrent"] = st.get("peak_concurrent")
                samples.setdefault(system, []).append(out)
                if "error" in out:
                    log(f"  {system:<10} rep {rep + 1}: FAILED {out['error']} {out.get('detail', '')[-800:]}")
                else:
                    log(
                        f"  {system:<10} rep {rep + 1}: {out['keys']} keys in {out['seconds']:.2f} s "
                        f"({out['keys_per_s']:.0f} keys/s, {out['requests']} list requests, "
                        f"{out['peak_concurrent']} at once)"
                    )
        for who in WHO:  # network on: once each (the listing takes a minute)
            _connector(srv, hosts, who, "first-batch", n, env, samples)
        srv.realism_off()
        for _rep in range(profile.l1_repeats):
            for who in WHO:
                _connector(srv, hosts, who, "map", n, env, samples)
        for who in WHO:
            _connector(srv, hosts, who, "epoch", n, env, samples)
    recs = []
    for system, outs in samples.items():
        ok = common.successes(outs, notes, f"L1 {system}")
        if not ok:
            continue
        if system.split("-", 1)[0] in WHO:
            recs += _connector_records(system, ok, n)
            continue
        params = {"keys": n, "page_size": 1000, "list_requests": ok[0]["requests"]}
        if system == "fastlist":
            params["list_concurrency"] = LIST_CONCURRENCY
        recs.append(record("L1", system, params, "throughput", [o["keys_per_s"] for o in ok], "keys/s"))
        recs.append(record("L1", system, params, "time", [o["seconds"] for o in ok], "s"))
        # CPU per 1,000 keys (one page's worth), client and emulated server: on 2 cores the listing is
        # CPU-bound long before 16 requests in flight are
        recs.append(
            record("L1", system, params, "client_cpu", [o["cpu_s"] / o["keys"] * 1e6 for o in ok], "ms/1000 keys")
        )
        recs.append(
            record(
                "L1", system, params, "server_cpu", [o["server_cpu_s"] / o["keys"] * 1e6 for o in ok], "ms/1000 keys"
            )
        )
    return recs


def _connector(
    srv: common.BenchServer,
    hosts: Dict[str, Optional[common.Host]],
    who: str,
    case: str,
    n: int,
    env: Dict[str, str],
    samples: Dict[str, List[Dict[str, Any]]],
) -> None:
    host = hosts.get(who)
    if host is None:
        return
    system = f"{who}-{case}"
    out = srv.run_on(host, "l1", {"system": system, "expect": n}, env, timeout=1500)
    samples.setdefault(system, []).append(out)
    if "error" in out:
        log(f"  {system:<20}: FAILED {out['error']} {out.get('detail', '')[-800:]}")
    elif case == "map":
        log(
            f"  {system:<20}: {out['keys']} keys in {out['seconds']:.2f} s, CPU {out['cpu_s']:.2f} s, "
            f"parent +{out['rss_growth'] / common.MIB:.0f} MiB"
        )
    elif case == "first-batch":
        log(f"  {system:<20}: first batch after {out['first_batch_s']:.2f} s")
    else:
        log(
            f"  {system:<20}: {out['keys']} objects in {out['seconds']:.1f} s, worker private "
            f"{out['worker_private_mean'] / common.MIB:.0f} MiB (mean of {out['workers_seen']})"
        )


def _connector_records(system: str, ok: List[Dict[str, Any]], n: int) -> List[Dict[str, Any]]:
    who, case = system.split("-", 1)
    if case == "first-batch":
        params = {"keys": n, "workers": 8, "batch_size": 64, "network": "emulated"}
        return [record("L1", system, params, "first_batch", [o["first_batch_s"] for o in ok], "s")]
    if case == "map":
        params = {"keys": n, "network": "none"}
        return [
            record("L1", system, params, "time", [o["seconds"] for o in ok], "s"),
            record("L1", system, params, "client_cpu", [o["cpu_s"] / o["keys"] * 1e6 for o in ok], "us/key"),
            record("L1", system, params, "parent_rss_growth", [o["rss_growth"] / common.MIB for o in ok], "MiB"),
            record("L1", system, params, "parent_bytes_per_key", [o["rss_growth"] / o["keys"] for o in ok], "B/key"),
        ]
    params = {"keys": n, "workers": 2, "batch_size": 256, "network": "none"}
    return [
        record("L1", system, params, "worker_private", [o["worker_private_mean"] / common.MIB for o in ok], "MiB"),
        record("L1", system, params, "time", [o["seconds"] for o in ok], "s"),
    ]
