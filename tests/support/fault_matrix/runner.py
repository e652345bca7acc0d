"""The one runner: every case runs in a runner process forked from the test
process; the parent hands out the cases, bounds each one (a hang), notices a
runner that dies (a crash) and starts a new runner for the rest."""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import json
import logging
import multiprocessing
import os
import signal
import sys
import time
import traceback
from typing import Any, Callable, Dict, List, Optional

from .case import Case
from .context import Ctx
from .tally import TEXTS, Tally


def _runner_main(cases: List[Case], conn, art: str, n: int) -> None:
    """Run the cases the parent hands out, one at a time, until it sends None."""
    os.setsid()  # own process group: the parent can kill the runner with its servers and workers
    # torch's OpenMP pool is not fork-safe: when the parent process ran a
    # parallel op (earlier tests in the same pytest run do), the first parallel
    # op in the forked runner (torch.equal on a checkpoint) waits forever for
    # threads that were not forked. One intra-op thread, as DataLoader workers do.
    import torch

    torch.set_num_threads(1)
    out = os.open(os.path.join(art, f"runner-{n}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    logging.basicConfig(
        level=logging.DEBUG,
        stream=sys.stderr,
        force=True,
        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s",
    )
    faulthandler.enable(file=sys.stderr)
    while True:
        conn.send(("ready",))
        i = conn.recv()
        if i is None:
            break
        case = cases[i]
        for rep in range(case.reps):
            conn.send(("start", i, rep))
            print(f"==== case {case.id} rep {rep}", flush=True)
            # if the parent has to kill us for a hang, the stacks of every thread are in the log
            faulthandler.dump_traceback_later(max(5, case.bound_s - 5), exit=False, file=sys.stderr)
            tally, ctx = Tally(), Ctx(art, case, rep)
            t0 = time.monotonic()
            try:
                case.fn(ctx, tally)
            except Exception as e:  # the harness itself failed: a violation, with the traceback
                tally.violate(f"harness: {type(e).__name__}: {e}")
                TEXTS.append(traceback.format_exc())
                traceback.print_exc()
            finally:
                faulthandler.cancel_dump_traceback_later()
                ctx.close()
            res = tally.summary()
            res["seconds"] = time.monotonic() - t0
            texts = list(TEXTS)
            TEXTS.clear()
            conn.send(("end", i, rep, res, texts))
    conn.close()


@dataclasses.dataclass
class Result:
    case: Case
    runs: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    hangs: int = 0
    crashes: int = 0
    crash_detail: str = ""


PARALLEL = int(os.environ.get("OSSTORCH_FAULTS_PARALLEL", "2"))  # runners at once: cases mostly wait (backoff, stalls)


class _Slot:
    """One runner process and what it is doing."""

    def __init__(self, proc, conn) -> None:
        self.proc, self.conn = proc, conn
        self.assigned: Optional[int] = None  # the case handed to it
        self.current: Optional[tuple] = None  # (case, rep) running now
        self.deadline = time.monotonic() + 300  # until it asks for work (forking, first imports)


def _log(msg: str) -> None:
    print(msg, flush=True)  # progress as it happens, also when stdout is a file


def run_matrix(cases: List[Case], art: str, log: Callable[[str], None] = _log) -> List[Result]:
    """Run every case (its reps) in PARALLEL runner processes that take the
    next case when they are free; returns per-case results."""
    for d in ("logs", "ossemu", "work"):
        os.makedirs(os.path.join(art, d), exist_ok=True)
    results = [Result(c) for c in cases]
    texts_path = os.path.join(art, "texts.jsonl")
    mp = multiprocessing.get_context("fork")
    from multiprocessing.connection import wait as mp_wait

    queue = sorted(range(len(cases)), key=lambda i: -cases[i].bound_s * cases[i].reps)  # the slow ones first
    started = [0]

    def start() -> _Slot:
        parent, child = mp.Pipe()
        proc = mp.Process(target=_runner_main, args=(cases, child, art, started[0]), daemon=False)
        started[0] += 1
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def blame(s: _Slot, what: str, detail: str) -> None:
        """The runner died or hung: charge the case it had."""
        i = s.current[0] if s.current else s.assigned
        if i is None:
            return
        res = results[i]
        if what == "hang":
            res.hangs += 1
            res.runs.append({"hang": True, "seconds": cases[i].bound_s})
        else:
            res.crashes += 1
            res.crash_detail = detail
            res.runs.append({"crash": True, "seconds": 0})
        log(f"{what.upper()}: {cases[i].id} {detail}")

    slots = [start() for _ in range(min(PARALLEL, len(queue)))]
    while slots:
        ready = mp_wait([s.conn for s in slots], timeout=max(0.0, min(s.deadline for s in slots) - time.monotonic()))
        now = time.monotonic()
        for s in list(slots):
            ended = False
            if s.conn in ready:
                try:
                    msg = s.conn.recv()
                except EOFError:  # the runner died (by a signal: a crash of the stack)
                    s.proc.join(10)
                    code = s.proc.exitcode
                    blame(s, "crash", f"runner exit code {code}" + (f" (signal {-code})" if code and code < 0 else ""))
                    ended = True
                else:
                    if msg[0] == "ready":
                        s.assigned = queue.pop(0) if queue else None
                        s.conn.send(s.assigned)
                        s.deadline = now + 300
                        ended = s.assigned is None
                    elif msg[0] == "start":
                        s.current = (msg[1], msg[2])
                        s.deadline = now + cases[msg[1]].bound_s
                    elif msg[0] == "end":
                        _, i, rep, res, texts = msg
                        results[i].runs.append(res)
                        with open(texts_path, "a") as f:
                            for t in texts:
                                f.write(json.dumps({"case": cases[i].id, "text": t}) + "\n")
                        s.current = None
                        s.deadline = now + 120
                        log(f"{cases[i].id} [{rep}]: {_brief(res)}")
            elif now >= s.deadline:  # a hang: kill the runner's group (its servers and DataLoader workers too)
                _kill_group(s.proc)
                blame(s, "hang", f"(no progress within {cases[s.current[0]].bound_s if s.current else 300:.0f} s)")
                ended = True
            if ended:
                s.proc.join(30)
                if s.proc.is_alive():
                    _kill_group(s.proc)
                slots.remove(s)
                if queue:  # a fresh runner for the rest
                    slots.append(start())
    return results


def _kill_group(proc) -> None:
    """Kill the runner with its servers and DataLoader workers. SIGABRT first:
    every Python process of the group (faulthandler is enabled in the runner
    and inherited by forked workers) writes all its threads' stacks to the
    runner log, so a hang can be diagnosed afterwards."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGABRT)
    proc.join(3)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.join(30)


def _brief(res: Dict[str, Any]) -> str:
    return (
        f"{res['delivered']}/{res['samples']} delivered, {res['errors']} errors, {res['corrupt']} corrupt, "
        f"{res['partial']} partial, {res['lost']} lost, {res['dup']} dup, {res['seconds']:.1f} s"
        + (f"; VIOLATIONS {res['violations']}" if res["violations"] else "")
        + (f"; unclear {res['unclear']}" if res["unclear"] else "")
    )
