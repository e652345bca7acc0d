"""Truncated bodies: the server closes cleanly before Content-Length."""

from __future__ import annotations

from typing import List

from ..case import DATA_SURFACES, Case, faulted

FAULT = "truncated body"


def cases() -> List[Case]:
    c: List[Case] = []
    gets = ["GetObject"]
    # truncated bodies (clean close before Content-Length)
    trunc = dict(truncate_rate=0.5, truncate_after_bytes=1000, ops=gets, fault_limit=12)
    for s in DATA_SURFACES + ["ckpt load", "tar map DL(w2,b8)"]:
        c.append(Case(FAULT, s, faulted(s, trunc), "all"))
    return c
