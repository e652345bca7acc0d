"""OssClient: upstream's client object, over the Go core, and the package's
one door to that core: datasets, tar shards, checkpoints, safetensors, DCP
and the tools call its methods; only this module uses ``_native``.
"""

from __future__ import annotations

import logging
import os
import uuid as _uuid
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from . import _local, _native
from ._data_object import DataObject, error_object
from ._entries import Entry, object_key, to_entry
from ._listing import Listing
from ._stats import flatten, summary
from .errors import OssError, OssNotFoundError, error_for

log = logging.getLogger(__name__)

__all__ = ["OssClient"]

O_MULTI_PART = 0x40000000  # upstream's (unused) constant


def parse_oss_uri(uri: str) -> Tuple[str, str]:
    """(bucket, key) of an ``oss://bucket/key`` or ``/bucket/key`` URI (also
    ``oss://bucket.<endpoint-host>/key``), by the core's parser (it needs no
    client); ValueError otherwise."""
    return _native.parse_uri(uri)


def cache_options(cache_path: Any, cache_bytes: Any) -> Dict[str, Any]:
    """The node-local cache arguments (docs/cache.md), checked: {} when
    neither is given (config.json's datasetConfig.cachePath/cacheBytes then
    apply, and the cache is off without them)."""
    if cache_path is None:
        cache_path = ""
    if not isinstance(cache_path, (str, os.PathLike)):
        raise TypeError(f"cache_path must be a path, got {type(cache_path).__name__}")
    cache_path = os.fspath(cache_path)
    if cache_bytes is None:
        cache_bytes = 0
    if isinstance(cache_bytes, bool) or not isinstance(cache_bytes, int) or cache_bytes < 0:
        raise ValueError(f"cache_bytes must be a positive number of bytes, got {cache_bytes!r}")
    out: Dict[str, Any] = {}
    if cache_path:
        out["cache_path"] = cache_path
    if cache_bytes:
        out["cache_bytes"] = cache_bytes
    return out


def _items(entries: Sequence[Entry]) -> List[Dict[str, Any]]:
    """The core's items for entries; a Listing made with a cache adds each
    object's listed ETag, which lets the cache serve it without asking OSS."""
    if isinstance(entries, Listing) and entries.has_etags:
        return [{"bucket": b, "key": k, "size": s, "etag": entries.etag(i)} for i, (b, k, s, _) in enumerate(entries)]
    return [{"bucket": b, "key": k, "size": s} for b, k, s, _ in entries]


class OssClient:
    """A client of OSS with upstream's constructor and methods.

    It holds plain options only: it pickles into DataLoader workers, and each
    process creates its own native client on first use (the native layer
    checks the pid on every call; tar handles are cached per process and
    never pickled).

    Besides upstream's methods it has the ones the rest of this package
    uses, so that nothing else reaches into it (not upstream's API; they may
    change): parse_uri, list_entries, read_object, read_objects, prefetch,
    for_worker, open_tar and build_tar_index. ``_id`` / ``_total`` are
    upstream's: the share of this client in the ``*_with_preload`` calls,
    which user code written for upstream sets.
    """

    def __init__(
        self,
        endpoint: str,
        cred_path: str = "",
        config_path: str = "",
        uuid: str = "",
        id: int = 0,
        total: int = 1,
        cred_provider: Any = None,
        region: str = "",
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> None:
        cache = cache_options(cache_path, cache_bytes)
        self._endpoint = endpoint or ""
        self._cred_path = cred_path or ""
        self._config_path = config_path or ""
        self._uuid = str(uuid) if uuid else str(_uuid.uuid4())
        self._id, self._total = id, total
        self._cred_provider = cred_provider
        self._region = region or ""  # None and "" both mean "infer"
        # "" is upstream's local-directory mode: /dir/file URIs name local files (see _local)
        self._native = (
            _local.LocalBackend()
            if not endpoint
            else _native.NativeClient(
                {
                    "endpoint": endpoint,
                    "cred_path": self._cred_path,
                    "config_path": self._config_path,
                    "region": self._region,
                    **cache,
                },
                cred_provider,
            )
        )
        self._tars: dict = {}  # (pid, bucket, tar, index bucket, index) -> NativeTar

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_tars"] = {}  # handles of this process: never sent to another
        return state

    def parse_uri(self, uri: str) -> Tuple[str, str]:
        """(bucket, key) of a URI, for this client's mode."""
        if isinstance(self._native, _local.LocalBackend):
            return _local.parse_uri(uri)
        return parse_oss_uri(uri)

    def for_worker(self, id: int, total: int) -> "OssClient":
        """This client with the share id of total in the ``*_with_preload``
        calls (what a dataset hands a user's get_dataset_objects in a
        DataLoader worker, as upstream's). It shares this client's
        connections and tar cache; setting its share leaves this one's as
        it is."""
        view = object.__new__(OssClient)
        view.__dict__.update(self.__dict__)
        view._id, view._total = id, total
        return view

    def stats(self) -> Dict[str, Any]:
        """What this client has done in this process (not upstream's API):
        requests (gets, lists, other_requests), bytes_in/out, retries,
        failed attempts by kind, busy_seconds, first-byte latency p50/p99
        in ms."""
        out = summary(flatten(self.raw_stats(), 0, 0))
        del out["objects"], out["bytes"]
        return out

    def raw_stats(self) -> Dict[str, Any]:
        """The core's counters as it reports them (first-byte histogram included)."""
        return self._native.stats()

    def __repr__(self) -> str:
        return f"OssClient(endpoint={self._endpoint!r}, region={self._region!r}, id={self._id}, total={self._total})"

    # ---- single objects ----

    def get_object(self, bucket: str, key: str, size: int = 0, type: int = 0, label: str = "") -> DataObject:
        """Fetch an object. type 1 opens a random-access reader (checkpoints);
        other types read the whole object into memory. A failed fetch is
        returned as a DataObject whose err() is set and whose reads raise the
        error, as upstream's (type 2, upstream's "memory" object, raises it
        here, as upstream's does)."""
        name = object_key(bucket, key)
        if type == 1:
            try:
                r = self._native.open_reader(bucket, key)
            except OssError as e:  # upstream opens lazily: torch.load, not reader(), raises
                return error_object(name, label, e)
            return DataObject(name, r.size, label, reader=r)
        try:
            data = self._native.get(bucket, key)
        except OssError as e:
            if type == 2:
                raise
            return error_object(name, label, e)
        return DataObject(name, len(data), label, data)

    def put_object(self, bucket: str, key: str, **writer_options: Any) -> DataObject:
        """A write-only DataObject: stream with write(), commit with close()."""
        w = self._native.open_writer(bucket, key, **writer_options)
        return DataObject(object_key(bucket, key), 0, "", writer=w)

    def head_object(self, bucket: str, key: str) -> DataObject:
        """Size of an object. A key that names no object but is a "directory"
        of others (``key/...`` objects exist; ``""`` is the bucket's root)
        has size 0, as upstream's, whose integrations tell files from
        directories that way. Otherwise a missing key raises OssNotFoundError."""
        name = object_key(bucket, key)
        missing: Optional[OssNotFoundError] = None
        if key:
            try:
                return DataObject(name, self._native.stat(bucket, key)["size"], "")
            except OssNotFoundError as e:
                if e.code == "NoSuchBucket":
                    raise
                missing = e
        if self._native.has_prefix(bucket, key if not key or key.endswith("/") else key + "/"):
            return DataObject(name, 0, "")
        if missing is not None:
            raise missing
        raise OssNotFoundError(
            f"HeadObject oss://{bucket}/: the bucket holds no object",
            op="HeadObject",
            bucket=bucket,
            key=key,
            kind="not_found",
        )

    def stat_object(self, bucket: str, key: str) -> Dict[str, Any]:
        """{"key", "size", "etag"} of the object bucket/key itself (one HEAD).
        Unlike head_object, a key that is only a "directory" of others
        raises OssNotFoundError: the fsspec filesystem must tell an empty
        object from a directory."""
        return self._native.stat(bucket, key)

    def has_prefix(self, bucket: str, prefix: str) -> bool:
        """Whether any object's key starts with prefix (one listing request
        for one key); a missing bucket raises OssNotFoundError."""
        return self._native.has_prefix(bucket, prefix)

    def read_range(self, bucket: str, key: str, offset: int, buf) -> int:
        """Read into buf from offset with one ranged GET; returns the bytes
        read (fewer than len(buf) only at the end of the object)."""
        return self._native.read_range(bucket, key, offset, buf)

    def rename_object(self, bucket: str, key: str, new_bucket: str, new_key: str) -> None:
        self._native.rename(bucket, key, new_bucket, new_key)

    def remove_object(self, bucket: str, key: str) -> None:
        self._native.remove(bucket, key)

    # ---- many objects ----

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[DataObject]:
        """Descriptors (key, size) of every object under prefix, in key order."""
        for o in self._native.list(bucket, prefix):
            yield DataObject(object_key(bucket, o["key"]), o["size"], "")

    def list_entries(self, bucket: str, prefix: str = "", *, concurrently: bool = False) -> Sequence[Entry]:
        """(bucket, key, size, "") of every object under prefix, in key order:
        from OSS a compact Listing (one buffer, entries made on demand, so a
        million keys stay a few tens of MiB and forked workers copy none of
        it); in local-directory mode a list. concurrently: nothing is used
        before the listing is whole (a shuffled or resumed epoch), so the core
        lists key ranges concurrently unless config.json turns FastList off
        (docs/listing.md)."""
        if hasattr(self._native, "list_packed"):
            return self._native.list_packed(bucket, prefix, concurrently)
        return [(bucket, o["key"], o["size"], "") for o in self._native.list(bucket, prefix)]

    @property
    def streams_listings(self) -> bool:
        """Whether list_entries_stream hands a listing over page by page
        (OSS), rather than whole (local-directory mode)."""
        return not isinstance(self._native, _local.LocalBackend)

    def list_entries_stream(self, bucket: str, prefix: str = "", max_keys: int = 16384) -> Iterator[Sequence[Entry]]:
        """list_entries, handed over as the listing arrives: compact
        Listings of at most max_keys entries, in key order (the listing runs
        on in the core between calls). Closing the iterator stops it."""
        if not self.streams_listings:
            yield self.list_entries(bucket, prefix)
            return
        lister = self._native.lister(bucket, prefix)
        try:
            while True:
                chunk = lister.next_listing(max_keys)
                if chunk is None:
                    return
                yield chunk
        finally:
            lister.close()

    def read_object(self, bucket: str, key: str) -> bytes:
        """The whole object; a failure raises its OssError."""
        return self._native.get(bucket, key)

    def read_objects(self, entries: List[Entry]) -> List[Union[bytes, Exception]]:
        """The objects of entries, fetched concurrently: per entry, in input
        order, its bytes or the OssError it failed with."""
        return self._native.batch_get(_items(entries))

    def prefetch(
        self,
        entries: Optional[List[Entry]] = None,
        *,
        bucket: str = "",
        prefix: str = "",
        worker: Optional[Tuple[int, int]] = None,
        include_errors: bool = False,
        ordered: bool = False,
        positions: bool = False,
    ) -> Iterator[Any]:
        """One share of entries (or, without entries, of the objects under
        bucket/prefix), fetched concurrently, as DataObjects in completion
        order, or with ordered in the share's order (requests still run
        concurrently; one that completes early waits, within the memory
        budget, for those before it). worker is (share, total); None takes
        this client's own (``_id`` of ``_total``). A failed object raises its
        error, or with include_errors comes as an error object. With
        positions, each comes as (its position in entries, object)."""
        share, total = worker if worker is not None else (self._id, self._total)
        source: dict = {"bucket": bucket, "prefix": prefix} if entries is None else {}
        if ordered:
            source["ordered"] = True
        return self._prefetched(entries, include_errors, share, total, source, positions)

    def streamed_prefetch(self, *, include_errors: bool = False, ordered: bool = False) -> "StreamedPrefetch":
        """A prefetch whose entries arrive while it runs (OSS only, see
        streams_listings): feed() them from any thread, end() when there
        are no more; iterating it gives (position in the stream,
        DataObject), as prefetch does."""
        native = self._native.prefetch(stream=True, ordered=ordered)
        return StreamedPrefetch(native, include_errors)

    def _prefetched(
        self,
        entries: Optional[List[Entry]],
        include_errors: bool,
        share: int,
        total: int,
        source: dict,
        positions: bool = False,
    ) -> Iterator[Any]:
        if entries is not None:
            source["items"] = _items(entries)
        it = self._native.prefetch(worker_id=share, worker_count=total, **source)
        try:
            for index, bucket, key, data in it:
                label = entries[index][3] if entries is not None else ""
                name = f"/{bucket}/{key}"  # object_key, inlined: once per sample
                if isinstance(data, Exception):
                    if not include_errors:
                        raise data
                    obj = error_object(name, label, data)
                else:
                    obj = DataObject(name, len(data), label, data)
                yield (index, obj) if positions else obj
        finally:
            it.close()

    def list_objects_with_preload(
        self, bucket: str, prefix: str = "", include_errors: bool = False
    ) -> Iterator[DataObject]:
        """Every object under prefix, fetched concurrently, in completion order;
        this client's share (id of total) only."""
        return self.prefetch(bucket=bucket, prefix=prefix, include_errors=include_errors)

    def list_objects_from_uris(
        self, object_uris: Iterable, prefetch: bool = False, include_errors: bool = False
    ) -> Iterator[DataObject]:
        """Fetch the given objects (DataObject descriptors or URIs) in input
        order; with prefetch, concurrently as one batch."""
        # a Listing is kept as it is: it may carry ETags for the cache
        entries = object_uris if isinstance(object_uris, Listing) else _entries(object_uris, self.parse_uri)
        if not prefetch:
            for b, k, _, label in entries:
                obj = self.get_object(b, k, label=label)
                if obj.err() and not include_errors:
                    raise error_for(obj.err(), obj.error_msg(), obj.exception())
                yield obj
            return
        results = self.read_objects(entries)
        for (b, k, _, label), r in zip(entries, results):
            name = object_key(b, k)
            if isinstance(r, Exception):
                if not include_errors:
                    raise r
                yield error_object(name, label, r)
            else:
                yield DataObject(name, len(r), label, r)

    def open_tar(
        self, bucket: str, tar_key: str, index_key: str, index_bucket: Optional[str] = None
    ) -> _native.NativeTar:
        """The tar at bucket/tar_key, opened through its index object (either
        connector's encoding); cached per process."""
        k = (os.getpid(), bucket, tar_key, index_bucket or bucket, index_key)
        if k not in self._tars:
            self._tars[k] = self._native.open_tar(bucket, tar_key, index_bucket or bucket, index_key)
        return self._tars[k]

    def build_tar_index(self, tar_path: str) -> Tuple[bytes, bytes]:
        """The index of the tar at tar_path (an ``oss://`` object, streamed
        once, or a local file): (upstream's encoding, our checksum file)."""
        if tar_path.startswith("oss://"):
            return self._native.tar_index_build(*parse_oss_uri(tar_path))
        return _native.tar_index_from_file(tar_path)

    def list_objects_from_tar(
        self,
        bucket: str,
        tar_key: str,
        index_key: str,
        chunks: Iterable = [],
        sizes: Iterable = [],  # noqa: B006 (upstream's defaults; never mutated)
        prefetch: bool = False,
        include_errors: bool = False,
    ) -> List[DataObject]:
        """Members of a tar by position: with sizes, the runs
        chunks[i] .. chunks[i]+sizes[i]-1; else the positions in chunks. Each
        run of consecutive members is one ranged read; results in order. A
        member's key is its name in the tar, its label its position (as
        upstream's)."""
        tar = self.open_tar(bucket, tar_key, index_key)
        chunks, sizes = list(chunks), list(sizes)
        indices = [c + k for c, n in zip(chunks, sizes) for k in range(n)] if sizes else chunks
        out = []
        for i, (name, r) in zip(indices, tar.read(indices)):
            label = str(i)
            if isinstance(r, Exception):
                if not include_errors:
                    raise r
                known = tar.members[i]["name"] if 0 <= i < len(tar.members) else ""
                out.append(error_object(name or known or f"{tar_key}[{i}]", label, r))
            else:
                out.append(DataObject(name, len(r), label, r))
        return out

    def gen_tar_archive(self, tar_path: str, index_path: str, source_path: str, index_only: bool = False) -> int:
        """generate_tar_archive with this client's endpoint and credentials."""
        from ._tar_archive import write_tar_archive

        return write_tar_archive(self, tar_path, index_path, source_path, index_only)

    def list_objects_from_uris_with_preload(
        self, object_uris: Iterable, include_errors: bool = False
    ) -> Iterator[DataObject]:
        """Fetch this client's share of the given objects concurrently, in
        completion order."""
        return self.prefetch(_entries(object_uris, self.parse_uri), include_errors=include_errors)


class StreamedPrefetch:
    """What OssClient.streamed_prefetch returns: the core fetches what is
    fed, concurrently, within its memory budget; the iteration (one thread)
    and the feeding (another) meet only in the core."""

    __slots__ = ("_native", "_include_errors", "_fed", "_labels")

    def __init__(self, native, include_errors: bool) -> None:
        self._native = native
        self._include_errors = include_errors
        self._fed = 0
        self._labels: Dict[int, str] = {}  # position -> label, only where there is one

    @property
    def closed(self) -> bool:
        return not self._native._owned()

    def feed(self, entries: Sequence[Entry]) -> None:
        """Queue entries after those fed before (never waits for fetching)."""
        for i, e in enumerate(entries):
            if e[3]:
                self._labels[self._fed + i] = e[3]
        self._native.add(_items(entries))
        self._fed += len(entries)

    def end(self) -> None:
        """No more entries: the iteration ends once those fed are delivered."""
        self._native.end()

    def close(self) -> None:
        self._native.close()

    def __iter__(self) -> Iterator[Tuple[int, DataObject]]:
        try:
            for index, bucket, key, data in self._native:
                name = f"/{bucket}/{key}"
                label = self._labels.pop(index, "") if self._labels else ""
                if isinstance(data, Exception):
                    if not self._include_errors:
                        raise data
                    yield index, error_object(name, label, data)
                else:
                    yield index, DataObject(name, len(data), label, data)
        finally:
            self._native.close()


def _entries(object_uris: Iterable, parse) -> List[Entry]:
    return [to_entry(u, parse) for u in object_uris]
