"""The packed batches of include/osstorch.h (ost_prefetch_next_batch,
ost_batch_get_packed, ost_tar_read_packed): fixed little-endian records, no
JSON on the per-object path except for error details.

Each body arrives in a malloc'd block of its own that the socket was read
into. It is copied once, into the bytes a DataObject then holds (and
read() hands out as it is), and the block is freed with libc's free(),
which equals ost_free but never enters the Go runtime, so it is also safe
in a forked child.
"""

from __future__ import annotations

import ctypes
import json
import struct
from typing import List, Sequence, Tuple, Union

from ..errors import OssInternalError, error_from_details

RESULTS_MAGIC = 0x3142534F  # "OSB1"
ITEMS_MAGIC = 0x3149534F  # "OSI1"
ITEMS_ETAG_MAGIC = 0x3249534F  # "OSI2": items that carry their listing's ETag
_HEADER = struct.Struct("<II")
_RECORD = struct.Struct("<QQQIIII")
_ITEM = struct.Struct("<IIq")
_ITEM_ETAG = struct.Struct("<IIqII")
ERROR_FLAG = 1

_libc = ctypes.CDLL(None)
_free = _libc.free
_free.argtypes, _free.restype = [ctypes.c_void_p], None

# (index, bucket, key, body bytes or the OssError the object failed with)
Result = Tuple[int, str, str, Union[bytes, Exception]]


def decode_results(ptr: int, length: int) -> List[Result]:
    """Read a packed results buffer and take its bodies: every non-zero body
    block is freed here, also when the buffer turns out malformed."""
    raw = ctypes.string_at(ptr, length)
    records = []
    try:
        magic, count = _HEADER.unpack_from(raw, 0)
        if magic != RESULTS_MAGIC or _HEADER.size + count * _RECORD.size > length:
            raise OssInternalError("malformed packed batch from the core")
        records = list(_RECORD.iter_unpack(raw[_HEADER.size : _HEADER.size + count * _RECORD.size]))
        out: List[Result] = []
        at = _HEADER.size + count * _RECORD.size
        string_at = ctypes.string_at
        for index, body_ptr, body_len, blen, klen, elen, flags in records:
            bucket = raw[at : at + blen].decode()
            key = raw[at + blen : at + blen + klen].decode()
            at += blen + klen
            if flags & ERROR_FLAG:
                out.append((index, bucket, key, error_from_details(json.loads(raw[at : at + elen]))))
                at += elen
            else:
                out.append((index, bucket, key, string_at(body_ptr, body_len) if body_len else b""))
        return out
    finally:
        for r in records:
            if r[1]:
                _free(r[1])


def encode_items(items: Sequence[Tuple]) -> bytes:
    """A packed items buffer for (bucket, key, size[, etag]) items (etag ""
    or left out when unknown); OSI1 when no item has an ETag."""
    heads, strings = [], []
    with_etags = any(len(it) > 3 and it[3] for it in items)
    for it in items:
        bucket, key, size = it[0], it[1], it[2]
        etag = it[3] if len(it) > 3 else ""
        b, k = bucket.encode(), key.encode()
        if with_etags:
            e = etag.encode()
            heads.append(_ITEM_ETAG.pack(len(b), len(k), max(int(size or 0), 0), len(e), 0))
            strings += (b, k, e)
        else:
            heads.append(_ITEM.pack(len(b), len(k), max(int(size or 0), 0)))
            strings += (b, k)
    magic = ITEMS_ETAG_MAGIC if with_etags else ITEMS_MAGIC
    return _HEADER.pack(magic, len(items)) + b"".join(heads) + b"".join(strings)
