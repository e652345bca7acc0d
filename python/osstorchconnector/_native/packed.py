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
_HEADER = struct.Struct("<II")
_RECORD = struct.Struct("<QQQIIII")
_ITEM = struct.Struct("<IIq")
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


def encode_items(items: Sequence[Tuple[str, str, int]]) -> bytes:
    """A packed items buffer for (bucket, key, size) triples."""
    heads, strings = [], []
    for bucket, key, size in items:
        b, k = bucket.encode(), key.encode()
        heads.append(_ITEM.pack(len(b), len(k), max(int(size or 0), 0)))
        strings.append(b)
        strings.append(k)
    return _HEADER.pack(ITEMS_MAGIC, len(items)) + b"".join(heads) + b"".join(strings)
