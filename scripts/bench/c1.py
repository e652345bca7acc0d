"""C1, checkpoints: torch.save and torch.load of a state dict through
OssCheckpoint (ours, upstream), oss2 (put_object/get_object, and its
resumable multipart upload/download) and /dev/shm (the memory limit); with
(M1) the memory our writer and reader took beyond the state dict."""

from __future__ import annotations

import pathlib
from typing import Any, Dict, List, Optional

import common
from common import MIB, Profile, log, record

SYSTEMS = ["memory", "ours", "upstream", "oss2-resumable", "oss2-put"]
# Our config defaults (README, config.json): what the writer and reader may hold.
PART_SIZE = 8 * MIB
UPLOAD_CONCURRENCY = 64
READ_CHUNK = 8 * MIB
READ_CONCURRENCY = 24


def run(
    profile: Profile,
    tools: Dict[str, str],
    scratch: pathlib.Path,
    hosts: Dict[str, Optional[common.Host]],
    notes: List[str],
) -> List[Dict[str, Any]]:
    samples: Dict[str, List[Dict[str, Any]]] = {}
    log(f"C1: state dict of {profile.c1_gib} GiB")
    with common.BenchServer() as srv:
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config.json", scratch)
        upstream = hosts.get("upstream")
        for rep in range(max(profile.c1_repeats, profile.c1_repeats_other)):
            for system in SYSTEMS:
                host = upstream if system == "upstream" else hosts["ours"]
                if host is None:
                    continue
                # oss2 moves 2 GB through one connection at 100 MB/s: once is enough to see it
                limit = {
                    "memory": profile.c1_repeats,
                    "ours": profile.c1_repeats,
                    "upstream": profile.c1_repeats_other,
                }.get(system, 1)
                if rep >= limit:
                    continue
                out = srv.run_on(host, "c1", {"system": system, "gib": profile.c1_gib}, env, timeout=1200)
                if "error" not in out and not out.get("exact"):
                    out = {"error": "the loaded state dict differs from the saved one"}
                samples.setdefault(system, []).append(out)
                if "error" in out:
                    log(f"  {system:<15} rep {rep + 1}: FAILED {out['error']} {out.get('detail', '')[-800:]}")
                else:
                    log(
                        f"  {system:<15} rep {rep + 1}: save {out['save_gb_s']:.2f} GB/s ({out['save_s']:.1f} s), "
                        f"load {out['load_gb_s']:.2f} GB/s ({out['load_s']:.1f} s); "
                        f"+{out['save_peak_rss_growth'] / MIB:.0f} MiB saving, "
                        f"+{out['load_peak_rss_growth_beyond_tensors'] / MIB:.0f} MiB beyond the tensors loading"
                    )
    recs = []
    for system, outs in samples.items():
        ok = common.successes(outs, notes, f"C1 {system}")
        if not ok:
            continue
        params = {"state_dict_gib": round(ok[0]["bytes"] / (1 << 30), 3)}
        recs.append(record("C1", system, dict(params, op="save"), "throughput", [o["save_gb_s"] for o in ok], "GB/s"))
        recs.append(record("C1", system, dict(params, op="load"), "throughput", [o["load_gb_s"] for o in ok], "GB/s"))
        for op in ("save", "load"):
            recs.append(
                record(
                    "C1",
                    system,
                    dict(params, op=op),
                    "client_cpu",
                    [o[f"{op}_cpu_s"] / (o["bytes"] / 1e9) for o in ok],
                    "s/GB",
                )
            )
        # the server's CPU covers save and load together
        recs.append(
            record(
                "C1",
                system,
                dict(params, op="save+load"),
                "server_cpu",
                [o["server_cpu_s"] / (o["bytes"] / 1e9) for o in ok],
                "s/GB",
            )
        )
        save_p = dict(params, op="save", during="C1")
        load_p = dict(params, op="load", during="C1")
        if system == "ours":
            save_p.update(
                bound_mib=(UPLOAD_CONCURRENCY + 1) * PART_SIZE / MIB,
                bound=f"(uploadConcurrency {UPLOAD_CONCURRENCY} + 1) x partSize {PART_SIZE // MIB} MiB",
            )
            load_p.update(
                bound_mib=READ_CONCURRENCY * READ_CHUNK / MIB,
                bound=f"prefetchConcurrency {READ_CONCURRENCY} x readChunkSize {READ_CHUNK // MIB} MiB",
            )
        recs.append(
            record("M1", system, save_p, "peak_rss_growth", [o["save_peak_rss_growth"] / MIB for o in ok], "MiB")
        )
        if ok[0].get("save_go_heap_alloc_peak") is not None:
            # the bound is on part buffers, which live in the Go heap: its live peak beside the RSS
            recs.append(
                record(
                    "M1",
                    system,
                    dict(save_p, bound_mib=None, bound=None),
                    "go_heap_alloc_peak",
                    [o["save_go_heap_alloc_peak"] / MIB for o in ok],
                    "MiB",
                )
            )
            recs.append(
                record(
                    "M1",
                    system,
                    dict(save_p, bound_mib=None, bound=None),
                    "go_heap_sys_peak",
                    [o["save_go_heap_sys_peak"] / MIB for o in ok],
                    "MiB",
                )
            )
        recs.append(
            record(
                "M1",
                system,
                load_p,
                "peak_rss_growth_beyond_tensors",
                [o["load_peak_rss_growth_beyond_tensors"] / MIB for o in ok],
                "MiB",
            )
        )
    return recs
