"""A case (a fault against a surface, with what is expected of it), the
usual way to make one (`faulted`), and what the cases that expect a clear
error share."""

from __future__ import annotations

import dataclasses
import socket
import time
from typing import Any, Callable, Dict

from .context import Ctx
from .data import digest_transform
from .settings import BOUND_S, BUCKET, REPS
from .surfaces import SURFACES, loader
from .tally import Tally, probe


@dataclasses.dataclass
class Case:
    fault: str  # the row group of the table (the fault list)
    surface: str
    fn: Callable[[Ctx, Tally], None]
    expect: (
        str  # "all": every sample delivered, no error; "each": delivered or a per-sample error; "raise": errors only
    )
    bound_s: float = BOUND_S
    known: str = ""  # a known bug or limit this case shows (reported; the test xfails on exactly it)
    reps: int = REPS  # runs, each with another fault seed
    id: str = ""

    def __post_init__(self) -> None:
        self.id = f"{self.fault} / {self.surface}"


def faulted(surface: str, faults: Dict[str, Any], config: Dict[str, Any] = None, skew: bool = False, **kw: Any):
    """A case: `surface` under `faults`. The fault must actually happen
    (else the case proves nothing): faults injected, or for clock skew the
    server's RequestTimeTooSkewed answers."""

    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server()
        SURFACES[surface](ctx, srv, faults, tally, config=config, **kw)
        st = srv.stats()
        if skew:
            n = sum(v.get("403", 0) for v in st["requests"].values())
            tally.note(f"{n} RequestTimeTooSkewed answers")
        else:
            n = st["faults_injected"]
            tally.note(f"{n} faults injected")
        if not n:
            tally.violate("the fault never happened")

    return fn


# spawn workers import torch (~10-50 s each here): only in the cases that name them
DATA_SURFACES = [s for s in SURFACES if not s.startswith(("ckpt", "tar")) and "spawn" not in s]


# ---- what the cases that expect a clear error share ----


def closed_endpoint() -> str:
    """An endpoint nothing listens at."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def expect_raise(tally: Tally, name: str, fn: Callable[[], Any], check: Callable[[BaseException], bool]) -> None:
    """fn() must raise, and check(the exception) say the error is clear."""
    tally.expected[f"e0:{name}"] = "must-raise"
    t0 = time.monotonic()
    try:
        got = fn()
        probe(got)
    except Exception as e:
        tally.error(e, [name], clear=check(e))
        tally.note(f"{type(e).__name__} after {time.monotonic() - t0:.1f} s")
        return
    tally.violate(f"{name}: no error")


def _dl_first(ds) -> Any:
    return next(iter(loader(ds, 2, 8)))


def first_call(surface: str, kw: dict, save_key: str) -> Callable[[], Any]:
    """The first call a user makes on surface, with the client arguments kw:
    where a failure that no retry can mend (no server, wrong keys) must
    surface. "ckpt save" writes ckpt/<save_key>; "ckpt load" reads ckpt/x.pt."""
    from osstorchconnector import OssCheckpoint, OssIterableDataset, OssMapDataset

    if surface.startswith("map from_prefix"):
        return lambda: OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", **kw)
    return {
        "iter DL(w2)": lambda: _dl_first(
            OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **kw)
        ),
        "ckpt save": lambda: OssCheckpoint(**kw).save({"x": 1}, f"oss://{BUCKET}/ckpt/{save_key}"),
        "ckpt load": lambda: OssCheckpoint(**kw).load(f"oss://{BUCKET}/ckpt/x.pt"),
        "tar map from_tar": lambda: OssMapDataset.from_tar(
            f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/shard.idx", **kw
        ),
    }[surface]
