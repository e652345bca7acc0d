"""The server killed mid-upload (or restarted), back on the same port and data
directory: the checkpoint is the old or the new one, never a part of one."""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Dict, List

from support.server import answered, stats_when

from ..case import Case
from ..context import Ctx
from ..settings import BOUND_S, BUCKET, CKPT_MIB, FULL
from ..surfaces import checkpoint, ckpt_state, save_with_writer, visible_check
from ..tally import Tally

FAULT = "server restart during checkpoint write"


def cases() -> List[Case]:
    c: List[Case] = []
    # the server is killed mid-upload and comes back on the same port and data directory
    for pause in [0.3, 3.0] if FULL else [0.3]:
        c.append(
            Case(
                FAULT,
                f"ckpt writer, SIGKILL, back after {pause:g} s",
                restart_case(pause, graceful=False),
                "each",
                bound_s=BOUND_S + 90,
            )
        )
    c.append(
        Case(FAULT, "ckpt writer, SIGTERM restart", restart_case(0.0, graceful=True), "each", bound_s=BOUND_S + 90)
    )
    return c


def restart_case(pause: float, graceful: bool):
    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server(data_dir=os.path.join(ctx.tmp, "data"))
        uri = f"oss://{BUCKET}/ckpt/model.pt"
        v1, v2 = ckpt_state(f"v1-{ctx.rep}", CKPT_MIB * 2), ckpt_state(f"v2-{ctx.rep}", CKPT_MIB * 2)
        ck = checkpoint(ctx, srv, ctx.config(checkpointConfig={"uploadConcurrency": 2}))
        ck.save(v1, uri)
        tally.expected["e0:save"] = "exact"
        srv.reset_stats()
        srv.set_faults(bandwidth_total=2 << 20)  # slow enough to be mid-upload when it dies
        outcome: Dict[str, Any] = {}

        def save() -> None:
            try:
                save_with_writer(ck, v2, uri)
                outcome["ok"] = True
            except BaseException as e:  # expected: the server went away
                outcome["exc"] = e

        t = threading.Thread(target=save, daemon=True)
        t.start()
        # mid-upload: once a part is in (or the save has ended: then there is nothing to interrupt)
        stats_when(srv, lambda st: answered(st, "UploadPart") >= 1, stop=lambda: not t.is_alive())
        parts = answered(srv.stats(), "UploadPart")
        if graceful:
            srv.restart()  # SIGTERM, wait, start on the same port
        else:
            srv.kill()
            time.sleep(pause)
            srv.restart()
        t.join()  # the parent's bound catches a hang here
        tally.note(f"killed after {parts} parts")
        if "exc" in outcome:
            tally.error(outcome["exc"], ["save"], clear=isinstance(outcome["exc"], OSError))
            tally.note(f"save raised {type(outcome['exc']).__name__}")
        seen = visible_check(ctx, srv, tally, uri, {"v1": v1, "v2": v2}, "restart")
        tally.note(f"afterwards: {seen or 'nothing'} visible")
        if outcome.get("ok"):
            if seen == "v2":
                tally.deliver("save", "exact")
            else:
                tally.violate(f"save returned but {seen or 'nothing'} is visible")
        elif seen not in ("v1", "v2"):
            tally.violate(f"save raised and {seen or 'nothing'} is visible (want v1)")

    return fn
