"""The measurement host: imports torch once, then runs each measurement it
is sent in a fresh fork of itself.

Importing torch costs 5-10 s of CPU on the 2-core machine; a fresh
interpreter per measurement would spend more time there than measuring.
A fork of a process that has imported torch but never loaded a connector,
started a thread or touched the network is as clean as a new process: its
own Go runtime or upstream engine, its own DataLoader workers, memory
counted from its own start.

Protocol: one JSON request per stdin line, {"scenario": "d1"|"c1"|"l1"|"r1"|"f1",
"env": {...}, "args": {...}, "timeout": s}; one JSON reply per line on
stdout: the measurement's result, or {"error": ..., "detail": ...}.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import time
import traceback

# Preloaded for every fork; the connectors are not: they load in the fork.
import numpy  # noqa: F401
import torch  # noqa: F401
import torch.utils.data  # noqa: F401
from PIL import Image  # noqa: F401

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import imaging  # noqa: E402,F401

for optional in ("oss2", "alibabacloud_oss_v2"):  # only in our virtualenv
    try:
        __import__(optional)
    except ImportError:
        pass


def _case(scenario: str, args: dict) -> dict:
    if scenario == "d1":
        import d1_run

        return d1_run.run_case(**args)
    if scenario == "c1":
        import c1_run

        return c1_run.run_case(**args)
    if scenario == "l1":
        import l1_run

        return l1_run.run_case(**args)
    if scenario == "r1":
        import r1_run

        return r1_run.run_case(**args)
    if scenario == "f1":
        import f1_run

        return f1_run.run_case(**args)
    raise ValueError(f"unknown scenario {scenario!r}")


_current = 0  # the measurement running now (its process group)


def _on_term(signum, frame) -> None:
    """Stopped by the runner: take the measurement and its DataLoader
    workers down too (they are in their own process group)."""
    if _current:
        _kill_group(_current)
    os._exit(128 + signum)


def _run_forked(req: dict) -> dict:
    global _current
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the measurement
        code = 0
        try:
            os.close(r)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.setpgid(0, 0)  # its own group: a timeout kills it with its DataLoader workers
            os.dup2(2, 1)  # whatever it prints goes to stderr, not into the replies
            os.environ.update(req.get("env", {}))
            try:
                res = _case(req["scenario"], req.get("args", {}))
            except BaseException as e:
                res = {"error": f"{type(e).__name__}: {e}", "detail": traceback.format_exc()[-3000:]}
                code = 1
            with os.fdopen(w, "w") as f:
                f.write(json.dumps(res))
        finally:
            os._exit(code)
    os.close(w)
    _current = pid
    deadline = time.monotonic() + float(req.get("timeout", 900))
    chunks = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            _kill_group(pid)
            os.close(r)
            os.waitpid(pid, 0)
            return {"error": f"timed out after {req.get('timeout', 900)} s"}
        ready, _, _ = select.select([r], [], [], min(left, 1.0))
        if ready:
            b = os.read(r, 1 << 20)
            if not b:
                break
            chunks.append(b)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    _kill_group(pid)  # stray DataLoader workers, if any
    _current = 0
    raw = b"".join(chunks)
    if not raw:
        return {"error": f"measurement process died (wait status {status})"}
    return json.loads(raw)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def main() -> None:
    signal.signal(signal.SIGTERM, _on_term)
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    out.write(json.dumps({"ready": True, "pid": os.getpid()}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            res = _run_forked(json.loads(line))
        except Exception as e:
            res = {"error": f"{type(e).__name__}: {e}", "detail": traceback.format_exc()[-3000:]}
        out.write(json.dumps(res) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
