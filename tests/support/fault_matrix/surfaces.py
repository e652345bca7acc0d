"""Surfaces: where a fault matters (datasets through DataLoader workers,
checkpoints, tar shards). A surface has a setup (before the faults: data,
tar, checkpoint) and a run (under the faults) that feeds a Tally."""

from __future__ import annotations

import os
import re
import zlib
from collections import Counter
from typing import Any, Callable, Dict, Optional, Sequence

from support.transforms import keep_list, no_collate

from .context import Ctx
from .data import dataset_names, digest_transform, payload
from .settings import BUCKET, CKPT_MIB, FULL
from .tally import TEXTS, Tally, one_line, probe


def put_dataset(srv, names: Sequence[str]) -> None:
    for n in names:
        srv.put_object(BUCKET, n, payload(n))


def loader(ds, workers: int, batch: Optional[int], method: str = "fork", **kw: Any):
    from torch.utils.data import DataLoader

    args = dict(batch_size=batch, num_workers=workers, collate_fn=keep_list if batch else no_collate)
    if workers:
        args.update(multiprocessing_context=method, prefetch_factor=2)
    args.update(kw)
    return DataLoader(ds, **args)


def run_map_loader(
    tally: Tally,
    dl,
    names: Sequence[str],
    batch: Optional[int],
    after_batch: Callable[[int], None] = None,
    clear: Callable[[str], bool] = None,
) -> None:
    """Iterate a map-style DataLoader in index order. Batch k holds indices
    [k*b, (k+1)*b): a batch that raises surfaces an error for each of them.
    A None from the transform is a missing object (a per-sample error)."""
    b = batch or 1
    it = iter(dl)
    k = 0
    while True:
        idx = names[k * b : (k + 1) * b]
        try:
            out = next(it)
        except StopIteration:
            break
        except Exception as e:  # a failed batch (or sample): the loader goes on with the next one
            tally.error(e, idx, clear=clear(str(e)) if clear else None)
            k += 1
            if not idx:
                break
            continue
        items = out if batch else [out]
        for n, item in zip(idx, items):
            if item is None:
                tally.error(f"transform got None for {n} (missing object)", [n])
            else:
                if item[0] != n:
                    tally.violate(f"sample {item[0]} arrived in the place of {n}")
                tally.deliver(item[0], item[1])
        k += 1
        if after_batch:
            after_batch(k)


_KEY_IN_ERROR = re.compile(r"oss://" + re.escape(BUCKET) + r"/([^\s:]+)")
# tar members are named by their path in the folder the tar was made from
_TAR_MEMBER_IN_ERROR = re.compile(r'tar member "(?:[^"]*/tar-src/)?([^"]+)"')


def run_iter_loader(tally: Tally, dl, clear: Callable[[str], bool] = None, after_batch=None, batched=True) -> int:
    """Iterate an iterable DataLoader; errors are tied to the object their
    message names. Returns how many None (missing objects) came. With
    batched False the loader has batch_size None: one sample per next().

    A batch that raises drops the samples DataLoader had already collected
    into it (torch's fetcher), and no message names them: cases that expect
    per-sample errors from an iterable dataset use batch_size None."""
    nones = 0
    it = iter(dl)
    k = 0
    got = 0
    while True:
        if got > 3 * len(tally.expected) + 100:  # an epoch that does not end: report it, do not spin
            top = Counter(tally.seen).most_common(3)
            tally.violate(
                f"endless epoch: {got} samples and errors so far for {len(tally.expected)} expected; "
                f"most repeated {top}; last error {tally.last_error!r}"
            )
            break
        try:
            out = next(it)
        except StopIteration:
            break
        except Exception as e:
            got += 1
            m = _TAR_MEMBER_IN_ERROR.search(str(e)) or _KEY_IN_ERROR.search(str(e))
            name = m.group(1) if m else None
            tally.error(
                e,
                [name] if name and f"e{tally.epoch}:{name}" in tally.expected else (),
                clear=clear(str(e)) if clear else None,
            )
            continue
        items = out if batched else [out]
        got += len(items)
        for item in items:
            if item is None:
                nones += 1
            else:
                tally.deliver(item[0], item[1])
        k += 1
        if after_batch:
            after_batch(k)
    return nones


def surface_map_dl(
    ctx: Ctx,
    srv,
    faults: Dict[str, Any],
    tally: Tally,
    workers=2,
    batch=8,
    method="fork",
    config: Dict[str, Any] = None,
) -> None:
    from osstorchconnector import OssMapDataset

    names = dataset_names()
    put_dataset(srv, names)
    tally.expect(names)
    srv.set_faults(seed=ctx.seed, **faults)
    try:  # the listing runs under the faults too
        ds = OssMapDataset.from_prefix(
            f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv, ctx.config(**(config or {})))
        )
    except Exception as e:
        tally.error(e, rest=True)
        return
    probe(ds)
    run_map_loader(tally, loader(ds, workers, batch, method), names, batch)


def surface_iter_dl(
    ctx: Ctx,
    srv,
    faults: Dict[str, Any],
    tally: Tally,
    workers=2,
    batch=8,
    method="fork",
    config: Dict[str, Any] = None,
) -> None:
    from osstorchconnector import OssIterableDataset

    names = dataset_names()
    put_dataset(srv, names)
    tally.expect(names)
    srv.set_faults(seed=ctx.seed, **faults)
    ds = OssIterableDataset.from_prefix(
        f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv, ctx.config(**(config or {})))
    )
    probe(ds)
    run_iter_loader(tally, loader(ds, workers, batch, method), batched=bool(batch))


def build_tar(ctx: Ctx, srv, names: Sequence[str], cfg: str) -> None:
    from osstorchconnector import generate_tar_archive

    src = os.path.join(ctx.tmp, "tar-src")
    for n in names:
        p = os.path.join(src, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(payload(n))
    generate_tar_archive(
        srv.endpoint,
        srv.cred_path,
        cfg,
        f"oss://{BUCKET}/shard.tar",
        f"oss://{BUCKET}/shard.idx",
        src,
        region=srv.region,
    )


def surface_tar(
    ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, kind="map", workers=2, batch=8, config: Dict[str, Any] = None
) -> None:
    from osstorchconnector import OssIterableDataset, OssMapDataset

    names = sorted(dataset_names())
    cfg = ctx.config(**(config or {}))
    build_tar(ctx, srv, names, ctx.config())  # setup: the default config (no tiny timeouts)
    tally.expect(names)
    srv.set_faults(seed=ctx.seed, **faults)
    args = dict(transform=digest_transform, **ctx.kw(srv, cfg))
    try:
        if kind == "map":
            ds = OssMapDataset.from_tar(f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/shard.idx", **args)
        else:  # small chunks: several ranged reads per worker
            ds = OssIterableDataset.from_tar(
                f"oss://{BUCKET}/shard.tar",
                f"oss://{BUCKET}/shard.idx",
                shuffle=True,
                shuffle_chunk_size=6,
                seed=ctx.seed,
                **args,
            )
    except Exception as e:
        tally.error(e, rest=True)
        return
    probe(ds)
    if kind == "map":
        run_map_loader(tally, loader(ds, workers, batch), names, batch)
    else:
        run_iter_loader(tally, loader(ds, workers, batch), batched=bool(batch))


# ---- checkpoints ----


def ckpt_state(tag: str, mib: int = None):
    import torch

    g = torch.Generator().manual_seed(zlib.crc32(tag.encode()))
    return {
        "w": torch.randn((mib or CKPT_MIB) << 18, generator=g),
        "b": torch.arange(1000) * zlib.crc32(tag.encode()),
        "tag": tag,
    }


def ckpt_same(a, b) -> bool:
    import torch

    return (
        isinstance(a, dict)
        and set(a) == set(b)
        and torch.equal(a["w"], b["w"])
        and torch.equal(a["b"], b["b"])
        and a["tag"] == b["tag"]
    )


def checkpoint(ctx: Ctx, srv, cfg: str = None, **kw: Any):
    from osstorchconnector import OssCheckpoint

    args = ctx.kw(srv, cfg)
    args.update(kw)
    ck = OssCheckpoint(args.pop("endpoint"), **args)
    probe(ck)
    return ck


def save_with_writer(ck, sd, uri: str) -> None:
    """torch.save through the writer, as a training script does."""
    import torch

    with ck.writer(uri) as f:
        probe(f)
        torch.save(sd, f)


def visible_check(ctx: Ctx, srv, tally: Tally, uri: str, acceptable: Dict[str, Any], label: str) -> Optional[str]:
    """After the faults: what a fresh, fault-free client sees at uri must be
    nothing or exactly one of the acceptable versions (by name). Anything else
    is a partial (or wrong) object visible."""
    srv.clear_faults()
    ck = checkpoint(ctx, srv)
    try:
        back = ck.load(uri)
    except FileNotFoundError:
        return None
    except Exception as e:  # visible, but not a loadable checkpoint: a partial object
        tally.partial += 1
        tally.violate(f"{label}: a visible object that does not load: {one_line(str(e))}")
        TEXTS.append(str(e))
        return "unloadable"
    for name, sd in acceptable.items():
        if ckpt_same(back, sd):
            return name
    tally.partial += 1
    tally.violate(f"{label}: the visible object is none of {sorted(acceptable)}")
    return "other"


def surface_ckpt_save(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, config: Dict[str, Any] = None) -> None:
    """Save v2 over v1 under the faults: afterwards v2 (save succeeded) or v1 (save raised)."""
    uri = f"oss://{BUCKET}/ckpt/model.pt"
    cfg = ctx.config(**(config or {}))
    v1, v2 = ckpt_state(f"v1-{ctx.rep}"), ckpt_state(f"v2-{ctx.rep}")
    checkpoint(ctx, srv).save(v1, uri)  # setup: the default config
    ck = checkpoint(ctx, srv, cfg)
    tally.expected["e0:save"] = "exact"
    srv.set_faults(seed=ctx.seed, **faults)
    ok = False
    try:
        save_with_writer(ck, v2, uri)
        ok = True
    except Exception as e:
        tally.error(e, ["save"], clear=isinstance(e, OSError))
    seen = visible_check(ctx, srv, tally, uri, {"v1": v1, "v2": v2}, "save")
    if ok:
        if seen == "v2":
            tally.deliver("save", "exact")
        else:
            tally.violate(f"save returned but the object is {seen or 'absent'}")
    elif seen == "v2":
        tally.note("save raised although v2 was committed")


def surface_ckpt_load(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, config: Dict[str, Any] = None) -> None:
    uri = f"oss://{BUCKET}/ckpt/model.pt"
    cfg = ctx.config(**(config or {}))
    sd = ckpt_state(f"load-{ctx.rep}")
    checkpoint(ctx, srv).save(sd, uri)  # setup: the default config
    ck = checkpoint(ctx, srv, cfg)
    tally.expected["e0:load"] = "exact"
    srv.set_faults(seed=ctx.seed, **faults)
    try:
        with ck.reader(uri) as f:
            probe(f)
            import torch

            back = torch.load(f)
    except Exception as e:
        tally.error(e, ["load"], clear=isinstance(e, (OSError, RuntimeError)))
        return
    tally.deliver("load", "exact" if ckpt_same(back, sd) else "mismatch")


SURFACES = {
    "map DL(w2,b8)": surface_map_dl,
    "map DL(w2,b=None)": lambda ctx, srv, f, t, **kw: surface_map_dl(ctx, srv, f, t, batch=None, **kw),
    "map in-process(b8)": lambda ctx, srv, f, t, **kw: surface_map_dl(ctx, srv, f, t, workers=0, batch=8, **kw),
    "iter DL(w2)": surface_iter_dl,
    "ckpt save": surface_ckpt_save,
    "ckpt load": surface_ckpt_load,
    "tar map DL(w2,b8)": lambda ctx, srv, f, t, **kw: surface_tar(ctx, srv, f, t, kind="map", **kw),
    "tar iter DL(w2)": lambda ctx, srv, f, t, **kw: surface_tar(ctx, srv, f, t, kind="iter", **kw),
}
if FULL:  # more worker configurations
    SURFACES.update(
        {
            "map DL(w4,b16)": lambda ctx, srv, f, t, **kw: surface_map_dl(ctx, srv, f, t, workers=4, batch=16, **kw),
            "iter DL(w4)": lambda ctx, srv, f, t, **kw: surface_iter_dl(ctx, srv, f, t, workers=4, **kw),
            "iter DL(w2,spawn)": lambda ctx, srv, f, t, **kw: surface_iter_dl(ctx, srv, f, t, method="spawn", **kw),
        }
    )
