"""A DataLoader worker SIGKILLed mid-epoch: the epoch ends with torch's error,
the next epoch works."""

from __future__ import annotations

import os
import re
import signal
from typing import List

from ..case import Case
from ..context import Ctx
from ..data import dataset_names, digest_transform
from ..settings import BUCKET
from ..surfaces import loader, put_dataset
from ..tally import Tally, probe

FAULT = "DataLoader worker SIGKILL mid-epoch"


def cases() -> List[Case]:
    c: List[Case] = []
    # a DataLoader worker SIGKILLed mid-epoch; the next epoch must work
    for s in ["map DL(w2,b4)", "iter DL(w2)"]:
        c.append(Case(FAULT, s, kill_case(s), "each"))
    return c


def kill_case(surface: str):
    def fn(ctx: Ctx, tally: Tally) -> None:
        from osstorchconnector import OssIterableDataset, OssMapDataset

        srv = ctx.server()
        names = dataset_names()
        put_dataset(srv, names)
        kw = ctx.kw(srv)
        if surface.startswith("map"):
            ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **kw)
            dl = loader(ds, 2, 4)
        else:
            ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **kw)
            dl = loader(ds, 2, 4)
        probe(ds)
        killed = re.compile(r"DataLoader worker .*(killed by signal|exited unexpectedly)")
        for epoch in range(2):
            tally.epoch = epoch
            tally.expect(names)
            it = iter(dl)
            try:
                for k, batch in enumerate(it):
                    for item in batch:
                        tally.deliver(*item)
                    if epoch == 0 and k == 0:
                        victim = it._workers[0].pid
                        os.kill(victim, signal.SIGKILL)
                        tally.note(f"worker pid {victim} killed after the first batch")
                if epoch == 0:
                    tally.violate("the epoch ended without an error although a worker was killed")
            except RuntimeError as e:  # torch's SIGCHLD handler or its liveness check
                if epoch == 0:
                    tally.error(e, rest=True, clear=bool(killed.search(str(e))))
                else:
                    tally.error(e, rest=True, clear=False)
            finally:
                del it
        from osstorchconnector import _shared_listing

        left = [f for f in os.listdir(_shared_listing.share_dir()) if f.startswith(f"osstorch-{ds._uuid}")]
        if left:  # a killed worker never marks itself done; stale files are swept after a day
            tally.note(f"{len(left)} worker-share files left in {_shared_listing.share_dir()}")

    return fn
