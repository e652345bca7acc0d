"""The report's F1 part (report.py calls it): our fsspec filesystem against
ossfs (issue #17) — the target as one table, then the rows it comes from."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from report import _times, find, fmt_ratio, fmt_val, ratio, ratio_record

LABELS = {
    "ours": "ours: `osstorchconnector.fsspec` (`oss://`)",
    "ossfs": "ossfs `OSSFileSystem` (fsspec's built-in `oss`)",
    "ossfs-async": "ossfs `AioOSSFileSystem`",
}
TARGET_SMALL = 3.0  # issue #17's target for small files (ours over ossfs)


def _r(recs, system, case, metric) -> Optional[Dict[str, Any]]:
    return find(recs, "F1", system, metric, case=case)


def ratio_records(recs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """F1's ratios as records (unit "x"): ours over each ossfs, per case."""
    out = []
    for case in ("small", "big"):
        for base in ("ossfs", "ossfs-async"):
            r = ratio(_r(recs, "ours", case, "throughput"), _r(recs, base, case, "throughput"))
            if r is not None:
                out.append(ratio_record("F1", "ours", f"ratio_vs_{base.replace('-', '_')}", {"case": case}, r))
    return out


def section(recs: List[Dict[str, Any]]) -> List[str]:
    """The F1 section of latest.md; nothing when the run has no F1 records."""
    if not any(x["scenario"] == "F1" for x in recs):
        return []
    small = _r(recs, "ours", "small", "throughput") or _r(recs, "ossfs", "small", "throughput") or {}
    big = _r(recs, "ours", "big", "throughput") or _r(recs, "ossfs", "big", "throughput") or {}
    ps, pb = small.get("params", {}), big.get("params", {})
    L = ["### F1: fsspec, ours and ossfs (issue #17)", ""]
    r = ratio(_r(recs, "ours", "small", "throughput"), _r(recs, "ossfs", "small", "throughput"))
    L += [
        "| comparison | measured | target | reached |",
        "|---|---|---|---|",
        f"| F1 `cat` of {ps.get('objects', '?'):,} small objects: ours / ossfs (objects/s) | {fmt_ratio(r)} | "
        f">= {TARGET_SMALL:.0f}x | {'n/a' if r is None else ('yes' if r[0] >= TARGET_SMALL else '**no**')} |",
        "",
        f"Both filesystems read from the same local server with the emulated network on (as D1), each in a fresh "
        f"process, with its defaults; the systems alternate within each repeat ({_times(small.get('n'))}; "
        f"ossfs's sequential small-file case {_times((_r(recs, 'ossfs', 'small', 'throughput') or {}).get('n'))}), "
        "medians with the spread in parentheses. **Small**: one `fs.cat(paths)` of "
        f"{ps.get('objects', 0):,} objects of {ps.get('object_bytes', 0) / 1000:.0f} KB, the paths given (no "
        "listing): ours fetches them as one batch of concurrent GETs; ossfs's `OSSFileSystem` (oss2) one after "
        "another; its asyncio `AioOSSFileSystem` concurrently. **Big**: `fs.open(path, 'rb')` of one "
        f"{pb.get('object_bytes', 0) / 2**30:.2f} GiB object and `read(8 MiB)` until the end: ours through the "
        "core's reader (parallel ranged GETs, read-ahead), ossfs through fsspec's read-ahead cache of 5 MB blocks. "
        "Client CPU: the measuring process (all its threads); server CPU: the emulated OSS on the same cores.",
        "",
        "| system | small: objects/s | small: MB/s | small: client CPU ms/object | big: MB/s | big: client CPU s/GB |",
        "|---|---|---|---|---|---|",
    ]
    for s in ("ours", "ossfs", "ossfs-async"):
        t = _r(recs, s, "small", "throughput")
        b = _r(recs, s, "big", "throughput")
        if not t and not b:
            continue
        mbs = "n/a"
        if t and t.get("value"):
            mbs = f"{t['value'] * t['params']['object_bytes'] / 1e6:,.0f}"
        cells = [fmt_val(t), mbs, fmt_val(_r(recs, s, "small", "client_cpu"), 2) if t else "-"]
        cells += [fmt_val(b) if b else "-", fmt_val(_r(recs, s, "big", "client_cpu"), 2) if b else "-"]
        L.append(f"| {LABELS[s]} | " + " | ".join(cells) + " |")
    L.append("")
    parts = []
    for case, what in (("small", "small objects"), ("big", "big object")):
        for base in ("ossfs", "ossfs-async"):
            r = ratio(_r(recs, "ours", case, "throughput"), _r(recs, base, case, "throughput"))
            if r:
                parts.append(f"{what}, ours / {base}: {fmt_ratio(r)}")
    if parts:
        L.append("Ratios: " + "; ".join(parts) + ".")
        L.append("")
    return L
