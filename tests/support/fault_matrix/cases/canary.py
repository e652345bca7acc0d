"""Not a fault: a key named CANARY sent through every channel (logs, audit
lines, errors, reprs), so the secret scan is known to read them all. Its
rows are not in the table."""

from __future__ import annotations

from typing import List

from ..case import Case
from ..context import Ctx
from ..data import digest_transform
from ..settings import BUCKET, CANARY
from ..surfaces import loader, put_dataset, run_map_loader
from ..tally import Tally, probe

FAULT = "secret-scan canary"


def cases() -> List[Case]:
    c: List[Case] = []
    c.append(Case(FAULT, "map DL(w2,b=None) + in-process", canary_case, "each"))
    return c


def canary_case(ctx: Ctx, tally: Tally) -> None:
    """A missing object whose key is CANARY, read through workers and in
    process: the scan must find CANARY in the connector log, the audit log,
    the runner's output and the collected exception texts and reprs."""
    from osstorchconnector import OssMapDataset

    srv = ctx.server()
    key = f"canary/{CANARY}.bin"
    put_dataset(srv, ["canary/present.bin"])
    tally.expect(["canary/present.bin"])
    tally.expected[f"e0:{key}"] = "missing"
    ds = OssMapDataset.from_objects(
        [f"oss://{BUCKET}/canary/present.bin", f"oss://{BUCKET}/{key}"], transform=digest_transform, **ctx.kw(srv)
    )
    probe(ds)
    run_map_loader(tally, loader(ds, 2, None), ["canary/present.bin", key], None)
    obj = ds._get_client().get_object(BUCKET, key)
    probe(obj, obj.error_msg(), obj.exception())
