"""503 throttling: a burst of 503 answers carrying x-oss-qos-delay-time, the
delay asked for waited, and the QPS limiter pushed for seconds on end."""

from __future__ import annotations

import time
from typing import List

from ..case import DATA_SURFACES, Case, faulted
from ..context import Ctx
from ..data import dataset_names, digest_transform
from ..settings import BUCKET
from ..surfaces import put_dataset
from ..tally import Tally

FAULT = "503 throttling (x-oss-qos-delay-time)"


def cases() -> List[Case]:
    c: List[Case] = []
    # 503 throttling: a burst of 503 answers carrying x-oss-qos-delay-time (fewer than maxAttempts, so
    # deterministic), one check that the delay asked for is waited, and the QPS limiter asked for more
    # than it allows for seconds on end (TotalQpsLimitExceeded)
    throttle = dict(error_rate_503=1.0, qos_delay_ms=150, fault_limit=4)
    for s in DATA_SURFACES + ["ckpt save", "ckpt load", "tar iter DL(w2)"]:
        c.append(Case(FAULT, s, faulted(s, throttle), "all"))
    c.append(Case(FAULT, "map in-process, qos delay honoured", qos_delay_honoured, "all"))
    c.append(
        Case(
            FAULT,
            "map DL(w2,b24), QPS limit, sustained (10 qps)",
            faulted("map DL(w2,b8)", dict(qps_limit=10, qos_delay_ms=100), batch=24),
            "all",
        )
    )
    c.append(
        Case(
            FAULT,
            "ckpt save, QPS limit, sustained (1 qps)",
            faulted("ckpt save", dict(qps_limit=1, qos_delay_ms=100)),
            "all",
        )
    )
    return c


def qos_delay_honoured(ctx: Ctx, tally: Tally) -> None:
    """Three 503s with x-oss-qos-delay-time: 1000 on one object read alone:
    the read must take at least the 3 s the server asked for (a lower bound,
    so a slow machine cannot fail it)."""
    from osstorchconnector import OssMapDataset

    srv = ctx.server()
    names = dataset_names(2)
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    srv.set_faults(error_rate_503=1.0, qos_delay_ms=1000, fault_limit=3, ops=["GetObject"])
    t0 = time.monotonic()
    try:
        tally.deliver(*ds[0])
    except Exception as e:
        tally.error(e, [names[0]])
    took = time.monotonic() - t0
    tally.note(f"3 x 503 with a 1 s delay asked: the read took {took:.1f} s")
    if took < 3.0:
        tally.violate(f"retried sooner than x-oss-qos-delay-time asked ({took:.2f} s < 3 s)")
    tally.deliver(*ds[1])
