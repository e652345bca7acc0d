"""Turns the records of a run into bench/results/latest.md and the PNG
plots, and puts the headline and the main tables into the README's
Performance section.

    python scripts/bench/report.py                # re-render from bench/results/latest.json
    python scripts/bench/report.py --readme       # ... and update README.md

Headline figures are ratios of two systems measured in the same run:
the ratio of their medians, with a range from the least to the most
favourable pairing of their fastest and slowest repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
from typing import Any, Dict, List, Optional, Tuple

import common

# mean first-byte latency of a GET under common.REALISM (uniform spread plus the held tail)
_R = common.REALISM
MEAN_LATENCY_S = (_R["latency_ms"] + _R["latency_jitter_ms"] / 2 + _R["stall_rate"] * _R["stall_ms"]) / 1e3
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"

LABELS = {
    "ours-iter": "ours: OssIterableDataset",
    "ours-map": "ours: OssMapDataset (__getitems__)",
    "upstream-iter": "upstream 1.2.3: OssIterableDataset",
    "upstream-map": "upstream 1.2.3: OssMapDataset",
    "oss2-seed": "seed's oss2 OSSDataset",
    "ossv2": "plain alibabacloud-oss-v2 Dataset",
    "raw": "raw limit (Go GET loop, no Python)",
    "ours": "ours: OssCheckpoint",
    "upstream": "upstream 1.2.3: OssCheckpoint",
    "oss2-put": "oss2 put_object / get_object",
    "oss2-resumable": "oss2 resumable upload / download (4 threads)",
    "memory": "memory limit: /dev/shm",
    "fastlist": "ours: FastList (16 in flight)",
    "sequential": "ours: sequential 1,000-key pages",
    "oss2": "oss2 ObjectIteratorV2",
}


# ---------------------------------------------------------------- lookups


def find(
    recs: List[Dict[str, Any]], scenario: str, system: str, metric: str, **params: Any
) -> Optional[Dict[str, Any]]:
    for r in recs:
        if (
            r["scenario"] == scenario
            and r["system"] == system
            and r["metric"] == metric
            and all(r["params"].get(k) == v for k, v in params.items())
        ):
            return r
    return None


def ratio(
    a: Optional[Dict[str, Any]], b: Optional[Dict[str, Any]], lower_is_better: bool = False
) -> Optional[Tuple[float, float, float]]:
    """(median ratio, low, high) of a over b, or None when either is missing."""
    if not a or not b or not a.get("value") or not b.get("value"):
        return None
    if lower_is_better:
        return b["value"] / a["value"], b["min"] / a["max"], b["max"] / a["min"]
    return a["value"] / b["value"], a["min"] / b["max"], a["max"] / b["min"]


def fmt_ratio(r: Optional[Tuple[float, float, float]]) -> str:
    if r is None:
        return "n/a"
    m, lo, hi = r
    if abs(hi - lo) < 1e-9:  # a single repeat on either side: no spread to show
        return f"**{m:.2f}x**"
    return f"**{m:.2f}x** ({lo:.2f}-{hi:.2f})"


def fmt_val(r: Optional[Dict[str, Any]], digits: int = 0) -> str:
    if not r or r.get("value") is None:
        return "n/a"
    v, lo, hi = r["value"], r["min"], r["max"]
    spread = f" ({lo:,.{digits}f}-{hi:,.{digits}f})" if r.get("n", 1) > 1 else ""
    return f"{v:,.{digits}f}{spread}"


def ratio_record(scenario: str, system: str, metric: str, params: Dict[str, Any], r) -> Dict[str, Any]:
    """A ratio (median, least, most favourable) as a record of unit "x"."""
    return {
        "scenario": scenario,
        "system": system,
        "params": params,
        "metric": metric,
        "value": round(r[0], 4),
        "unit": "x",
        "min": round(r[1], 4),
        "max": round(r[2], 4),
    }


def ratio_records(recs: List[Dict[str, Any]], workers: List[int]) -> List[Dict[str, Any]]:
    """The headline ratios as records too, so that they are machine-readable."""
    out = []

    def add(scenario, system, metric, params, r):
        if r is not None:
            out.append(ratio_record(scenario, system, metric, params, r))

    for w in workers:
        it_none = find(recs, "D1", "ours-iter", "throughput", workers=w, transform="none")
        add(
            "D1",
            "ours-iter",
            "ratio_vs_raw",
            {"workers": w, "transform": "none"},
            ratio(it_none, find(recs, "D1", "raw", "throughput", workers=w)),
        )
        for tf in ("none", "decode"):
            for sys_, base, name in (
                ("ours-iter", "oss2-seed", "ratio_vs_oss2_seed"),
                ("ours-iter", "ossv2", "ratio_vs_ossv2"),
                ("ours-iter", "upstream-iter", "ratio_vs_upstream"),
                ("ours-map", "upstream-map", "ratio_vs_upstream"),
                ("ours-map", "oss2-seed", "ratio_vs_oss2_seed"),
            ):
                add(
                    "D1",
                    sys_,
                    name,
                    {"workers": w, "transform": tf},
                    ratio(
                        find(recs, "D1", sys_, "throughput", workers=w, transform=tf),
                        find(recs, "D1", base, "throughput", workers=w, transform=tf),
                    ),
                )
    for op in ("save", "load"):
        for base in ("memory", "upstream", "oss2-put", "oss2-resumable"):
            add(
                "C1",
                "ours",
                f"ratio_vs_{base.replace('-', '_')}",
                {"op": op},
                ratio(find(recs, "C1", "ours", "throughput", op=op), find(recs, "C1", base, "throughput", op=op)),
            )
    for base in ("sequential", "oss2"):
        add(
            "L1",
            "fastlist",
            f"ratio_vs_{base}",
            {},
            ratio(find(recs, "L1", "fastlist", "throughput"), find(recs, "L1", base, "throughput")),
        )
    import report_f1  # imports this module's helpers: loaded once they exist
    import report_r1

    return out + report_r1.ratio_records(recs) + report_f1.ratio_records(recs)


# ---------------------------------------------------------------- markdown


def markdown(recs: List[Dict[str, Any]], meta: Dict[str, Any], notes: List[str], brief: bool = False) -> str:
    """latest.md; brief (for the README): the headline and the D1, C1 and L1
    tables only."""
    workers = sorted({r["params"]["workers"] for r in recs if r["scenario"] == "D1" and "workers" in r["params"]})
    ratios = [r for r in recs if r["unit"] == "x"]

    def R(scenario, system, metric, **params):
        r = find(ratios, scenario, system, metric, **params)
        return None if r is None else (r["value"], r["min"], r["max"])

    def reached(r, target):
        if r is None:
            return "n/a"
        return "yes" if r[0] >= target else "**no**"

    import report_cpu  # imports this module's helpers: loaded once they exist

    L: List[str] = []
    prof = meta.get("profile", "?")
    L.append(f"# Benchmarks ({prof} profile)")
    L.append("")
    L.append(
        f"Run {meta.get('date', '?')} on {meta.get('machine', '?')}; commit `{meta.get('commit', '?')}`; "
        f"{meta.get('wall_min', 0):.1f} min in all. "
        + (
            f"Medians of interleaved repeats, spread in parentheses (min-max), where there are several: D1 "
            f"runs the raw limit and both iterable datasets without transform {_times(meta.get('repeats'))}, "
            f"the other fast cases {_times(meta.get('repeats_other'))}, the sequential baselines "
            f"{_times(meta.get('slow_repeats'))} (with decode once); C1 runs ours and the memory limit "
            f"{_times(meta.get('c1_repeats'))}, upstream {_times(meta.get('c1_repeats_other'))}, oss2 once; "
            f"L1 runs FastList and sequential pages {_times(meta.get('l1_repeats'))}, oss2 once (every record "
            "in latest.json has its n and samples). "
            if meta.get("repeats", 1) > 1
            else "One run of each case. "
        )
        + "Ratios compare two systems of the same run: ratio of medians (least-most favourable pairing of "
        "their repeats). Produced by `make bench`" + (" BENCH_QUICK=1" if prof == "quick" else "") + "."
    )
    for sc, origin in sorted((meta.get("kept") or {}).items()):
        L.append("")
        L.append(
            f"> **{sc} is kept from an earlier run** ({origin.get('date', '?')}, commit "
            f"`{origin.get('commit', '?')}`): this run measured {', '.join(s.upper() for s in meta.get('scenarios', []))} "
            f"only. {sc}'s ratios compare systems of that run."
        )
    if prof == "quick":
        L.append("")
        L.append("> **Quick profile**: small data, few repeats — a smoke run of the suite, not figures to quote.")
    L.append("")
    L.append("### Headline (targets from issue #7)")
    L.append("")
    L.append("| comparison | workers | measured | target | reached |")
    L.append("|---|---|---|---|---|")
    for w in workers:
        r = R("D1", "ours-iter", "ratio_vs_raw", workers=w, transform="none")
        L.append(
            f"| D1 OssIterableDataset / raw limit (no transform) | {w} | {fmt_ratio(r)} | >= 0.9x | {reached(r, 0.9)} |"
        )
    for w in workers:
        for tf in ("none", "decode"):
            r = R("D1", "ours-iter", "ratio_vs_oss2_seed", workers=w, transform=tf)
            L.append(
                f"| D1 OssIterableDataset / seed's oss2 dataset ({_tf(tf)}) | {w} | {fmt_ratio(r)} | >= 30x | {reached(r, 30)} |"
            )
    for w in workers:
        for tf in ("none", "decode"):
            r = R("D1", "ours-iter", "ratio_vs_upstream", workers=w, transform=tf)
            L.append(
                f"| D1 OssIterableDataset / upstream's ({_tf(tf)}) | {w} | {fmt_ratio(r)} | >= 1.5x | {reached(r, 1.5)} |"
            )
    for op in ("save", "load"):
        r = R("C1", "ours", "ratio_vs_memory", op=op)
        L.append(f"| C1 OssCheckpoint {op} / memory limit | - | {fmt_ratio(r)} | >= 0.8x | {reached(r, 0.8)} |")
    r = R("L1", "fastlist", "ratio_vs_sequential")
    L.append(f"| L1 FastList / sequential pages | - | {fmt_ratio(r)} | >= 8x | {reached(r, 8)} |")
    within = [x for x in recs if x["scenario"] == "M1" and x["params"].get("bound_mib") is not None]
    if within:
        worst = max(within, key=lambda x: (x["max"] or 0) / x["params"]["bound_mib"])
        ok = all((x["max"] or 0) <= x["params"]["bound_mib"] for x in within)
        L.append(
            f"| M1 peak memory / config bound (worst case: {worst['params'].get('during')} "
            f"{worst['system']} {_m1_case(worst)}) | - | {worst['max']:.0f} / {worst['params']['bound_mib']:.0f} MiB "
            f"| within | {'yes' if ok else '**no**'} |"
        )
    L.append("")

    L.extend(report_cpu.targets(recs, workers))

    # D1 detail
    d1meta = next((x["params"] for x in recs if x["scenario"] == "D1"), {})
    if d1meta:  # absent when the run skipped D1 (--only)
        L.append("### D1: small objects (images/s, DataLoader batch 64)")
        L.append("")
        L.append(
            f"{d1meta.get('dataset_objects', '?'):,} JPEGs of ~{d1meta.get('object_kb', '?')} KB. "
            f"*No transform*: each sample is `obj.read()` (bytes), batches stay lists; *decode*: PIL decode + "
            f"resize to 224x224 + uint8 tensor. The fast systems read all {d1meta.get('dataset_objects', '?'):,} "
            f"images without a transform and the first {meta.get('d1_decode_objects', '?'):,} with decode (decode "
            f"is CPU-bound, so a prefix gives the same rate); the sequential baselines read "
            f"{meta.get('d1_slow_rounds', '?')} batch(es) per DataLoader process (at ~25 images/s per process, all "
            "of them would take most of an hour). Rates count from the DataLoader iterator's creation, worker "
            "start-up and (iterable datasets) the epoch's listing included."
        )
        L.append("")
        header = (
            "| system | " + " | ".join(f"{_tf(tf)}, {w} workers" for tf in ("none", "decode") for w in workers) + " |"
        )
        L.append(header)
        L.append("|---|" + "---|" * (2 * len(workers)))
        for sys_ in ("raw", "ours-iter", "ours-map", "upstream-iter", "upstream-map", "oss2-seed", "ossv2"):
            cells = []
            for tf in ("none", "decode"):
                for w in workers:
                    r = find(recs, "D1", sys_, "throughput", workers=w, **({} if sys_ == "raw" else {"transform": tf}))
                    cells.append("-" if (sys_ == "raw" and tf == "decode") else fmt_val(r))
            if any(c not in ("n/a", "-") for c in cells):
                L.append(f"| {LABELS[sys_]} | " + " | ".join(cells) + " |")
        L.append("")
        raw_c = {
            w: (find(recs, "D1", "raw", "throughput", workers=w) or {}).get("params", {}).get("concurrency")
            for w in workers
        }
        L.append(
            "Raw limit at the same requests in flight as the connectors: "
            + ", ".join(f"{c} for {w} workers" for w, c in raw_c.items() if c)
            + " (24 per process)."
        )
        L.append("")
        cpu_rows = []
        for sys_ in ("raw", "ours-iter", "ours-map", "upstream-iter", "upstream-map"):
            r = (
                find(recs, "D1", sys_, "client_cpu", workers=max(workers) if workers else 0, transform="none")
                if sys_ != "raw"
                else find(recs, "D1", "raw", "client_cpu", workers=max(workers) if workers else 0)
            )
            s = find(recs, "D1", sys_, "server_cpu", workers=max(workers) if workers else 0, transform="none")
            if r:
                cpu_rows.append(f"| {LABELS[sys_]} | {fmt_val(r, 2)} | {fmt_val(s, 2) if s else '-'} |")
        if cpu_rows and not brief:
            L.append(
                f"CPU per image, no transform, {max(workers)} workers (client: the process and its workers; "
                "server: the emulated OSS on the same cores; systems that read the whole dataset — a bounded run "
                "also pays for batches its workers prefetched and never delivered):"
            )
            L.append("")
            L.append("| system | client ms/image | server ms/image |")
            L.append("|---|---|---|")
            L.extend(cpu_rows)
            L.append("")

    L.extend(report_cpu.p1_tables(recs, workers))

    # C1 detail
    c1 = [x for x in recs if x["scenario"] == "C1" and x["metric"] == "throughput"]
    if c1:
        gib = c1[0]["params"].get("state_dict_gib")
        L.append(f"### C1: checkpoints (GB/s, torch.save / torch.load of a {gib} GiB state dict)")
        L.append("")
        L.append(
            "| system | save GB/s | load GB/s | client CPU s/GB save | client CPU s/GB load | server CPU s/GB (both) |"
        )
        L.append("|---|---|---|---|---|---|")
        for sys_ in ("memory", "ours", "upstream", "oss2-resumable", "oss2-put"):
            s = find(recs, "C1", sys_, "throughput", op="save")
            if not s:
                continue
            L.append(
                f"| {LABELS[sys_]} | {fmt_val(s, 2)} | {fmt_val(find(recs, 'C1', sys_, 'throughput', op='load'), 2)} | "
                f"{fmt_val(find(recs, 'C1', sys_, 'client_cpu', op='save'), 2)} | "
                f"{fmt_val(find(recs, 'C1', sys_, 'client_cpu', op='load'), 2)} | "
                f"{fmt_val(find(recs, 'C1', sys_, 'server_cpu'), 2)} |"
            )
        L.append("")
        parts = []
        for base in ("upstream", "oss2_resumable", "oss2_put"):
            for op in ("save", "load"):
                r = R("C1", "ours", f"ratio_vs_{base}", op=op)
                if r:
                    parts.append(f"{op} {fmt_ratio(r)} vs {base.replace('_', '-')}")
        if parts:
            L.append("Ours: " + "; ".join(parts) + ".")
            L.append("")

    # L1 detail
    l1 = [x for x in recs if x["scenario"] == "L1" and x["metric"] == "time"]
    if l1:
        L.append(f"### L1: listing {l1[0]['params']['keys']:,} keys (in-memory server)")
        L.append("")
        L.append("| system | seconds | keys/s | list requests |")
        L.append("|---|---|---|---|")
        for sys_ in ("fastlist", "sequential", "oss2"):
            t = find(recs, "L1", sys_, "time", page_size=1000)
            if t:
                L.append(
                    f"| {LABELS[sys_]} | {fmt_val(t, 2)} | {fmt_val(find(recs, 'L1', sys_, 'throughput'))} | "
                    f"{t['params'].get('list_requests', '?'):,} |"
                )
        L.append("")
        r = R("L1", "fastlist", "ratio_vs_oss2")
        if r:
            L.append(f"FastList / oss2: {fmt_ratio(r)}.")
            L.append("")
        L.extend(report_cpu.listing_scale_table(recs))

    if brief:
        L.append(
            "M1 (memory) in detail, the CPU accounting, where the time goes, the method and this run's notes: "
            "[bench/results/latest.md](bench/results/latest.md)."
        )
        L.append("")
        return "\n".join(L)

    import report_f1
    import report_r1

    L.extend(report_r1.section(recs))
    L.extend(report_f1.section(recs))

    # M1 detail
    m1_all = [
        x
        for x in recs
        if x["scenario"] == "M1"
        and (x["system"] == "ours" or x["system"].startswith("ours-") or x["params"].get("during") == "C1")
    ]
    if m1_all:
        L.append("### M1: peak memory (MiB above the start of the operation)")
        L.append("")
        L.append(
            "D1: growth of the loading process and its DataLoader workers, summed (each process from its own "
            "start). C1: growth of the saving process; for loads, growth beyond the loaded tensors themselves. "
            "The memory limit and oss2's resumable path keep the whole checkpoint in a /dev/shm file, which "
            "is memory too but not in any process's RSS."
        )
        L.append("")
        L.append("| during | system | case | peak MiB | config bound |")
        L.append("|---|---|---|---|---|")
        for x in sorted(m1_all, key=lambda x: (x["params"].get("during"), x["system"], _m1_case(x))):
            if x["params"].get("during") == "D1" and not x["system"].startswith("ours"):
                continue
            bound = (
                f"{x['params']['bound_mib']:.0f} MiB ({x['params']['bound']})" if x["params"].get("bound_mib") else "-"
            )
            L.append(
                f"| {x['params'].get('during')} | {LABELS.get(x['system'], x['system'])} | {_m1_case(x)} | "
                f"{fmt_val(x)} | {bound} |"
            )
        L.append("")

    why = analysis(recs, workers)
    if why:
        L.append("### Where the time goes")
        L.append("")
        L.extend(f"* {w}" for w in why)
        L.append("")

    L.append("### Method")
    L.append("")
    L.append(common.LATENCY_NOTE.strip())
    L.append("")
    L.append(
        "Every measurement runs in a fresh fork of a process that has imported torch and nothing else "
        "(scripts/bench/worker.py): its own Go runtime or upstream engine, its own DataLoader workers "
        "(fork), memory counted from its own start. Ours and upstream use the same config.json "
        "(upstream's defaults: prefetchConcurrency 24, uploadConcurrency 64; WARN-level logs in a temporary "
        "directory). Upstream runs in its own virtualenv and reaches the server as "
        f"`http://{common.UPSTREAM_HOST}:PORT` (it signs virtual-hosted requests only) through "
        + (
            "its own /etc/hosts in a private mount namespace."
            if meta.get("upstream_access") == "namespace"
            else "a temporary /etc/hosts entry."
        )
    )
    L.append("")
    if notes:
        L.append("### Notes from this run")
        L.append("")
        for n in notes:
            L.append(f"* {n}")
        L.append("")
    return "\n".join(L)


def analysis(recs: List[Dict[str, Any]], workers: List[int]) -> List[str]:
    """Sentences from the CPU accounting: what each path costs per image or
    per GB, on the client and on the (emulated, same-machine) server."""
    out = []
    cores = os.cpu_count() or 1
    for w in workers:
        it = find(recs, "D1", "ours-iter", "throughput", workers=w, transform="none")
        raw = find(recs, "D1", "raw", "throughput", workers=w)
        it_cpu = find(recs, "D1", "ours-iter", "client_cpu", workers=w, transform="none")
        raw_cpu = find(recs, "D1", "raw", "client_cpu", workers=w)
        srv_cpu = find(recs, "D1", "ours-iter", "server_cpu", workers=w, transform="none")
        if not (it and raw and it_cpu and raw_cpu and srv_cpu):
            continue
        busy = it["value"] * (it_cpu["value"] + srv_cpu["value"]) / 1e3
        inflight = raw["params"].get("concurrency") or 24 * max(1, w)
        bound = inflight / (MEAN_LATENCY_S + 0.001)  # + ~1 ms for 100 KB at 100 MB/s
        out.append(
            f"D1, {w} workers, no transform: OssIterableDataset {it['value']:,.0f} images/s, raw loop "
            f"{raw['value']:,.0f}; {inflight} requests in flight over {MEAN_LATENCY_S * 1e3:.1f} ms mean "
            f"latency allow ~{bound:,.0f}. Per image the loader spends {it_cpu['value']:.2f} ms of CPU "
            f"(raw loop {raw_cpu['value']:.2f} ms) and the emulated server {srv_cpu['value']:.2f} ms: "
            f"{busy:.2f} core-seconds per second at this rate, of {cores} cores"
            + (
                " (shared with whatever else ran: see the load average)."
                if busy < 0.75 * cores
                else " — CPU-bound: the per-object cost on the Python side (ctypes call, DataObject, copying the "
                "bytes, passing batches from workers) is what separates it from the raw loop."
            )
        )
    it0 = find(recs, "D1", "ours-iter", "throughput", workers=0, transform="none")
    map0 = find(recs, "D1", "ours-map", "throughput", workers=0, transform="none")
    if it0 and map0 and map0["value"] < 0.9 * it0["value"]:
        rate = common.REALISM["stall_rate"]
        out.append(
            f"D1, 0 workers: OssMapDataset {map0['value']:,.0f} images/s vs the iterable's {it0['value']:,.0f}. "
            "`__getitems__` fetches a batch as a unit, so each batch waits for its slowest GET: with "
            f"{rate:.0%} of GETs held {common.REALISM['stall_ms']} ms, {1 - (1 - rate) ** 64:.0%} of 64-image "
            "batches contain one. The iterable yields objects as they complete and streams past them; "
            "DataLoader workers hide it for the map dataset by overlapping batches."
        )
    for op in ("save", "load"):
        ours = find(recs, "C1", "ours", "throughput", op=op)
        mem = find(recs, "C1", "memory", "throughput", op=op)
        ccpu = find(recs, "C1", "ours", "client_cpu", op=op)
        mcpu = find(recs, "C1", "memory", "client_cpu", op=op)
        scpu = find(recs, "C1", "ours", "server_cpu")
        if not (ours and mem and ccpu and mcpu and scpu):
            continue
        out.append(
            f"C1 {op}: ours {ours['value']:.2f} GB/s vs memory {mem['value']:.2f} GB/s. Per GB ours uses "
            f"{ccpu['value']:.2f} s of client CPU (memory: {mcpu['value']:.2f} s) while the emulated server, "
            f"on the same {cores} cores, spends {scpu['value']:.2f} s per GB over save and load together "
            "(it hashes every upload with MD5 and CRC-64 and copies it into memory; real OSS does that on "
            "its own machines). Client CPU alone bounds the ratio to memory at about "
            f"{mcpu['value'] / ccpu['value'] * cores:.2f}x with {cores} cores fully used."
        )
    m1s = find(recs, "M1", "ours", "peak_rss_growth", op="save", during="C1")
    heap = find(recs, "M1", "ours", "go_heap_alloc_peak", op="save", during="C1")
    if m1s and m1s["params"].get("bound_mib") and m1s["max"] > m1s["params"]["bound_mib"]:
        out.append(
            f"M1, C1 save: the writer's RSS grew {m1s['value']:,.0f} MiB, above the "
            f"{m1s['params']['bound_mib']:,.0f} MiB that {m1s['params']['bound']} allows"
            + (f"; the Go heap itself peaked at {heap['value']:,.0f} MiB allocated" if heap else "")
            + ". The writer counts every part buffer it holds against the bound; what comes on top is "
            "garbage between collections (dropped buffers, the HTTP layer's), freed heap the Go runtime has "
            "not returned to the OS yet, and the Python side's pickling buffers."
        )
    fl = find(recs, "L1", "fastlist", "time")
    sq = find(recs, "L1", "sequential", "time")
    if fl and sq:
        n_fl, n_sq = fl["params"].get("list_requests"), sq["params"].get("list_requests")
        text = (
            f"L1: FastList made {n_fl:,} list requests for the {n_sq:,} pages of the sequential listing "
            f"(the rest are one-key probes that find where to split a range) and took {fl['value']:.2f} s "
            f"against {sq['value']:.2f} s."
        )
        fc, fs = find(recs, "L1", "fastlist", "client_cpu"), find(recs, "L1", "fastlist", "server_cpu")
        if fc and fs:
            per_page = fc["value"] + fs["value"]
            ceiling = fl["params"]["keys"] / 1000 * per_page / 1000 / cores
            text += (
                f" Each 1,000 keys cost {fc['value']:.0f} ms of client CPU (decoding the pages in Go, the "
                f"compact listing handed to Python) and {fs['value']:.0f} ms of the emulated server's (sorting out and writing "
                f"the XML page), all on the same {cores} cores: the whole listing cannot take less than "
                f"about {ceiling:.2f} s here however many requests are in flight, so the ratio to sequential "
                "pages is capped by CPU, not by latency; with OSS doing the server's part elsewhere and more "
                "cores the same code keeps 16 requests in flight."
            )
        out.append(text)
    return out


def _times(n: Any) -> str:
    if not n:
        return "(not recorded)"
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _tf(tf: str) -> str:
    return "no transform" if tf == "none" else "decode"


def _m1_case(x: Dict[str, Any]) -> str:
    p = x["params"]
    if p.get("during") == "D1":
        return f"{_tf(p.get('transform'))}, {p.get('workers')} workers"
    what = {
        "go_heap_alloc_peak": " (Go heap allocated, not RSS)",
        "go_heap_sys_peak": " (Go heap obtained from the OS)",
    }
    return f"{p.get('op')}, {p.get('state_dict_gib')} GiB{what.get(x['metric'], '')}"


# ---------------------------------------------------------------- plots


def plots(recs: List[Dict[str, Any]], out: pathlib.Path) -> List[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    made = []
    workers = sorted({r["params"]["workers"] for r in recs if r["scenario"] == "D1" and "workers" in r["params"]})

    palette = plt.get_cmap("tab10").colors
    color = {s: palette[i % len(palette)] for i, s in enumerate(LABELS)}  # one colour per system in every plot

    def bars(ax, groups, series, get, ylabel, title, log=False):
        width = 0.8 / max(1, len(series))
        for i, s in enumerate(series):
            vals, lo, hi = [], [], []
            for g in groups:
                r = get(s, g)
                v = r["value"] if r and r.get("value") else 0
                vals.append(v)
                # max(0, ...): the value is rounded, the extremes are not
                lo.append(max(0.0, v - r["min"]) if r and r.get("value") else 0)
                hi.append(max(0.0, r["max"] - v) if r and r.get("value") else 0)
            xs = [j + (i - (len(series) - 1) / 2) * width for j in range(len(groups))]
            ax.bar(xs, vals, width, yerr=[lo, hi], capsize=2, label=LABELS.get(s, s), color=color.get(s))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([str(g) for g in groups])
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if log:
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)

    if workers:
        fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
        for ax, tf in zip(axes, ("none", "decode")):
            systems = ["raw", "ours-iter", "ours-map", "upstream-iter", "upstream-map", "oss2-seed", "ossv2"]
            if tf == "decode":
                systems.remove("raw")
            systems = [s for s in systems if any(find(recs, "D1", s, "throughput", workers=w) for w in workers)]
            bars(
                ax,
                workers,
                systems,
                lambda s, w, tf=tf: find(
                    recs, "D1", s, "throughput", workers=w, **({} if s == "raw" else {"transform": tf})
                ),
                "images/s (log)",
                f"D1: {_tf(tf)}",
                log=True,
            )
            ax.set_xlabel("DataLoader workers")
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8)
        fig.tight_layout(rect=(0, 0.1, 1, 1))
        fig.savefig(out / "d1_throughput.png", dpi=110)
        plt.close(fig)
        made.append("d1_throughput.png")

    c1 = [
        s
        for s in ("memory", "ours", "upstream", "oss2-resumable", "oss2-put")
        if find(recs, "C1", s, "throughput", op="save")
    ]
    if c1:
        fig, ax = plt.subplots(figsize=(8, 4.5))
        bars(ax, ["save", "load"], c1, lambda s, op: find(recs, "C1", s, "throughput", op=op), "GB/s", "C1: checkpoint")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "c1_checkpoint.png", dpi=110)
        plt.close(fig)
        made.append("c1_checkpoint.png")

    l1 = [s for s in ("fastlist", "sequential", "oss2") if find(recs, "L1", s, "time")]
    if l1:
        fig, ax = plt.subplots(figsize=(6, 4))
        keys = find(recs, "L1", l1[0], "time")["params"]["keys"]
        bars(
            ax,
            [f"{keys:,} keys"],
            l1,
            lambda s, g: find(recs, "L1", s, "time"),
            "seconds (lower is better)",
            "L1: listing",
        )
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "l1_listing.png", dpi=110)
        plt.close(fig)
        made.append("l1_listing.png")

    m1 = [x for x in recs if x["scenario"] == "M1" and x["params"].get("bound_mib")]
    if m1:
        fig, ax = plt.subplots(figsize=(10, 4.5))
        names = [f"{x['params']['during']} {x['system']}\n{_m1_case(x)}" for x in m1]
        vals = [x["value"] for x in m1]
        ax.bar(
            range(len(m1)),
            vals,
            yerr=[
                [max(0.0, v - x["min"]) for v, x in zip(vals, m1)],
                [max(0.0, x["max"] - v) for v, x in zip(vals, m1)],
            ],
            capsize=2,
            label="peak growth",
        )
        ax.scatter(
            range(len(m1)), [x["params"]["bound_mib"] for x in m1], marker="_", s=400, color="red", label="config bound"
        )
        ax.set_xticks(range(len(m1)))
        ax.set_xticklabels(names, fontsize=6, rotation=60, ha="right")
        ax.set_ylabel("MiB")
        ax.set_title("M1: peak memory vs config")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "m1_memory.png", dpi=110)
        plt.close(fig)
        made.append("m1_memory.png")
    return made


# ---------------------------------------------------------------- outputs


def write(recs: List[Dict[str, Any]], meta: Dict[str, Any], notes: List[str], out: pathlib.Path) -> pathlib.Path:
    """latest.json (records, ratios included), latest.md, the PNGs."""
    out.mkdir(parents=True, exist_ok=True)
    workers = sorted({r["params"]["workers"] for r in recs if r["scenario"] == "D1" and "workers" in r["params"]})
    recs = [r for r in recs if r["unit"] != "x"] + ratio_records([r for r in recs if r["unit"] != "x"], workers)
    (out / "latest.json").write_text(json.dumps(recs, indent=1) + "\n")
    (out / "latest.meta.json").write_text(json.dumps(dict(meta, notes=notes), indent=1) + "\n")
    md = markdown(recs, meta, notes)
    try:
        images = plots(recs, out)
    except Exception as e:  # the numbers are written already; a plot must not lose them
        images = []
        md += f"\n(plots failed: {type(e).__name__}: {e})\n"
    if images:
        md += "\n" + "\n".join(f"![{i}]({i})" for i in images) + "\n"
    (out / "latest.md").write_text(md)
    return out / "latest.md"


def update_readme(results: pathlib.Path = common.RESULTS, readme: pathlib.Path = common.REPO / "README.md") -> bool:
    """Replace the text between the bench markers with the brief rendering
    of results/latest.json (headings moved down a level, the D1 plot linked)."""
    recs = json.loads((results / "latest.json").read_text())
    meta = json.loads((results / "latest.meta.json").read_text())
    md = markdown(recs, meta, meta.get("notes", []), brief=True)
    md = re.sub(r"^# .*\n", "", md, count=1)  # the section has its own heading
    md = re.sub(r"^### ", "#### ", md, flags=re.M)
    rel = results.relative_to(readme.parent).as_posix()
    if (results / "d1_throughput.png").exists():
        md += f"\n![D1 throughput]({rel}/d1_throughput.png)\n"
    text = readme.read_text()
    block = f"{README_START}\n{md.strip()}\n{README_END}"
    if README_START in text and README_END in text:
        new = re.sub(re.escape(README_START) + r".*?" + re.escape(README_END), lambda m: block, text, flags=re.S)
    else:
        new = text.rstrip("\n") + "\n\n## Performance\n\n" + block + "\n"
    if new != text:
        readme.write_text(new)
        return True
    return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default=str(common.RESULTS))
    ap.add_argument("--readme", action="store_true", help="also update README.md's Performance section")
    a = ap.parse_args()
    res = pathlib.Path(a.results)
    recs = json.loads((res / "latest.json").read_text())
    meta = json.loads((res / "latest.meta.json").read_text())
    md = write(recs, meta, meta.pop("notes", []), res)
    print(md)
    if a.readme:
        print("README.md updated" if update_readme(res) else "README.md unchanged")


if __name__ == "__main__":
    main()
