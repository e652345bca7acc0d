"""Listing: a compact, read-only sequence of (bucket, key, size, label) entries.

A listing of a million keys kept as Python tuples costs hundreds of MiB, and
every DataLoader worker forked from the process that holds it copies the
pages it touches (reading a Python object writes its reference count). A
Listing holds the keys in one bytes buffer with an array of offsets, and the
sizes in an array: a few allocations whatever the length, about 16 bytes a
key plus the key bytes, and reading it writes nothing, so forked workers
share it. Entries are made when asked for.

The packed form (what ost_list_packed returns, see include/osstorch.h) is
kept as it arrives: a header {u64 count, u64 keys_len}, count i64 sizes,
count+1 u64 key offsets, then the keys, all little-endian. A client with a
node-local cache appends the objects' ETags {u64 etags_len, count+1 u64
offsets, the ETags}: entries stay (bucket, key, size, label), and the ETags
travel beside them to the fetch (etag(i)), where the cache checks its entry
against them without asking OSS (docs/cache.md).
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import accumulate
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from ._entries import Entry

_HEADER = struct.Struct("<QQ")


def _int_array(data: Union[bytes, memoryview]) -> Union[memoryview, array]:
    """Little-endian 64-bit integers as a sequence without copying them
    (a copy, byte-swapped, on a big-endian host)."""
    if sys.byteorder == "little":
        return memoryview(data).cast("B").cast("q")
    a = array("q")
    a.frombytes(bytes(data))
    a.byteswap()
    return a


def _le_bytes(a: array) -> bytes:
    b = array("q", a)
    b.byteswap()
    return b.tobytes()


def _decode(b: bytes) -> str:
    try:
        return b.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:  # as the JSON listing shows such a key
        return b.decode("utf-8", "replace")


def _ints_le(seq) -> bytes:
    """64-bit integers (array or memoryview of "q") as little-endian bytes."""
    if sys.byteorder == "little":
        return seq.tobytes()
    return _le_bytes(array("q", seq))


class _Strings:
    """Strings packed as UTF-8 in data[base:], cut by n+1 offsets."""

    __slots__ = ("data", "base", "offsets")

    def __init__(self, data: bytes, base: int, offsets) -> None:
        self.data = data
        self.base = base
        self.offsets = offsets

    @classmethod
    def pack(cls, strings: Iterable[str]) -> "_Strings":
        encoded = [s.encode("utf-8", "surrogatepass") for s in strings]
        offsets = array("q", [0])
        offsets.extend(accumulate(len(b) for b in encoded))
        return cls(b"".join(encoded), 0, offsets)

    def raw(self, i: int) -> bytes:
        o = self.offsets
        return self.data[self.base + o[i] : self.base + o[i + 1]]

    def get(self, i: int) -> str:
        return _decode(self.raw(i))

    def nbytes(self) -> int:
        return len(self.data) - self.base + 8 * len(self.offsets)

    def take(self, indices: Sequence[int]) -> "_Strings":
        parts = [self.raw(i) for i in indices]
        offsets = array("q", [0])
        offsets.extend(accumulate(len(p) for p in parts))
        return _Strings(b"".join(parts), 0, offsets)

    @classmethod
    def concat(cls, parts: Sequence["_Strings"]) -> "_Strings":
        datas = []
        offsets = array("q", [0])
        at = 0
        for p in parts:
            o = p.offsets
            first, last = o[0], o[len(o) - 1]
            datas.append(p.data[p.base + first : p.base + last])
            shift = at - first
            offsets.extend(x + shift for x in o[1:])
            at += last - first
        return cls(b"".join(datas), 0, offsets)

    def state(self) -> Tuple[bytes, bytes]:
        """(string bytes, offsets as little-endian bytes), for pickling."""
        o = self.offsets
        if self.base == 0 and len(self.data) == o[len(o) - 1]:
            data = self.data
        else:
            data = self.data[self.base + o[0] : self.base + o[len(o) - 1]]
        if o[0] != 0:
            o = array("q", (x - o[0] for x in o))
        return data, _ints_le(o)


class Listing:
    """A read-only sequence of (bucket, key, size, label) entries, stored
    packed: see the module's docstring."""

    __slots__ = ("_buckets", "_bucket_idx", "_keys", "_sizes", "_labels", "_etags", "__weakref__")

    def __init__(
        self,
        buckets: Tuple[str, ...],
        bucket_idx: Optional[array],
        keys: _Strings,
        sizes,
        labels: Optional[_Strings] = None,
        etags: Optional[_Strings] = None,
    ) -> None:
        if len(keys.offsets) != len(sizes) + 1:
            raise ValueError("a listing needs one key offset more than it has sizes")
        if bucket_idx is None and len(buckets) != 1 and len(sizes):
            raise ValueError("a listing of several buckets needs a bucket index")
        self._buckets = buckets
        self._bucket_idx = bucket_idx  # None: every entry is in buckets[0]
        self._keys = keys
        self._sizes = sizes
        self._labels = labels  # None: every label is ""
        self._etags = etags  # None: no ETags known (no cache, or not from a listing)

    # ---- construction ----

    @classmethod
    def from_packed(cls, bucket: str, buf: bytes) -> "Listing":
        """A listing of bucket from ost_list_packed's buffer (kept, not copied)."""
        if len(buf) < _HEADER.size:
            raise ValueError("packed listing too short for its header")
        count, keys_len = _HEADER.unpack_from(buf)
        sizes_at = _HEADER.size
        offs_at = sizes_at + 8 * count
        keys_at = offs_at + 8 * (count + 1)
        end = keys_at + keys_len
        etags_len = None
        if len(buf) > end and len(buf) >= end + 8:  # the ETags section
            (etags_len,) = struct.unpack_from("<Q", buf, end)
            end += 8 + 8 * (count + 1) + etags_len
        if len(buf) != end:
            raise ValueError(
                f"packed listing of {count} keys and {keys_len} key bytes should be "
                f"{keys_at + keys_len} bytes (or more, with ETags), not {len(buf)}"
            )
        buf = bytes(buf)
        view = memoryview(buf)
        sizes = _int_array(view[sizes_at:offs_at])
        offsets = _int_array(view[offs_at:keys_at])
        if offsets[0] != 0 or offsets[count] != keys_len:
            raise ValueError("packed listing's key offsets do not span its keys")
        etags = None
        if etags_len is not None:
            eoffs_at = keys_at + keys_len + 8
            etags_at = eoffs_at + 8 * (count + 1)
            eoffs = _int_array(view[eoffs_at:etags_at])
            if eoffs[0] != 0 or eoffs[count] != etags_len:
                raise ValueError("packed listing's ETag offsets do not span its ETags")
            etags = _Strings(buf, etags_at, eoffs)
        return cls((bucket,), None, _Strings(buf, keys_at, offsets), sizes, None, etags)

    @classmethod
    def from_entries(cls, entries: Iterable[Sequence]) -> "Listing":
        """A listing of (bucket, key, size[, label]) entries, in their order."""
        buckets: List[str] = []
        where = {}
        idx = array("i")
        keys: List[str] = []
        sizes = array("q")
        labels: List[str] = []
        for e in entries:
            if len(e) not in (3, 4):
                raise ValueError(f"a listing entry is (bucket, key, size[, label]), not {e!r}")
            b, k, s = e[0], e[1], e[2]
            label = e[3] if len(e) == 4 else ""
            if not isinstance(b, str) or not isinstance(k, str) or not isinstance(label, str):
                raise TypeError(f"bucket, key and label of a listing entry must be str: {e!r}")
            if isinstance(s, bool) or not isinstance(s, int):
                raise TypeError(f"the size of a listing entry must be an int: {e!r}")
            j = where.get(b)
            if j is None:
                j = where[b] = len(buckets)
                buckets.append(b)
            idx.append(j)
            keys.append(k)
            sizes.append(s)
            labels.append(label)
        if not buckets:
            buckets = [""]
        return cls(
            tuple(buckets),
            idx if len(buckets) > 1 else None,
            _Strings.pack(keys),
            sizes,
            _Strings.pack(labels) if any(labels) else None,
        )

    @classmethod
    def concat(cls, parts: Sequence["Listing"]) -> "Listing":
        """The listings one after the other (pages of one listing: the
        buffers are joined, not made into entries)."""
        if not parts:
            return cls.from_entries(())
        first = parts[0]
        simple = all(
            p._buckets == first._buckets
            and p._bucket_idx is None
            and p._labels is None
            and (p._etags is None) == (first._etags is None)
            for p in parts
        )
        if not simple:
            return cls.from_entries(e for p in parts for e in p)
        sizes = array("q")
        for p in parts:
            sizes.extend(p._sizes)
        etags = None if first._etags is None else _Strings.concat([p._etags for p in parts])
        return cls(first._buckets, None, _Strings.concat([p._keys for p in parts]), sizes, None, etags)

    # ---- the sequence ----

    def __len__(self) -> int:
        return len(self._sizes)

    def _index(self, i: int) -> int:
        n = len(self._sizes)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("listing index out of range")
        return i

    def _entry(self, i: int) -> Entry:
        b = self._buckets[0] if self._bucket_idx is None else self._buckets[self._bucket_idx[i]]
        label = "" if self._labels is None else self._labels.get(i)
        return (b, self._keys.get(i), self._sizes[i], label)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return self.take(range(*i.indices(len(self))))
        if isinstance(i, bool) or not hasattr(i, "__index__"):
            raise TypeError(f"listing indices must be integers or slices, not {type(i).__name__}")
        return self._entry(self._index(i.__index__()))

    def __iter__(self) -> Iterator[Entry]:
        for i in range(len(self)):
            yield self._entry(i)

    def key(self, i: int) -> str:
        return self._keys.get(self._index(i))

    def size(self, i: int) -> int:
        return self._sizes[self._index(i)]

    @property
    def has_etags(self) -> bool:
        """Whether the listing knows its objects' ETags (its client has a cache)."""
        return self._etags is not None

    def etag(self, i: int) -> str:
        """The ETag entry i was listed with ("" when unknown)."""
        return "" if self._etags is None else self._etags.get(self._index(i))

    def take(self, indices: Iterable[int]) -> "Listing":
        """A new listing of the entries at indices, in that order (a share)."""
        idx = [self._index(int(i)) for i in indices]
        bidx = None if self._bucket_idx is None else array("i", (self._bucket_idx[i] for i in idx))
        return Listing(
            self._buckets,
            bidx,
            self._keys.take(idx),
            array("q", (self._sizes[i] for i in idx)),
            None if self._labels is None else self._labels.take(idx),
            None if self._etags is None else self._etags.take(idx),
        )

    def nbytes(self) -> int:
        """The bytes its buffers hold (not counting the few objects around them)."""
        n = self._keys.nbytes() + 8 * len(self._sizes)
        if self._etags is not None:
            n += self._etags.nbytes()
        if self._bucket_idx is not None:
            n += self._bucket_idx.itemsize * len(self._bucket_idx)
        if self._labels is not None:
            n += self._labels.nbytes()
        return n

    def __repr__(self) -> str:
        return f"<Listing of {len(self)} entries in {', '.join(map(repr, self._buckets))}>"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Listing):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other))

    __hash__ = None  # type: ignore[assignment]

    # ---- pickling: the buffers as they are (cheap for spawn workers) ----

    def __reduce__(self):
        labels = None if self._labels is None else self._labels.state()
        args = (self._buckets, self._bucket_idx, self._keys.state(), _ints_le(self._sizes), labels)
        if self._etags is not None:
            args += (self._etags.state(),)
        return (_rebuild, args)


def _rebuild(buckets, bucket_idx, keys, sizes, labels, etags=None) -> Listing:
    lab = None if labels is None else _Strings(labels[0], 0, _int_array(labels[1]))
    tags = None if etags is None else _Strings(etags[0], 0, _int_array(etags[1]))
    return Listing(tuple(buckets), bucket_idx, _Strings(keys[0], 0, _int_array(keys[1])), _int_array(sizes), lab, tags)
