#!/usr/bin/env python3
"""The benchmark suite (`make bench`; `make bench BENCH_QUICK=1` for the
quick profile): D1 small objects, C1 checkpoints, L1 listing, R1 cache,
shuffle and resume, F1 fsspec (ours and ossfs), M1 memory, against the local OSS server with realistic
latency. Writes bench/results/latest.json (records), latest.md (tables),
the PNG plots, and — full profile, when it measured D1, C1 or L1 (what
the README shows), or with --readme — the README's Performance section. A
quick run writes to bench/results/quick/ (gitignored) and never touches the
README.

    python scripts/bench/run.py [--quick] [--only d1,c1,l1,r1,f1] [--repeats N] [--no-upstream] [--readme] [--cprofile]

Needs our virtualenv (this interpreter: torch, oss2, alibabacloud-oss-v2,
Pillow, matplotlib; fsspec and ossfs for F1), Go (to build the server and the raw-limit tool) and,
for upstream, .venv-upstream (`make upstream-venv`; created here if
missing: uv and network access the first time). Exits 2 at once when
upstream cannot be had, and 3 (after writing the results) when some
upstream measurement failed; --no-upstream measures without it.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import c1  # noqa: E402
import common  # noqa: E402
import d1  # noqa: E402
import f1  # noqa: E402
import l1  # noqa: E402
import r1  # noqa: E402
import report  # noqa: E402
from common import log  # noqa: E402

SCENARIOS = {"d1": d1, "c1": c1, "l1": l1, "r1": r1, "f1": f1}


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return f"{os.cpu_count()} CPUs ({cpu}), {mem:.0f} GiB, Linux {platform.release()}"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=common.REPO, capture_output=True, text=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=common.REPO, capture_output=True, text=True
        ).stdout.strip()
        return out.stdout.strip() + ("+changes" if dirty else "")
    except OSError:
        return "?"


def keep_previous(out: pathlib.Path, ran: set) -> tuple:
    """The previous results' records of scenarios not in ran (M1 goes with
    the scenario it was measured during), and for each kept scenario the run
    it comes from. Ratios are recomputed from the records: each compares
    systems of one run."""
    try:
        prev = json.loads((out / "latest.json").read_text())
        prev_meta = json.loads((out / "latest.meta.json").read_text())
    except (OSError, ValueError):
        return [], {}
    keep = [
        r
        for r in prev
        if r["unit"] != "x" and (r["params"].get("during") if r["scenario"] == "M1" else r["scenario"]) not in ran
    ]
    origin = {}
    for sc in sorted({r["scenario"] for r in keep if r["scenario"] != "M1"}):
        origin[sc] = prev_meta.get("kept", {}).get(sc) or {
            k: prev_meta.get(k) for k in ("date", "commit", "wall_min", "load_average_before", "load_average_after")
        }
    return keep, origin


def main() -> int:
    ap = argparse.ArgumentParser(description="osstorchconnector benchmark suite")
    ap.add_argument("--quick", action="store_true", help="small data, fewer repeats (about 3 minutes)")
    ap.add_argument(
        "--only",
        default=",".join(SCENARIOS),
        help="comma-separated scenarios (d1, c1, l1, r1, f1); M1 comes with d1 and c1",
    )
    ap.add_argument("--no-upstream", action="store_true", help="skip upstream osstorchconnector")
    ap.add_argument(
        "--readme", action="store_true", help="update README.md (a full-profile run of D1, C1 or L1 always does)"
    )
    ap.add_argument("--cprofile", action="store_true", help="cProfile our D1 runs into bench/results/tmp/profiles")
    ap.add_argument(
        "--repeats",
        type=int,
        default=0,
        help="override every fast case's repeats (the sequential baselines get at most 2)",
    )
    ap.add_argument(
        "--out", default=None, help="results folder (default bench/results, or bench/results/quick with --quick)"
    )
    ap.add_argument(
        "--keep-others",
        action="store_true",
        help="keep the records of the scenarios not run now from the previous results in --out "
        "(the report names the run they come from)",
    )
    a = ap.parse_args()
    common.sigterm_as_exit()
    profile = common.QUICK if a.quick else common.FULL
    if a.repeats > 0:
        import dataclasses

        r = a.repeats
        profile = dataclasses.replace(
            profile, repeats=r, repeats_other=r, slow_repeats=min(r, 2), c1_repeats=r, c1_repeats_other=r, l1_repeats=r
        )
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = set(only) - set(SCENARIOS)
    if unknown:
        ap.error(f"unknown scenario(s) {sorted(unknown)}")
    out = pathlib.Path(a.out or (common.QUICK_RESULTS if a.quick else common.RESULTS))
    tmp_base = common.RESULTS / "tmp"
    tmp_base.mkdir(parents=True, exist_ok=True)
    t_start = time.monotonic()
    notes: list = []
    load_before = os.getloadavg()

    upstream_py = None if a.no_upstream else common.ensure_upstream()
    if not a.no_upstream and not upstream_py:
        log("cannot measure upstream osstorchconnector (see above); --no-upstream runs without it")
        return 2
    for name in ("ours", "upstream"):  # the hosts' logs of the previous run
        (tmp_base / f"host-{name}.log").unlink(missing_ok=True)
    access = common.UpstreamAccess() if upstream_py else None
    hosts = {
        "ours": common.Host(sys.executable, "ours"),
        "upstream": common.Host(upstream_py, "upstream", prefix=access.prefix()) if access else None,
    }
    profile_dir = None
    if a.cprofile:
        profile_dir = tmp_base / "profiles"
        profile_dir.mkdir(parents=True, exist_ok=True)
    recs: list = []
    commit = git_commit()  # the code being measured: commits made while it runs are not in it
    try:
        with common.scratch_dir("run-", str(tmp_base)) as scratch:
            log(f"profile {profile.name}: building the Go tools")
            tools = common.build_go_tools(scratch / "bin")
            for name in only:
                t0 = time.monotonic()
                sub = scratch / name
                sub.mkdir()
                kw = {"profile_dir": profile_dir} if name == "d1" else {}
                recs += SCENARIOS[name].run(profile, tools, sub, hosts, notes, **kw)
                log(f"{name.upper()} done in {(time.monotonic() - t0) / 60:.1f} min")
                # kept until the report is written: a failure there must not lose a long run
                (tmp_base / "records-partial.json").write_text(json.dumps({"records": recs, "notes": notes}))
    finally:
        for h in hosts.values():
            if h is not None:
                h.close()
        if access is not None:
            access.close()
    load_after = os.getloadavg()
    import torch

    meta = {
        "profile": profile.name,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": machine(),
        "commit": commit,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "go": subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True).stdout.strip(),
        "wall_min": (time.monotonic() - t_start) / 60,
        "repeats": profile.repeats,
        "repeats_other": profile.repeats_other,
        "slow_repeats": profile.slow_repeats,
        "c1_repeats": profile.c1_repeats,
        "c1_repeats_other": profile.c1_repeats_other,
        "l1_repeats": profile.l1_repeats,
        "d1_decode_objects": profile.d1_decode_objects,
        "d1_slow_rounds": profile.d1_slow_rounds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "scenarios": only,
        "faults": common.REALISM,
        "upstream_access": None if access is None else access.how,
    }
    if a.keep_others:
        kept, meta["kept"] = keep_previous(out, {s.upper() for s in only})
        recs += kept
    if max(load_before[0], load_after[0]) > 1.5 * (os.cpu_count() or 1):
        notes.append(
            f"the machine was busy (load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, "
            f"{os.cpu_count()} CPUs): figures are noisy"
        )
    # upstream could not be measured: a scenario that compares with it has no
    # upstream record, or some upstream case failed
    upstream_failed = []
    if upstream_py:
        measured = {r["scenario"] for r in recs if r["system"].startswith("upstream")}
        upstream_failed = [
            f"{sc.upper()}: no upstream measurement" for sc in only if sc in ("d1", "c1") and sc.upper() not in measured
        ]
        upstream_failed += [f"{w}: failed" for w in common.FAILURES if " upstream" in w]
    # the README's section shows D1, C1 and L1 (R1 and F1 are in latest.md only): a run of none of them has nothing new for it
    readme_shows = bool(set(only) & {"d1", "c1", "l1"})
    md = report.write(recs, meta, notes, out)
    log(f"wrote {out / 'latest.json'}, {md} and the plots ({meta['wall_min']:.1f} min)")
    if upstream_failed:
        log("upstream could not be measured: " + "; ".join(upstream_failed) + " (README.md left as it was)")
    elif (a.readme or (profile.name == "full" and readme_shows)) and out.resolve() == common.RESULTS.resolve():
        changed = report.update_readme(out)
        log("README.md Performance section " + ("updated" if changed else "unchanged"))
    elif profile.name == "full" and not readme_shows:
        log("README.md left as it was: it shows D1, C1 and L1, none of which this run measured (--readme updates it)")
    print(md.read_text())
    return 3 if upstream_failed else 0


if __name__ == "__main__":
    sys.exit(main())
