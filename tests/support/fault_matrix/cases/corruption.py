"""Flipped bytes: a flip once is read again; objects flipped every time fail
their CRC, per sample; the checkpoint reader's chunk read twice."""

from __future__ import annotations

import hashlib
from typing import List

from ..case import Case, faulted
from ..context import Ctx
from ..data import digest
from ..settings import BUCKET
from ..surfaces import checkpoint
from ..tally import Tally

FAULT = "flipped bytes"


def cases() -> List[Case]:
    c: List[Case] = []
    gets = ["GetObject"]
    # flipped bytes: one flip is read again; objects flipped every time fail their CRC, per sample
    once = dict(flip_rate=1.0, fault_limit=1, ops=gets)
    for s in ["map DL(w2,b8)", "iter DL(w2)", "ckpt load"]:
        c.append(Case(FAULT, s, faulted(s, once), "each"))
    c.append(
        Case(
            FAULT,
            "map DL(w2,b=None), 3 keys always",
            faulted("map DL(w2,b=None)", dict(flip_rate=1.0, key_pattern="ds/000[0-2].bin", ops=gets)),
            "each",
        )
    )
    c.append(
        Case(
            FAULT,
            "iter DL(w2,b=None), 1 key always",
            faulted("iter DL(w2)", dict(flip_rate=1.0, key_pattern="ds/0001.bin", ops=gets), batch=None),
            "each",
        )
    )
    c.append(
        Case(
            FAULT,
            "ckpt save (UploadPart)",
            faulted("ckpt save", dict(flip_rate=1.0, ops=["UploadPart"], fault_limit=2)),
            "each",
        )
    )
    c.append(Case(FAULT, "ckpt reader, chunk read twice", reader_reread_case("writer"), "each"))
    c.append(
        Case(
            FAULT, "ckpt reader, chunk read twice, small object put by another tool", reader_reread_case("put"), "each"
        )
    )
    c.append(
        Case(
            FAULT,
            "ckpt reader, chunk read twice, large object put by another tool",
            reader_reread_case("put large"),
            "each",
            known=KNOWN_READER_FOREIGN,
        )
    )
    # the tar's ranged reads, not the index: every read damaged, so one member of each run fails its CRC-64
    c.append(
        Case(
            FAULT,
            "tar map DL(w2,b8)",
            faulted("tar map DL(w2,b8)", dict(flip_rate=1.0, ops=gets, key_pattern="shard.tar")),
            "each",
        )
    )
    c.append(
        Case(
            FAULT,
            "tar iter DL(w2,b=None)",
            faulted("tar iter DL(w2)", dict(flip_rate=1.0, ops=gets, key_pattern="shard.tar"), batch=None),
            "each",
        )
    )
    return c


KNOWN_READER_FOREIGN = (
    "checkpoint reader, objects larger than its cache that were not written by this connector "
    "(no part checksum file): OSS has no checksum for a range, so a chunk is handed out before "
    "anything can check it; a corrupt chunk surfaces as an integrity error when it is read again "
    "or once the whole object has been read (torch.load reads it all, so it fails), not on the "
    "read that returned it (go/connector/reader.go)"
)


def reader_reread_case(origin: str):
    """One flipped response to a full-chunk read, then a small read of the
    same chunk (fetched again, clean), then the rest: every read must return
    the object's bytes or raise. origin: "writer" (12 MiB written by our
    writer in 1 MiB parts, so it has a part checksum file), "put" (4 MiB put
    by another tool, within the reader's cache) or "put large" (12 MiB put by
    another tool: nothing to check a range against)."""

    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server()
        size = (4 if origin == "put" else 12) << 20
        data = hashlib.shake_256(b"reader-reread" + origin.encode()).digest(size)
        ck = checkpoint(ctx, srv, ctx.config(readChunkSize=1 << 20))
        if origin == "writer":
            with ck.writer(f"oss://{BUCKET}/ckpt/raw.bin") as w:
                w.write(data)
        else:
            srv.put_object(BUCKET, "ckpt/raw.bin", data)
        tally.expected.update({"e0:read chunk 0": digest(data[: 1 << 20]), "e0:read rest": digest(data[1 << 20 :])})
        # only the object's own GETs: not its part checksum file's
        srv.set_faults(flip_rate=1.0, fault_limit=1, ops=["GetObject"], key_pattern="ckpt/raw.bin")
        try:
            with ck.reader(f"oss://{BUCKET}/ckpt/raw.bin") as f:
                a = f.read(1 << 20)  # a whole chunk, straight into the caller's buffer
                tally.deliver("read chunk 0", digest(a))
                f.seek(0)
                f.read(10)  # a small read goes through the cache: the chunk is fetched again
                f.seek(1 << 20)
                tally.deliver("read rest", digest(f.read()))
        except Exception as e:
            tally.error(e, [n[3:] for n in tally.expected if not tally.seen[n]], clear=isinstance(e, OSError))

    return fn
