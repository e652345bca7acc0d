"""Credentials expire mid-epoch; the server rotates its keys and the file is
rewritten (early or late): the rest of the run uses the new keys."""

from __future__ import annotations

import datetime
import time
from typing import List

from support.server import answered, settled_stats

from ..case import Case
from ..context import Ctx
from ..data import dataset_names, digest_transform
from ..settings import BUCKET, ROTATED_SECRET, ROTATED_TOKEN, TAG
from ..surfaces import (
    checkpoint,
    ckpt_same,
    ckpt_state,
    loader,
    put_dataset,
    run_iter_loader,
    run_map_loader,
    save_with_writer,
)
from ..tally import Tally, probe

FAULT = "credentials expire mid-epoch, rewritten"


def cases() -> List[Case]:
    c: List[Case] = []
    # credentials expire mid-epoch; the server rotates its keys and the file is rewritten
    c.append(Case(FAULT, "map DL(w2,b8)", creds_map_dl, "all"))
    c.append(Case(FAULT, "iter DL(w2, persistent), 2 epochs", creds_iter_dl, "all"))
    c.append(Case(FAULT, "ckpt save/load", creds_ckpt, "all"))
    c.append(Case(FAULT, "map in-process, file rewritten late", creds_late, "each"))
    return c


def creds_map_dl(ctx: Ctx, tally: Tally) -> None:
    """Map dataset, 2 workers. Credentials expire after the first few
    batches; once every request the loader had dispatched has been served
    (so none is in flight with the old keys), the server rotates its keys and
    the file is rewritten; the rest of the epoch must use the new ones."""
    from osstorchconnector import OssMapDataset

    srv = ctx.server()
    exp = time.time() + 3
    srv.write_credentials_file(expiration=_rfc3339(exp))
    names = dataset_names()
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    srv.reset_stats()
    batch, workers, prefetch = 4, 2, 2
    nb = -(-len(names) // batch)
    half = 2  # after 2 batches: 2 + workers * prefetch dispatched, the other half still to come

    def rotate_at(k: int) -> None:
        if k != half:
            return
        dispatched = min(nb, k + workers * prefetch)  # batches handed to workers so far
        want = min(len(names), dispatched * batch)
        settled_stats(srv, lambda st: answered(st, "GetObject") >= want, "the workers to go idle")
        time.sleep(max(0.0, exp - time.time()) + 0.2)  # the credentials have now expired
        _rotate(srv)
        tally.note(f"rotated after batch {k} of {nb}")

    run_map_loader(tally, loader(ds, workers, batch), names, batch, after_batch=rotate_at)
    _check_new_keys_used(srv, tally)


def creds_iter_dl(ctx: Ctx, tally: Tally) -> None:
    """Iterable dataset, 2 persistent workers, 2 epochs: the credentials
    expire and are rotated in the middle of epoch 0 (after the workers have
    fetched their shares); epoch 1 (listing included) must use the new keys
    from the same worker processes."""
    from osstorchconnector import OssIterableDataset

    srv = ctx.server()
    exp = time.time() + 3
    srv.write_credentials_file(expiration=_rfc3339(exp))
    names = dataset_names()
    put_dataset(srv, names)
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    dl = loader(ds, 2, 8, persistent_workers=True)
    half = len(names) // 16

    def rotate_at(k: int) -> None:
        if tally.epoch == 0 and k == half:
            settled_stats(srv, lambda st: answered(st, "GetObject") >= len(names), "the workers to fetch their shares")
            time.sleep(max(0.0, exp - time.time()) + 0.2)
            _rotate(srv)
            tally.note(f"rotated after batch {k} of epoch 0")

    for epoch in range(2):
        tally.epoch = epoch
        tally.expect(names)
        run_iter_loader(tally, dl, after_batch=rotate_at)
    _check_new_keys_used(srv, tally)


def creds_ckpt(ctx: Ctx, tally: Tally) -> None:
    srv = ctx.server()
    exp = time.time() + 2
    srv.write_credentials_file(expiration=_rfc3339(exp))
    ck = checkpoint(ctx, srv)
    v1, v2 = ckpt_state("c1"), ckpt_state("c2")
    uri = f"oss://{BUCKET}/ckpt/model.pt"
    tally.expected.update({"e0:save v1": "exact", "e0:load v1": "exact", "e0:save v2": "exact", "e0:load v2": "exact"})
    ck.save(v1, uri)
    tally.deliver("save v1", "exact")
    time.sleep(max(0.0, exp - time.time()) + 0.2)
    _rotate(srv)
    for name, fn in (
        ("load v1", lambda: ckpt_same(ck.load(uri), v1)),
        ("save v2", lambda: save_with_writer(ck, v2, uri) or True),
        ("load v2", lambda: ckpt_same(ck.load(uri), v2)),
    ):
        try:
            tally.deliver(name, "exact" if fn() else "mismatch")
        except Exception as e:
            tally.error(e, [name])
    _check_new_keys_used(srv, tally)


def creds_late(ctx: Ctx, tally: Tally) -> None:
    """The file is NOT rewritten before the server rotates: requests fail,
    one clear error per sample; once it is rewritten, the rest succeed."""
    from osstorchconnector import OssMapDataset

    srv = ctx.server()
    exp = time.time() + 1
    srv.write_credentials_file(expiration=_rfc3339(exp))
    names = dataset_names(24)
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    time.sleep(max(0.0, exp - time.time()) + 0.2)
    for i, n in enumerate(names):
        if i == 8:
            srv.set_credentials("LTAIrotated" + TAG[:4], ROTATED_SECRET, ROTATED_TOKEN, write_file=False)
        if i == 12:
            srv.write_credentials_file(expiration=_rfc3339(time.time() + 3600))
        try:
            tally.deliver(*ds[i])
        except Exception as e:
            tally.error(e, [n], clear="InvalidAccessKeyId" in str(e) or "SignatureDoesNotMatch" in str(e))
    errs = len(tally.errored)
    if errs != 4:
        tally.violate(f"{errs} errors, want 4 (the samples read while only the server had the new keys)")


def _rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rotate(srv) -> None:
    srv.set_credentials("LTAIrotated" + TAG[:4], ROTATED_SECRET, ROTATED_TOKEN, write_file=False)
    srv.write_credentials_file(expiration=_rfc3339(time.time() + 3600))
    srv.reset_stats()


def _check_new_keys_used(srv, tally: Tally) -> None:
    st = srv.stats()["requests"]
    ok = sum(v.get("200", 0) + v.get("206", 0) for v in st.values())
    refused = sum(v.get("403", 0) for v in st.values())
    if not ok:
        tally.violate("no request was made with the rotated credentials")
    if refused:
        tally.violate(f"{refused} requests refused after the rotation")
