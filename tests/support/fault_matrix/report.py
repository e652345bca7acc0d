"""Verdicts (what is wrong with a case) and the markdown table."""

from __future__ import annotations

from typing import List

from .cases import FAULTS
from .cases.worker_kill import FAULT as F_KILL
from .runner import Result
from .settings import CKPT_MIB, FULL, MAX_SIZE, N_OBJECTS, REPS


def verdict(res: Result) -> List[str]:
    """What is wrong with a case (empty: it meets the issue's expectations)."""
    out: List[str] = []
    c = res.case
    if res.hangs:
        out.append(f"hang (no end within {c.bound_s:.0f} s)")
    if res.crashes:
        out.append(f"crash: {res.crash_detail}")
    if len(res.runs) < c.reps and not (res.hangs or res.crashes):
        out.append(f"ran {len(res.runs)} of {c.reps} times")
    for r in res.runs:
        if r.get("hang") or r.get("crash"):
            continue
        out += r["violations"]
        if r["corrupt"]:
            out.append(f"{r['corrupt']} corrupt samples accepted")
        if r["partial"]:
            out.append(f"{r['partial']} partial objects visible")
        if r["dup"]:
            out.append(f"{r['dup']} samples delivered twice")
        if r["unclear"]:
            out.append(f"unclear errors: {r['unclear']}")
        if r["worker_signals"] and c.fault != F_KILL:
            out.append("a DataLoader worker crashed")
        if c.expect == "all" and (r["delivered"] != r["samples"] or r["errors"]):
            out.append(
                f"want all {r['samples']} delivered without error, got {r['delivered']} and "
                f"{r['errors']} errors ({r['first_error']})"
            )
        if c.expect in ("each", "all") and r["lost"]:
            out.append(f"{r['lost']} samples neither delivered nor reported, e.g. {r['lost_names']}")
        if c.expect == "raise" and (r["errors"] < 1 or r["delivered"]):
            out.append("want a clear error")
    return list(dict.fromkeys(out))


def _sum(res: Result, key: str) -> int:
    return sum(r.get(key, 0) for r in res.runs if not (r.get("hang") or r.get("crash")))


EXPECT_WORDS = {"all": "all delivered", "each": "delivered or per-sample error", "raise": "clear error"}


def table(results: List[Result]) -> str:
    """The markdown table: one row per case, then one per fault, then the known bugs."""
    mode = "full" if FULL else "CI-bounded"
    shown = [r for r in results if r.case.fault in FAULTS]
    known = list(dict.fromkeys(r.case.known for r in shown if r.case.known and verdict(r)))
    tag = {k: f"K{i + 1}" for i, k in enumerate(known)}
    lines = [
        f"### Fault matrix ({mode}: {N_OBJECTS} objects of 2 KiB-{MAX_SIZE >> 10} KiB, "
        f"{CKPT_MIB} MiB checkpoints, {REPS} run(s) per case)",
        "",
        "| fault | surface | expected | runs | samples | delivered | errors surfaced | corrupt accepted "
        "| partial visible | lost / dup | hangs | crashes | s | result | notes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for res in shown:
        v = verdict(res)
        runs = [r for r in res.runs if not (r.get("hang") or r.get("crash"))]
        notes = sorted({n for r in runs for n in r["notes"]})
        if runs and runs[0]["first_error"]:
            notes.append(runs[0]["first_error"])
        if res.case.known and v:
            result = f"KNOWN {tag[res.case.known]}"
        else:
            result = "FAIL" if v else "ok"
        if v:
            notes = v[:2] + notes
        lines.append(
            "| "
            + " | ".join(
                [
                    res.case.fault,
                    res.case.surface,
                    EXPECT_WORDS[res.case.expect],
                    str(len(res.runs)),
                    str(_sum(res, "samples")),
                    str(_sum(res, "delivered")),
                    str(_sum(res, "errors")),
                    str(_sum(res, "corrupt")),
                    str(_sum(res, "partial")),
                    f"{_sum(res, 'lost')} / {_sum(res, 'dup')}",
                    str(res.hangs),
                    str(res.crashes),
                    f"{sum(r.get('seconds', 0) for r in res.runs):.1f}",
                    result,
                    _md("; ".join(notes))[:240],
                ]
            )
            + " |"
        )
    lines += [
        "",
        "| fault | cases | samples | delivered | errors surfaced | corrupt accepted | partial visible | hangs "
        "| crashes | result |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for fault in FAULTS:
        rs = [r for r in shown if r.case.fault == fault]
        if not rs:
            continue
        bad = [r for r in rs if verdict(r)]
        if not bad:
            result = "ok"
        elif all(r.case.known for r in bad):
            result = "known " + ", ".join(sorted({tag[r.case.known] for r in bad}))
        else:
            result = "FAIL"
        lines.append(
            "| "
            + " | ".join(
                [
                    fault,
                    str(sum(len(r.runs) for r in rs)),
                    *(
                        str(sum(_sum(r, k) for r in rs))
                        for k in ("samples", "delivered", "errors", "corrupt", "partial")
                    ),
                    str(sum(r.hangs for r in rs)),
                    str(sum(r.crashes for r in rs)),
                    result,
                ]
            )
            + " |"
        )
    if known:
        lines += ["", "Known bugs and limits (the test xfails on exactly these; anything else fails it):"]
        lines += [f"- **{tag[k]}**: {k}" for k in known]
    return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")
