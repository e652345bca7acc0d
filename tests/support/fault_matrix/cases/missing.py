"""Objects that do not exist: a per-sample error for datasets, a clear error
for checkpoints and tar shards."""

from __future__ import annotations

from typing import List

from ..case import Case, expect_raise
from ..context import Ctx
from ..data import dataset_names, digest_transform
from ..settings import BUCKET
from ..surfaces import build_tar, loader, put_dataset, run_iter_loader, run_map_loader
from ..tally import Tally, probe

FAULT = "missing objects"


def cases() -> List[Case]:
    c: List[Case] = []
    # objects that do not exist
    for s in [
        "map DL(w2,b=None)",
        "map in-process __getitems__",
        "iter DL(w2)",
        "ckpt load",
        "tar index missing",
        "tar archive missing",
    ]:
        c.append(Case(FAULT, s, missing_case(s), "raise" if s.startswith(("ckpt", "tar")) else "each"))
    return c


def missing_case(surface: str):
    def fn(ctx: Ctx, tally: Tally) -> None:
        from osstorchconnector import OssCheckpoint, OssIterableDataset, OssMapDataset

        srv = ctx.server()
        present = dataset_names(16)
        put_dataset(srv, present)
        missing = [f"ds/missing-{i}.bin" for i in range(4)]
        mixed = present[:4] + missing[:2] + present[4:12] + missing[2:] + present[12:]
        uris = [f"oss://{BUCKET}/{n}" for n in mixed]
        kw = ctx.kw(srv)
        nf = lambda e: isinstance(e, FileNotFoundError) and "NoSuch" in str(e)  # noqa: E731
        if surface == "map DL(w2,b=None)":
            tally.expect(present)
            for n in missing:
                tally.expected[f"e0:{n}"] = "missing"
            ds = OssMapDataset.from_objects(uris, transform=digest_transform, **kw)
            probe(ds)
            run_map_loader(tally, loader(ds, 2, None), mixed, None)
        elif surface == "map in-process __getitems__":
            tally.expect(present)
            for n in missing:
                tally.expected[f"e0:{n}"] = "missing"
            ds = OssMapDataset.from_objects(uris, transform=digest_transform, **kw)
            probe(ds, ds._get_client())
            for n, item in zip(mixed, ds.__getitems__(list(range(len(mixed))))):
                if item is None:
                    tally.error(f"transform got None for {n} (missing object)", [n])
                else:
                    tally.deliver(*item)
            err = ds._get_client().get_object(BUCKET, missing[0])  # the DataObject behind the None
            probe(err, err.error_msg(), err.exception())
            if not (err.err() == 2 and "NoSuchKey" in err.error_msg()):
                tally.violate(f"the missing object's DataObject says err={err.err()} {err.error_msg()!r}")
        elif surface == "iter DL(w2)":
            tally.expect(present)
            ds = OssIterableDataset.from_objects(uris, transform=digest_transform, **kw)
            probe(ds)
            nones = run_iter_loader(tally, loader(ds, 2, 4))
            if nones:  # missing objects are skipped (named in the log and counted), never handed over as None
                tally.violate(f"the transform got None {nones} times")
            if ds.skipped != len(missing):
                tally.violate(f"dataset.skipped counts {ds.skipped} of {len(missing)} missing objects")
        elif surface == "ckpt load":
            expect_raise(tally, surface, lambda: OssCheckpoint(**kw).load(f"oss://{BUCKET}/ckpt/none.pt"), nf)
        elif surface == "tar index missing":
            cfg = kw["config_path"]
            build_tar(ctx, srv, present, cfg)
            expect_raise(
                tally,
                surface,
                lambda: OssMapDataset.from_tar(f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/no-such.idx", **kw),
                nf,
            )
        elif surface == "tar archive missing":
            cfg = kw["config_path"]
            build_tar(ctx, srv, present, cfg)
            from osstorchconnector import _native

            nc = _native.NativeClient(
                {"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region, "config_path": cfg}
            )
            srv.put_object(BUCKET, "copy.idx", nc.get(BUCKET, "shard.idx"))  # an index whose tar is not there
            expect_raise(
                tally,
                surface,
                lambda: OssMapDataset.from_tar(f"oss://{BUCKET}/gone.tar", f"oss://{BUCKET}/copy.idx", **kw),
                lambda e: isinstance(e, (FileNotFoundError, ValueError)) and "gone.tar" in str(e),
            )

    return fn
