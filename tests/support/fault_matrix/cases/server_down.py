"""Nothing listening at the endpoint: the first call raises a clear error."""

from __future__ import annotations

import json
import os
from typing import List

from ..case import Case, closed_endpoint, expect_raise, first_call
from ..context import Ctx
from ..settings import SECRET, TOKEN
from ..tally import Tally

FAULT = "server down at start"


def cases() -> List[Case]:
    c: List[Case] = []
    # nothing listening at the endpoint
    for s in ["map from_prefix", "iter DL(w2)", "ckpt save", "ckpt load", "tar map from_tar"]:
        c.append(Case(FAULT, s, down_case(s), "raise"))
    return c


def down_case(surface: str):
    def check(e: BaseException) -> bool:
        return isinstance(e, (ConnectionError, OSError)) and "connection refused" in str(e)

    def fn(ctx: Ctx, tally: Tally) -> None:
        ep = closed_endpoint()
        cred = os.path.join(ctx.tmp, "cred.json")
        with open(cred, "w") as f:
            json.dump({"AccessKeyId": "LTAIfaultsuite", "AccessKeySecret": SECRET, "SecurityToken": TOKEN}, f)
        kw = dict(endpoint=ep, cred_path=cred, region="cn-hangzhou", config_path=ctx.config())
        expect_raise(tally, surface, first_call(surface, kw, "x.pt"), check)

    return fn
