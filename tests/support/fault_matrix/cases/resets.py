"""Connections reset mid-body: reads resume, upload parts are sent again."""

from __future__ import annotations

from typing import List

from ..case import DATA_SURFACES, Case, faulted
from ..settings import BOUND_S, FULL

FAULT = "connection reset mid-body"


def cases() -> List[Case]:
    c: List[Case] = []
    gets = ["GetObject"]
    # resets after 1000 bytes of a response body (reads resume) or 100 kB of an upload (the part is sent again)
    reset_get = dict(reset_rate=0.5, reset_after_bytes=1000, ops=gets, fault_limit=12)
    for s in DATA_SURFACES + ["ckpt load", "tar map DL(w2,b8)", "tar iter DL(w2)"]:
        c.append(Case(FAULT, s, faulted(s, reset_get), "all"))
    if FULL:
        c.append(
            Case(
                FAULT,
                "iter DL(w2,spawn)",
                faulted("iter DL(w2,spawn)", reset_get),
                "all",
                reps=1,
                bound_s=BOUND_S + 120,
            )
        )
    c.append(
        Case(
            FAULT,
            "ckpt save (UploadPart)",
            faulted("ckpt save", dict(reset_rate=1.0, reset_after_bytes=100_000, ops=["UploadPart"], fault_limit=4)),
            "all",
        )
    )
    return c
