"""Stalls longer than readWriteTimeoutMs: the connection is given up and the
read (or the part) is made again."""

from __future__ import annotations

from typing import List

from ..case import DATA_SURFACES, Case, faulted
from ..settings import BOUND_S, FULL

FAULT = "stall > read timeout"


def cases() -> List[Case]:
    c: List[Case] = []
    gets = ["GetObject"]
    # a stall longer than readWriteTimeoutMs: the connection is given up and the read resumes
    stall_cfg = {"readWriteTimeoutMs": 2000}
    stall = dict(stall_rate=1.0, stall_ms=5000, stall_after_bytes=1000, ops=gets, fault_limit=3)
    for s in DATA_SURFACES + ["ckpt load", "tar map DL(w2,b8)"]:
        c.append(Case(FAULT, s, faulted(s, stall, stall_cfg), "all", bound_s=BOUND_S + 60))
    if FULL:
        c.append(
            Case(
                FAULT,
                "iter DL(w2,spawn)",
                faulted("iter DL(w2,spawn)", stall, stall_cfg),
                "all",
                reps=1,
                bound_s=BOUND_S + 120,
            )
        )
    c.append(
        Case(
            FAULT,
            "ckpt save (UploadPart)",
            faulted(
                "ckpt save",
                dict(stall_rate=1.0, stall_ms=5000, stall_after_bytes=100_000, ops=["UploadPart"], fault_limit=1),
                stall_cfg,
            ),
            "all",
            bound_s=BOUND_S + 60,
        )
    )
    return c
