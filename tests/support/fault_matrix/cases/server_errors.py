"""Bursts of 500: fewer than the retries allow (all delivered), more than they
allow (a clear error, nothing new visible), and a listing that fails for good."""

from __future__ import annotations

from typing import List

from ..case import DATA_SURFACES, Case, faulted
from ..context import Ctx
from ..data import dataset_names, digest_transform
from ..settings import BUCKET
from ..surfaces import loader, put_dataset, run_iter_loader
from ..tally import Tally, probe

FAULT = "bursts of 500"


def cases() -> List[Case]:
    c: List[Case] = []
    # 500 bursts: the first few requests all fail (fewer than maxAttempts), then a second burst mid-way
    burst = dict(error_rate_500=1.0, fault_limit=4)
    for s in DATA_SURFACES + ["ckpt save", "ckpt load", "tar map DL(w2,b8)"]:
        c.append(Case(FAULT, s, faulted(s, burst), "all"))
    # a burst that outlasts the retries, mid-checkpoint: a clear error, and nothing new visible
    c.append(
        Case(
            FAULT,
            "ckpt save, burst outlasts retries",
            faulted(
                "ckpt save",
                dict(error_rate_500=1.0, ops=["UploadPart"]),
                {"maxAttempts": 2, "checkpointConfig": {"uploadConcurrency": 1}},
            ),
            "each",
        )
    )
    # the listing of an iterable data set fails for good (every attempt a 500), in the workers: each
    # worker's share ends with the error, and the epoch ends (a loop that goes on after errors must not spin)
    c.append(Case(FAULT, "iter DL(w2), listing fails for good", iter_listing_fails, "raise"))
    return c


def iter_listing_fails(ctx: Ctx, tally: Tally) -> None:
    from osstorchconnector import OssIterableDataset

    srv = ctx.server()
    put_dataset(srv, dataset_names(8))
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    srv.set_faults(error_rate_500=1.0, ops=["ListObjectsV2"])
    tally.expected["e0:epoch"] = "must-raise"
    inner = Tally()  # the loader's own accounting: errors only, and an end
    run_iter_loader(inner, loader(ds, 2, 4), clear=lambda t: "ListObjectsV2" in t and "InternalError" in t)
    if inner.violations:  # "endless epoch": the loader kept raising
        tally.violations += inner.violations
    if inner.unclear:
        tally.unclear += inner.unclear
    n = inner.unattributed + len(inner.errored)
    if n:
        tally.error(inner.first_error, ["epoch"])
        tally.note(f"{n} errors (one per worker expected), then the epoch ended")
    else:
        tally.violate("no error although the listing failed")
