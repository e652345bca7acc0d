"""The report's CPU-and-scale part (report.py calls it): the targets of
issue #14 as one table, P1 (client CPU per sample at every worker count),
what an epoch costs before its per-sample work, and the 1,000,000-key rows
(map construction, first batch, a worker's private memory after an epoch).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from report import LABELS, find, fmt_val

P1_SYSTEMS = ("raw", "ours-iter", "ours-map", "upstream-iter", "upstream-map")
PAIRS = (("ours-iter", "upstream-iter"), ("ours-map", "upstream-map"))


def _v(r: Optional[Dict[str, Any]]) -> Optional[float]:
    return None if not r else r.get("value")


def _d1(recs, system, metric, w, **kw):
    if system == "raw":
        return find(recs, "D1", "raw", metric, workers=w)
    return find(recs, "D1", system, metric, workers=w, transform="none", **kw)


def _row(what: str, measured: Optional[float], target: str, ok: Optional[bool], fmt: str = "{:.2f}x") -> str:
    m = "n/a" if measured is None else "**" + fmt.format(measured) + "**"
    reached = "n/a" if ok is None else ("yes" if ok else "**no**")
    return f"| {what} | {m} | {target} | {reached} |"


def targets(recs: List[Dict[str, Any]], workers: List[int]) -> List[str]:
    """Issue #14's targets, each from records of this run (or of the run a
    kept scenario comes from)."""
    L = [
        "### Targets of issue #14 (one door, and a fast one)",
        "",
        "| comparison | measured | target | reached |",
        "|---|---|---|---|",
    ]
    full = (find(recs, "D1", "ours-iter", "throughput", workers=0, transform="none") or {}).get("params", {})
    n = full.get("dataset_objects")
    for ours, up in PAIRS:
        for w in workers:
            a, b = _v(_d1(recs, ours, "throughput", w)), _v(_d1(recs, up, "throughput", w))
            goal = 1.2 if w == max(workers) and w >= 4 else 1.0
            r = a / b if a and b else None
            L.append(
                _row(
                    f"D1 {LABELS[ours]} / upstream's, {w} workers (images/s)",
                    r,
                    f">= {goal}x",
                    None if r is None else r >= goal,
                )
            )
        for w in workers:
            a, b = _v(_d1(recs, ours, "throughput", w)), _v(_d1(recs, "raw", "throughput", w))
            goal = 0.7 if w >= 4 else 0.9
            r = a / b if a and b else None
            L.append(
                _row(f"D1 {LABELS[ours]} / raw limit, {w} workers", r, f">= {goal}x", None if r is None else r >= goal)
            )
    for ours, up in PAIRS:
        for w in workers:
            a, b = _v(_d1(recs, ours, "client_cpu", w)), _v(_d1(recs, up, "client_cpu", w))
            r = a / b if a and b else None
            L.append(
                _row(
                    f"P1 client CPU per sample, {LABELS[ours]} / upstream's, {w} workers",
                    r,
                    "<= 0.8x",
                    None if r is None else r <= 0.8,
                )
            )
        a, raw = _v(_d1(recs, ours, "client_cpu", 0)), _v(_d1(recs, "raw", "client_cpu", 0))
        if a is not None and raw is not None:
            L.append(
                _row(
                    f"P1 {LABELS[ours]}, 0 workers: ms/sample above the raw loop's",
                    a - raw,
                    "<= 0.10 ms",
                    a - raw <= 0.1,
                    "{:.2f} ms",
                )
            )
    w = max(workers) if workers else 0
    for ours, up in PAIRS:
        a = _v(find(recs, "D1", ours, "epoch_fixed_cpu_per_worker", workers=w))
        b = _v(find(recs, "D1", up, "epoch_fixed_cpu_per_worker", workers=w))
        if a is not None and b is not None:
            L.append(
                _row(
                    f"CPU per epoch per worker before per-sample work, {LABELS[ours]} ({w} workers; "
                    f"upstream {b:.3f} s)",
                    a,
                    "<= upstream's",
                    a <= b,
                    "{:.3f} s",
                )
            )
        a = _v(_d1(recs, ours, "first_batch", w, dataset_objects=n))
        b = _v(_d1(recs, up, "first_batch", w, dataset_objects=n))
        if a is not None and b is not None:
            L.append(
                _row(
                    f"Time to first batch, {LABELS[ours]} ({w} workers, {n:,} objects; upstream {b:.2f} s)",
                    a,
                    "<= upstream's",
                    a <= b,
                    "{:.2f} s",
                )
            )
    fb = find(recs, "L1", "ours-first-batch", "first_batch")
    sq = find(recs, "L1", "sequential", "time")
    if fb and sq:
        up = find(recs, "L1", "upstream-first-batch", "first_batch")
        upstream = f"; upstream {up['value']:.2f} s" if up else ""
        L.append(
            _row(
                f"Time to first batch, {fb['params']['keys']:,} keys, 8 workers (listing them takes "
                f"{sq['value']:.1f} s{upstream})",
                fb["value"],
                "<= listing + 1 s",
                fb["value"] <= sq["value"] + 1.0,
                "{:.2f} s",
            )
        )
    for op in ("save", "load"):
        a, b = _v(find(recs, "C1", "ours", "throughput", op=op)), _v(find(recs, "C1", "upstream", "throughput", op=op))
        r = a / b if a and b else None
        L.append(_row(f"C1 {op} GB/s / upstream's", r, ">= 1.3x", None if r is None else r >= 1.3))
        c = _v(find(recs, "C1", "ours", "client_cpu", op=op))
        L.append(_row(f"C1 {op} client CPU", c, "<= 2.0 s/GB", None if c is None else c <= 2.0, "{:.2f} s/GB"))
    within = [x for x in recs if x["scenario"] == "M1" and x["params"].get("bound_mib") is not None]
    if within:
        worst = max(within, key=lambda x: (x["max"] or 0) / x["params"]["bound_mib"])
        L.append(
            _row(
                f"M1 peak / bound, worst case ({worst['params'].get('during')} {worst['system']}; "
                f"{worst['max']:.0f} of {worst['params']['bound_mib']:.0f} MiB)",
                (worst["max"] or 0) / worst["params"]["bound_mib"],
                "<= 1.00x",
                all((x["max"] or 0) <= x["params"]["bound_mib"] for x in within),
            )
        )
    fl, sq = _v(find(recs, "L1", "fastlist", "throughput")), _v(find(recs, "L1", "sequential", "throughput"))
    r = fl / sq if fl and sq else None
    L.append(_row("L1 FastList / sequential pages", r, ">= 8x", None if r is None else r >= 8))
    c = _v(find(recs, "L1", "fastlist", "client_cpu"))
    L.append(_row("L1 FastList client CPU per key", c, "<= 5 us", None if c is None else c <= 5, "{:.2f} us"))
    m, mu = find(recs, "L1", "ours-map", "parent_rss_growth"), find(recs, "L1", "upstream-map", "parent_rss_growth")
    if m:
        L.append(
            _row(
                f"L1 OssMapDataset over {m['params']['keys']:,} keys: parent memory"
                + (f" (upstream {mu['value']:.0f} MiB)" if mu else ""),
                m["value"],
                "<= 64 MiB",
                m["value"] <= 64,
                "{:.0f} MiB",
            )
        )
    t, tu = find(recs, "L1", "ours-map", "time"), find(recs, "L1", "upstream-map", "time")
    if t and tu:
        L.append(
            _row(
                f"L1 OssMapDataset construction time / upstream's ({t['value']:.2f} s vs {tu['value']:.2f} s)",
                t["value"] / tu["value"],
                "<= 1.00x",
                t["value"] <= tu["value"],
            )
        )
    L.append("")
    return L


def p1_tables(recs: List[Dict[str, Any]], workers: List[int]) -> List[str]:
    """P1 and the per-epoch costs, from D1's runs without a transform."""
    if not any(_d1(recs, s, "client_cpu", w) for s in P1_SYSTEMS for w in workers):
        return []
    L = [
        "### P1: client CPU per sample (ms, D1 without transform)",
        "",
        "The CPU of the process and its DataLoader workers (reaped), from the DataLoader iterator's creation to "
        "the epoch's end, over the images delivered; the raw limit is the Go GET loop with no Python at the same "
        "requests in flight.",
        "",
        "| system | " + " | ".join(f"{w} workers" for w in workers) + " |",
        "|---|" + "---|" * len(workers),
    ]
    for s in P1_SYSTEMS:
        L.append(f"| {LABELS[s]} | " + " | ".join(fmt_val(_d1(recs, s, "client_cpu", w), 2) for w in workers) + " |")
    L.append("")
    w = max(workers) if workers else 0
    rows = []
    for s in P1_SYSTEMS[1:]:
        fixed = find(recs, "D1", s, "epoch_fixed_cpu_per_worker", workers=w)
        if not fixed:
            continue
        per = find(recs, "D1", s, "fitted_cpu_per_sample", workers=w)
        short_n, full_n = fixed["params"]["short_objects"], fixed["params"]["dataset_objects"]
        fb_full = _d1(recs, s, "first_batch", w, dataset_objects=full_n)
        fb_short = _d1(recs, s, "first_batch", w, dataset_objects=short_n)
        priv = _d1(recs, s, "worker_private", w)
        rows.append(
            f"| {LABELS[s]} | {fmt_val(fixed, 3)} | {fmt_val(per, 2)} | {fmt_val(fb_short, 2)} | "
            f"{fmt_val(fb_full, 2)} | {fmt_val(priv)} |"
        )
    if rows:
        L += [
            f"Per epoch at {w} workers: the line through client CPU against images for a {short_n:,}-image and "
            f"the {full_n:,}-image epoch (each repeat pair gives one fit) splits an epoch's CPU into a fixed part "
            "(worker start-up, listing, hand-over, shutdown; shown per worker) and a per-image part. Time to "
            "first batch counts from the iterator's creation; worker private memory is each worker's "
            "Private_Dirty when the last batch arrived (mean over workers).",
            "",
            "| system | fixed CPU per worker (s) | CPU per image (ms) | first batch, short epoch (s) | "
            "first batch, full epoch (s) | worker private MiB, full epoch |",
            "|---|---|---|---|---|---|",
        ]
        L += rows
        L.append("")
    return L


def listing_scale_table(recs: List[Dict[str, Any]]) -> List[str]:
    """Ours and upstream's map dataset over the L1 keys."""
    rows = []
    keys = None
    for who in ("ours", "upstream"):
        t = find(recs, "L1", f"{who}-map", "time")
        if not t:
            continue
        keys = t["params"]["keys"]
        rows.append(
            f"| {'ours' if who == 'ours' else 'upstream 1.2.3'} | {fmt_val(t, 2)} | "
            f"{fmt_val(find(recs, 'L1', f'{who}-map', 'client_cpu'), 2)} | "
            f"{fmt_val(find(recs, 'L1', f'{who}-map', 'parent_rss_growth'))} | "
            f"{fmt_val(find(recs, 'L1', f'{who}-map', 'parent_bytes_per_key'))} | "
            f"{fmt_val(find(recs, 'L1', f'{who}-first-batch', 'first_batch'), 2)} | "
            f"{fmt_val(find(recs, 'L1', f'{who}-epoch', 'worker_private'))} | "
            f"{fmt_val(find(recs, 'L1', f'{who}-epoch', 'time'), 1)} |"
        )
    if not rows:
        return []
    return (
        [
            f"OssMapDataset / OssIterableDataset over the same {keys:,} keys: construction of the map dataset "
            "(network off, so the server's speed), the parent's RSS growth; the iterable dataset's first batch "
            "with 8 workers (network on, the listing included); each of 2 workers' private memory when a full "
            "epoch of the map dataset (every object read, batches of 256) has been delivered.",
            "",
            "| system | map construction (s) | client CPU (us/key) | parent MiB | parent B/key | "
            "first batch, 8 workers (s) | worker private MiB after the epoch | epoch (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        + rows
        + [""]
    )
