"""The report's R1 part (report.py calls it): the node-local cache, shuffle,
mid-epoch resume and listing with several ranks (issue #16) — the targets
as one table, then the rows they come from."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from report import _times, find, fmt_ratio, fmt_val, ratio, ratio_record

LABELS = {
    "oss": "from OSS, no cache",
    "cache-epoch1": "with cache, epoch 1 (cold: empty cache)",
    "cache-epoch2": "with cache, epoch 2 (warm)",
    "local-plain": "local files: plain torch IterableDataset, open()",
    "local-ours": "local files: ours, local-directory mode (endpoint='')",
    "oss-shuffle": "from OSS, no cache, shuffle=True, seed=1",
}
# (system, baseline, ratio metric): each a ratio of throughputs of the same run
RATIOS = (
    ("cache-epoch2", "local-plain", "ratio_vs_local_plain"),
    ("cache-epoch2", "local-ours", "ratio_vs_local_ours"),
    ("cache-epoch2", "oss", "ratio_vs_no_cache"),
    ("cache-epoch1", "oss", "ratio_vs_no_cache"),
    ("oss-shuffle", "oss", "ratio_vs_no_shuffle"),
)


def _r(recs, system, metric, **kw) -> Optional[Dict[str, Any]]:
    return find(recs, "R1", system, metric, **kw)


def ratio_records(recs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """R1's ratios as records (unit "x"), as report.ratio_records makes the others'."""
    out = []

    def add(system, metric, params, r: Optional[Tuple[float, float, float]]):
        if r is not None:
            out.append(ratio_record("R1", system, metric, params, r))

    for system, base, metric in RATIOS:
        add(system, metric, {"baseline": base}, ratio(_r(recs, system, "throughput"), _r(recs, base, "throughput")))
    many = [x for x in recs if x["scenario"] == "R1" and x["metric"] == "list_requests" and x["system"] != "ranks-1"]
    one = _r(recs, "ranks-1", "list_requests")
    for x in many:
        if x["system"].startswith("ranks-"):
            add(x["system"], "list_requests_vs_one_listing", {"ranks": x["params"]["ranks"]}, ratio(x, one))
    return out


def section(recs: List[Dict[str, Any]]) -> List[str]:
    """The R1 section of latest.md; nothing when the run has no R1 records."""
    if not any(x["scenario"] == "R1" for x in recs):
        return []
    L = ["### R1: cache, shuffle, resume (issue #16)", ""]
    base = _r(recs, "oss", "throughput")
    p = (base or _r(recs, "cache-epoch2", "throughput") or {}).get("params", {})
    n, kb, w = p.get("dataset_objects"), p.get("object_kb"), p.get("workers")
    L += _targets(recs, w)
    pairs = (_r(recs, "oss-shuffle", "throughput") or {}).get("n")
    others = (_r(recs, "cache-epoch2", "throughput") or _r(recs, "local-plain", "throughput") or {}).get("n")
    if p:
        L += [
            f"**Cache and shuffle.** `OssIterableDataset.from_prefix` over {n:,} JPEGs of ~{kb} KB (D1's images), "
            f"{w} DataLoader workers, batch {p.get('batch_size')}, no transform (each sample is `obj.read()`), "
            "emulated network on (as D1); rates count from the DataLoader iterator's creation, worker start-up and "
            "the epoch's listing included. The cache runs two epochs in one process with `cache_path=` an empty "
            "directory and `cache_bytes=` far above the dataset: epoch 1 fills it, epoch 2 reads it; the request "
            "counts are the server's for each epoch. The local-files baseline of the target is the fastest thing a "
            "user would write for a directory of files: a plain torch `IterableDataset` that lists the directory "
            f"each epoch and gives each of the {w} workers every {w}th file, read with `open()`, no connector in "
            "the way; our local-directory mode (`from_prefix('/abs/dir/', endpoint='')`, upstream's way of "
            "reading local files) is shown beside it. The files, like the cache's, were just written, so both are "
            "read from the page cache. Shuffle on and off alternate within each pair of runs "
            f"({_times(pairs)}; the cache and the local files {_times(others)}), medians with the spread in "
            "parentheses. Client CPU: the process and its workers (reaped) over the images delivered; server CPU: "
            "the emulated OSS on the same cores.",
            "",
            "| system | images/s | client CPU ms/image | server CPU ms/image | first batch (s) | GetObject | "
            "HeadObject | ListObjectsV2 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for s in ("oss", "cache-epoch1", "cache-epoch2", "local-plain", "local-ours", "oss-shuffle"):
            t = _r(recs, s, "throughput")
            if not t:
                continue
            cells = [fmt_val(t), fmt_val(_r(recs, s, "client_cpu"), 2)]
            cells.append(fmt_val(_r(recs, s, "server_cpu"), 2) if _r(recs, s, "server_cpu") else "-")
            cells.append(fmt_val(_r(recs, s, "first_batch"), 2))
            for m in ("get_requests", "head_requests", "list_requests"):
                cells.append(fmt_val(_r(recs, s, m)) if _r(recs, s, m) else "-")
            L.append(f"| {LABELS[s]} | " + " | ".join(cells) + " |")
        L.append("")
        parts = []
        for s, b, _ in RATIOS:
            r = ratio(_r(recs, s, "throughput"), _r(recs, b, "throughput"))
            if r:
                parts.append(f"{LABELS[s]} / {LABELS[b]}: {fmt_ratio(r)}")
        if parts:
            L.append("Ratios (images/s): " + "; ".join(parts) + ".")
            L.append("")
        disk = _r(recs, "cache-epoch2", "cache_on_disk")
        if disk:
            L.append(f"The cache held {fmt_val(disk)} MiB after epoch 2 (headers included).")
            L.append("")
    L += _resume(recs)
    L += _ranks(recs)
    return L


def _targets(recs: List[Dict[str, Any]], w: Any) -> List[str]:
    def row(what, measured, target, ok):
        return f"| {what} | {measured} | {target} | {'n/a' if ok is None else ('yes' if ok else '**no**')} |"

    L = ["| comparison | measured | target | reached |", "|---|---|---|---|"]
    r = ratio(_r(recs, "cache-epoch2", "throughput"), _r(recs, "local-plain", "throughput"))
    L.append(
        row(
            f"R1 epoch 2 with cache / local files (images/s, {w} workers; local files: plain torch "
            "IterableDataset with open())",
            fmt_ratio(r),
            ">= 0.9x",
            None if r is None else r[0] >= 0.9,
        )
    )
    g = _r(recs, "cache-epoch2", "get_requests")
    L.append(
        row(
            "R1 GetObject requests in epoch 2 with cache (most in any repeat)",
            "n/a" if not g else f"**{g['max']:,.0f}**",
            "0",
            None if not g else g["max"] == 0,
        )
    )
    r = ratio(_r(recs, "oss-shuffle", "throughput"), _r(recs, "oss", "throughput"))
    L.append(
        row(
            f"R1 shuffle on / off (images/s, {w} workers)",
            fmt_ratio(r),
            ">= 0.95x",
            None if r is None else r[0] >= 0.95,
        )
    )
    many = max(
        (
            x
            for x in recs
            if x["scenario"] == "R1"
            and x["metric"] == "list_requests"
            and x["system"] != "ranks-1"
            and x["system"].startswith("ranks-")
            and not x["system"].endswith("-each-lists")
        ),
        key=lambda x: x["params"]["ranks"],
        default=None,
    )
    one = _r(recs, "ranks-1", "list_requests")
    if many and one and one.get("value"):
        k = many["params"]["ranks"]
        v = many["value"] / one["value"]
        L.append(
            row(
                f"R1 ListObjectsV2 requests per epoch with {k} ranks / one listing's "
                f"({many['value']:,.0f} vs {one['value']:,.0f}, {many['params']['keys']:,} keys)",
                f"**{v:.2f}x**",
                "1.00x",
                v <= 1.0,
            )
        )
    L.append("")
    return L


def _resume(recs: List[Dict[str, Any]]) -> List[str]:
    rows = []
    p: Dict[str, Any] = {}
    runs = None
    for listing in ("fastlist", "sequential"):
        s = f"resume-{listing}"
        res, lst = _r(recs, s, "resume_first_batch"), _r(recs, s, "listing")
        if not res and not lst:
            continue
        p = (res or lst)["params"]
        beyond = f"{res['value'] - lst['value']:+.2f}" if res and lst else "n/a"
        if listing == "fastlist" and res:
            runs = res.get("n")
        lr = _r(recs, s, "resume_list_requests")
        fresh = _r(recs, s, "fresh_first_batch")
        rows.append(
            f"| {p.get('listing')} | {fmt_val(res, 2)} | {fmt_val(lst, 2)} | {beyond} | "
            f"{fmt_val(lr) if lr else '-'} | {fmt_val(fresh, 2) if fresh else '-'} |"
        )
    if not rows:
        return []
    return [
        f"**Resume.** torchdata's `StatefulDataLoader` over `from_prefix` of {p['keys']:,} keys of "
        f"{p.get('object_bytes', '?')} bytes, "
        f"{p['workers']} workers, batch {p['batch_size']}, emulated network on (L1's setting): "
        f"{p['batches_before_save']} batches, `loader.state_dict()` saved with `torch.save`; in a fresh process a "
        "new loader, `load_state_dict()` of it, and the time from `load_state_dict` to the first batch. A resumed "
        "epoch lists the prefix again (the whole listing, before anything is fetched) to find what is left, so "
        "beside it is the listing alone (an `OssMapDataset` built with the same config, timed after a warm-up, as "
        "L1 times it), and the first batch of the fresh epoch before the save (the listing streams, so it does "
        "not wait for all of it; with FastList the pages come at the end). With FastList: "
        f"{_times(runs)}; with sequential pages: once, from the same saved state.",
        "",
        "| listing | resume: load_state_dict to first batch (s) | listing alone (s) | beyond the listing (s) | "
        "list requests until the first batch | fresh epoch's first batch (s) |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _ranks(recs: List[Dict[str, Any]]) -> List[str]:
    rows = []
    keys = size = None
    for x in sorted(
        (
            x
            for x in recs
            if x["scenario"] == "R1" and x["system"].startswith("ranks-") and x["metric"] == "list_requests"
        ),
        key=lambda x: (x["params"]["ranks"], x["system"]),
    ):
        s, keys, size = x["system"], x["params"]["keys"], x["params"].get("object_bytes", "?")
        how = "each rank lists" if s.endswith("-each-lists") else ("one process" if s == "ranks-1" else "one listing")
        rows.append(
            f"| {x['params']['ranks']} x {x['params']['workers_per_rank']} workers, {how} | {fmt_val(x)} | "
            f"{fmt_val(_r(recs, s, 'get_requests'))} | {fmt_val(_r(recs, s, 'time'), 1)} |"
        )
    if not rows:
        return []
    return [
        "**Listing with several ranks.** Processes as distributed ranks (`RANK` / `WORLD_SIZE` set, a gloo "
        "process group as DDP has, `shard_by_rank=True`), each with its own DataLoader, start one epoch together "
        f"over a prefix of {keys:,} keys of {size} bytes (emulated network on); the server counts the requests. "
        f"One listing is {-(-keys // 1000):,} pages of 1,000 keys (the 1-process row is what one listing takes). "
        "'one listing': the ranks share one listing through the process group's store (the default); "
        "'each rank lists': the same with `OSSTORCH_JOB_LISTING=0`, the baseline.",
        "",
        "| processes | ListObjectsV2 | GetObject | epoch (s) |",
        "|---|---|---|---|",
        *rows,
        "",
    ]
