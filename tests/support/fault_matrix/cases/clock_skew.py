"""The server's clock off by +-20 min: the client corrects from the server's
Date, and follows when the clocks agree again."""

from __future__ import annotations

from typing import List

from ..case import Case, faulted
from ..context import Ctx
from ..data import dataset_names, digest_transform
from ..settings import BUCKET
from ..surfaces import put_dataset
from ..tally import Tally

FAULT = "clock skew ±20 min"


def cases() -> List[Case]:
    c: List[Case] = []
    # server clock off by +-20 min: the client corrects from the server's Date
    for off in (20, -20):
        faults = dict(clock_offset_ms=off * 60_000)
        for s in ["map DL(w2,b8)", "iter DL(w2)", "ckpt save", "ckpt load", "tar map DL(w2,b8)"]:
            c.append(Case(FAULT, f"{s}, {off:+d} min", faulted(s, faults, skew=True), "all"))
    c.append(Case(FAULT, "map in-process, +20 min, then the clocks agree again", skew_jump, "all"))
    return c


def skew_jump(ctx: Ctx, tally: Tally) -> None:
    """One client: the server clock is 20 min ahead (the client corrects),
    then the clocks agree again (NTP fixed the skew): the client must follow."""
    from osstorchconnector import OssMapDataset

    srv = ctx.server()
    names = dataset_names(10)
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    for i, n in enumerate(names):
        if i == 0:
            srv.set_faults(clock_offset_ms=20 * 60_000)
        if i == 8:
            srv.set_faults(clock_offset_ms=0)
        try:
            tally.deliver(*ds[i])
        except Exception as e:
            tally.error(e, [n], clear="RequestTimeTooSkewed" in str(e))
