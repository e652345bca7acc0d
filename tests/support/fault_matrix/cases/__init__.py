"""The cases, one module per fault (a row group of the table). Each module
names its fault (FAULT) and builds its cases (cases()); MODULES fixes their
order, which is the table's. To add a fault, add a module here and put it in
MODULES; to add a case to a fault, append it in that module's cases()."""

from __future__ import annotations

from typing import List

from ..case import Case
from . import (
    canary,
    clock_skew,
    corruption,
    credentials,
    missing,
    resets,
    restart,
    server_down,
    server_errors,
    stalls,
    throttling,
    truncation,
    worker_kill,
    wrong_secret,
)

MODULES = [
    throttling,
    server_errors,
    resets,
    truncation,
    stalls,
    corruption,
    restart,
    server_down,
    credentials,
    clock_skew,
    wrong_secret,
    missing,
    worker_kill,
]
# the canary runs with the faults but has no rows in the table
F_CANARY = canary.FAULT
FAULTS = [m.FAULT for m in MODULES]


def build_cases() -> List[Case]:
    """Every case, in table order, the canary last."""
    return [c for m in MODULES + [canary] for c in m.cases()]
