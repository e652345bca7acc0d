"""A wrong AccessKeySecret: the first call raises SignatureDoesNotMatch with
its request id, and nothing is written."""

from __future__ import annotations

import json
import os
from typing import List

from ..case import Case, expect_raise, first_call
from ..context import Ctx
from ..data import dataset_names
from ..settings import BUCKET, TOKEN, WRONG_SECRET
from ..surfaces import build_tar, checkpoint, put_dataset, visible_check
from ..tally import Tally

FAULT = "wrong secret"


def cases() -> List[Case]:
    c: List[Case] = []
    # a wrong AccessKeySecret
    for s in [
        "map from_prefix",
        "map from_prefix (V1 signing)",
        "iter DL(w2)",
        "ckpt save",
        "ckpt load",
        "tar map from_tar",
    ]:
        c.append(Case(FAULT, s, wrong_secret_case(s), "raise"))
    return c


def wrong_secret_case(surface: str):
    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server()
        names = dataset_names(8)
        put_dataset(srv, names)
        ck = checkpoint(ctx, srv)
        ck.save({"x": 1}, f"oss://{BUCKET}/ckpt/x.pt")
        cfg = ctx.config()
        build_tar(ctx, srv, names, cfg)
        bad = os.path.join(ctx.tmp, "wrong.json")
        with open(bad, "w") as f:
            json.dump({"AccessKeyId": srv.access_key_id, "AccessKeySecret": WRONG_SECRET, "SecurityToken": TOKEN}, f)
        region = "" if "V1" in surface else srv.region
        kw = dict(endpoint=srv.endpoint, cred_path=bad, region=region, config_path=cfg)

        def check(e: BaseException) -> bool:
            s = str(e)
            if isinstance(e, PermissionError) and getattr(e, "code", None):  # raised here: the details are attributes
                return e.code == "SignatureDoesNotMatch" and e.status == 403 and bool(e.request_id)
            return "SignatureDoesNotMatch" in s and "request id" in s  # re-raised by DataLoader: the message says it

        expect_raise(tally, surface, first_call(surface, kw, "y.pt"), check)
        if surface == "ckpt save" and visible_check(ctx, srv, tally, f"oss://{BUCKET}/ckpt/y.pt", {}, "wrong secret"):
            tally.violate("an object was written with a wrong secret")

    return fn
