"""An fsspec filesystem for ``oss://`` on the Go core: pandas, pyarrow,
Hugging Face datasets, dask and every other fsspec user read and write OSS
through the same client as the datasets and checkpoints.

    import pandas as pd
    opts = {"endpoint": "oss-cn-hangzhou-internal.aliyuncs.com", "cred_path": "/mnt/.alibabacloud/credentials"}
    df = pd.read_parquet("oss://bucket/table.parquet", storage_options=opts)

    from osstorchconnector.fsspec import OssFsspecFileSystem
    fs = OssFsspecFileSystem(**opts)
    fs.cat(["bucket/a.json", "bucket/b.json"])     # one batch of concurrent GETs

The package registers this class for the ``oss`` and ``osstorch`` protocols
through fsspec's ``fsspec.specs`` entry point; fsspec lets an entry point
replace its built-in ``oss`` -> ossfs mapping, so with this package installed
``oss://`` is ours. ``osstorch://`` names ours whatever else is installed;
ossfs stays reachable as ``ossfs.OSSFileSystem`` (docs/fsspec.md).

Paths are ``bucket/key`` (``oss://`` and a leading ``/`` are stripped). OSS
has no directories: a "directory" is a key prefix that some object's key
continues with ``/``. docs/fsspec.md says what each operation costs in
requests and where it differs from a local file system.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import sys
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import stringify_path

from ._oss_client import OssClient
from .errors import OssError

__all__ = ["OssFsspecFileSystem", "OssFsspecFile"]

log = logging.getLogger(__name__)

# The writer stores this beside every object it uploads in parts (see
# go/connector/partcrc.go); it is the object's companion, not a file of its own.
_PART_CHECKSUM_SUFFIX = ".osstorch-crc64"

# Options fsspec itself gives every filesystem; anything else not named in
# the constructor is a mistake worth an error (a misspelt cred_path would
# otherwise fall through to other credentials silently).
_FSSPEC_OPTIONS = frozenset({"use_listings_cache", "listings_expiry_time", "max_paths", "asynchronous", "loop"})

# Writes below this size are gathered in Python and handed to the core
# together: a parquet or pickle writer makes many small writes, and each
# crossing into the core has a fixed cost.
_GATHER_BELOW = 256 << 10
_GATHER_UP_TO = 1 << 20
# readline reads ahead this much and keeps it: a line is found without a
# call into the core per line, and without fetching a whole block per line
_LINE_STEP = 64 << 10
# cp's copy buffer: as large as the parts the reader and the writer move
_COPY_STEP = 8 << 20


def _copy(src, dst, step: int, progress=None) -> None:
    """src (readinto) to dst (write), step bytes at a time through one buffer."""
    mv = memoryview(bytearray(step))
    while True:
        n = src.readinto(mv)
        if not n:
            return
        dst.write(mv[:n])
        if progress is not None:
            progress(n)


class _StaticCredentials:
    """ossfs's ``key``/``secret``/``token`` storage options as a cred_provider;
    its repr never shows them."""

    __slots__ = ("_key", "_secret", "_token")

    def __init__(self, key: str, secret: str, token: Optional[str]) -> None:
        self._key, self._secret, self._token = key, secret, token

    def get_credentials(self) -> Dict[str, str]:
        out = {"AccessKeyId": self._key, "AccessKeySecret": self._secret}
        if self._token:
            out["SecurityToken"] = self._token
        return out

    def __repr__(self) -> str:
        return "<static OSS credentials>"

    def __reduce__(self):
        return (_StaticCredentials, (self._key, self._secret, self._token))


def _missing(path: str, what: str = "no such object") -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, what, f"oss://{path}")


class OssFsspecFileSystem(AbstractFileSystem):
    """fsspec's AbstractFileSystem over OssClient.

    Storage options (upstream's constructor arguments):
        endpoint: OSS endpoint, with or without scheme (default: the
            ``OSS_ENDPOINT`` environment variable).
        cred_path, config_path, cred_provider, region: as OssClient (README,
            "Configuration"); without any, the core looks for credentials in
            the environment and upstream's files.
        key, secret, token: ossfs's names for static credentials, accepted so
            that storage options written for ossfs keep working.
        default_block_size, default_cache_type: ossfs's read-cache options,
            accepted and ignored: reads go through the core's reader, which
            has its own read-ahead.

    Reads: ``open(..., "rb")`` is the core's random-access reader (parallel
    ranged GETs, read-ahead for sequential reads); ``cat`` of many paths is
    one batch of concurrent GETs. Writes: ``open(..., "wb")`` streams through
    the core's multipart writer and the object appears only when the file is
    closed; an exception inside ``with fs.open(...)`` discards it.
    """

    protocol = ("oss", "osstorch")
    root_marker = ""
    # get_file's read size: the reader fetches in parts of this order anyway
    blocksize = 8 << 20

    def __init__(
        self,
        endpoint: Optional[str] = None,
        cred_path: str = "",
        config_path: str = "",
        cred_provider: Any = None,
        region: str = "",
        key: Optional[str] = None,
        secret: Optional[str] = None,
        token: Optional[str] = None,
        default_block_size: Optional[int] = None,
        default_cache_type: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        unknown = sorted(set(kwargs) - _FSSPEC_OPTIONS)
        if unknown:
            raise TypeError(
                f"OssFsspecFileSystem got unknown storage option(s) {unknown}; it takes endpoint, cred_path, "
                "config_path, cred_provider, region (and ossfs's key, secret, token)"
            )
        super().__init__(**kwargs)
        endpoint = endpoint or os.environ.get("OSS_ENDPOINT", "")
        if not endpoint:
            raise ValueError("an OSS endpoint is required: pass endpoint= (storage option) or set OSS_ENDPOINT")
        if key or secret or token:
            if not (key and secret):
                raise ValueError("static credentials need both key and secret")
            if cred_provider is not None or cred_path:
                raise ValueError("give key/secret or cred_provider/cred_path, not both")
            cred_provider = _StaticCredentials(key, secret, token)
        self.endpoint = endpoint
        self.region = region or ""
        self._client = OssClient(endpoint, cred_path, config_path, cred_provider=cred_provider, region=region)

    def __repr__(self) -> str:
        return f"OssFsspecFileSystem(endpoint={self.endpoint!r}, region={self.region!r})"

    @property
    def client(self) -> OssClient:
        """The OssClient this filesystem works through (stats() and the rest)."""
        return self._client

    # ---- paths ----

    @classmethod
    def _strip_protocol(cls, path):
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        path = stringify_path(path)
        for proto in cls.protocol:
            for sep in ("://", "::"):
                if path.startswith(proto + sep):
                    path = path[len(proto) + len(sep) :]
                    break
        return path.strip("/")

    def _split(self, path: str) -> Tuple[str, str]:
        """(bucket, key) of a path; key "" for the bucket itself."""
        path = self._strip_protocol(path)
        bucket, _, key = path.partition("/")
        if not bucket:
            raise ValueError(f"{path!r} names no bucket: paths are bucket/key")
        return bucket, key

    def _object(self, path: str) -> Tuple[str, str]:
        """(bucket, key) of a path that must name an object."""
        bucket, key = self._split(path)
        if not key:
            raise IsADirectoryError(errno.EISDIR, "a bucket is not an object", f"oss://{bucket}")
        return bucket, key

    # ---- listing ----

    def _listing(self, bucket: str, prefix: str) -> List[Tuple[str, int]]:
        """(key, size) of every object under prefix, in key order, without
        the part checksum files of objects listed beside them."""
        entries = [(k, s) for _, k, s, _ in self._client.list_entries(bucket, prefix)]
        names = {k for k, _ in entries}
        n = len(_PART_CHECKSUM_SUFFIX)
        return [(k, s) for k, s in entries if not (k.endswith(_PART_CHECKSUM_SUFFIX) and k[:-n] in names)]

    @staticmethod
    def _file(name: str, size: int, etag: str = "") -> Dict[str, Any]:
        out: Dict[str, Any] = {"name": name, "size": size, "type": "file"}
        if etag:
            out["ETag"] = etag
        return out

    @staticmethod
    def _dir(name: str) -> Dict[str, Any]:
        return {"name": name, "size": 0, "type": "directory"}

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> List[Any]:
        """The entries directly under path: objects, and "directories" derived
        from longer keys. The whole prefix is listed (OSS pages of 1,000
        keys), not only its first level. A path that names an object lists
        as that object."""
        path = self._strip_protocol(path)
        bucket, key = self._split(path)
        prefix = key + "/" if key else ""
        files: Dict[str, Dict[str, Any]] = {}
        dirs: Dict[str, Dict[str, Any]] = {}
        listed = False
        for k, size in self._listing(bucket, prefix):
            listed = True
            rel = k[len(prefix) :]
            head, sep, _ = rel.partition("/")
            if not head:  # the prefix's own marker object ("dir/"), or a key with "//"
                continue
            name = f"{bucket}/{prefix}{head}"
            if sep:
                dirs.setdefault(name, self._dir(name))
            else:
                files[name] = self._file(name, size)
        if not listed and key:
            try:
                st = self._client.stat_object(bucket, key)
            except FileNotFoundError:
                raise _missing(path, "no such object or prefix") from None
            out = [self._file(path, st["size"], st.get("etag", ""))]
        else:
            out = sorted([*files.values(), *dirs.values()], key=lambda e: (e["name"], e["type"]))
        return out if detail else [e["name"] for e in out]

    def find(
        self, path: str, maxdepth: Optional[int] = None, withdirs: bool = False, detail: bool = False, **kwargs: Any
    ) -> Union[List[str], Dict[str, Dict[str, Any]]]:
        """Every object under path (and with withdirs the directories its
        keys imply), from one listing of the prefix."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        path = self._strip_protocol(path)
        bucket, key = self._split(path)
        prefix = key + "/" if key else ""
        out: Dict[str, Dict[str, Any]] = {}
        listed = False
        for k, size in self._listing(bucket, prefix):
            listed = True
            parts = k[len(prefix) :].split("/")
            if withdirs:
                for depth in range(1, len(parts)):
                    if maxdepth is not None and depth > maxdepth:
                        break
                    if parts[depth - 1]:
                        name = f"{bucket}/{prefix}{'/'.join(parts[:depth])}"
                        out.setdefault(name, self._dir(name))
            if parts[-1] and (maxdepth is None or len(parts) <= maxdepth):
                name = f"{bucket}/{k}"
                out[name] = self._file(name, size)
        if listed and withdirs and key:
            out.setdefault(path, self._dir(path))
        if not listed and key:
            try:
                st = self._client.stat_object(bucket, key)
                out[path] = self._file(path, st["size"], st.get("etag", ""))
            except FileNotFoundError:
                pass
        names = sorted(out)
        return {n: out[n] for n in names} if detail else names

    def walk(self, path: str, maxdepth: Optional[int] = None, topdown: bool = True, on_error="omit", **kwargs: Any):
        """os.walk's triples, from one listing of the prefix (fsspec's own
        walk would list the prefix again under every directory)."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        detail = kwargs.pop("detail", False)
        path = self._strip_protocol(path)
        try:
            found = self.find(path, maxdepth=maxdepth, withdirs=True, detail=True)
        except OSError as e:
            if on_error == "raise":
                raise
            if callable(on_error):
                on_error(e)
            return
        if found.get(path, {}).get("type") == "file" or not found:
            return
        tree: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {path: ({}, {})}
        for name, info in found.items():
            if name == path:
                continue
            parent = name.rsplit("/", 1)[0]
            base = name.rsplit("/", 1)[1]
            entry = tree.setdefault(parent, ({}, {}))
            (entry[0] if info["type"] == "directory" else entry[1])[base] = info
            if info["type"] == "directory":
                tree.setdefault(name, ({}, {}))
        yield from self._walk_tree(tree, path, detail, topdown)

    def _walk_tree(self, tree, root: str, detail: bool, topdown: bool) -> Iterator[Tuple[str, Any, Any]]:
        dirs, files = tree.get(root, ({}, {}))
        here = (root, dict(dirs) if detail else sorted(dirs), files if detail else sorted(files))
        if topdown:
            yield here
        # top-down, as os.walk: the directories the caller left in the list it was given
        for d in sorted(here[1] if topdown else dirs):
            yield from self._walk_tree(tree, f"{root}/{d}", detail, topdown)
        if not topdown:
            yield here

    def info(self, path: str, **kwargs: Any) -> Dict[str, Any]:
        """An object's name, size, type "file" and ETag (one HEAD); a prefix
        that longer keys continue with "/" is a directory (one more listing
        request of one key); else FileNotFoundError."""
        path = self._strip_protocol(path)
        bucket, key = self._split(path)
        if not key:
            self._client.has_prefix(bucket, "")  # raises for a missing bucket; an empty one exists
            return self._dir(bucket)
        try:
            st = self._client.stat_object(bucket, key)
            return self._file(path, st["size"], st.get("etag", ""))
        except FileNotFoundError:
            pass
        if self._client.has_prefix(bucket, key + "/"):
            return self._dir(path)
        raise _missing(path, "no such object or prefix")

    def exists(self, path: str, **kwargs: Any) -> bool:
        """Whether path is an object or a directory. Only a missing path is
        False: refused credentials or a dead network raise."""
        try:
            self.info(path)
            return True
        except FileNotFoundError:
            return False

    def isdir(self, path: str) -> bool:
        bucket, key = self._split(path)
        try:
            return self._client.has_prefix(bucket, key + "/" if key else "") or not key
        except FileNotFoundError:
            return False

    def isfile(self, path: str) -> bool:
        bucket, key = self._split(path)
        if not key:
            return False
        try:
            self._client.stat_object(bucket, key)
            return True
        except FileNotFoundError:
            return False

    def _is_prefix(self, bucket: str, key: str) -> bool:
        try:
            return self._client.has_prefix(bucket, key + "/")
        except FileNotFoundError:
            return False

    def checksum(self, path: str) -> int:
        """The object's ETag as a number (it changes when the object does)."""
        info = self.info(path)
        etag = info.get("ETag", "").strip('"')
        if not etag:
            return super().checksum(path)
        return int.from_bytes(etag.encode(), "big")

    # ---- directories: there are none to make or remove ----

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Nothing to do: a directory exists once an object is written under it."""

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Nothing to do (see mkdir)."""

    def rmdir(self, path: str) -> None:
        """Nothing to do: a directory goes with its last object."""

    # ---- reading ----

    def cat_file(self, path: str, start: Optional[int] = None, end: Optional[int] = None, **kwargs: Any) -> bytes:
        """The object's bytes, or those of [start, end) (negative counts from
        the end, as slices). Whole objects are checked against their CRC-64."""
        bucket, key = self._object(path)
        try:
            if not start and end is None:
                return self._client.read_object(bucket, key)
            if start is None:
                start = 0
            if start < 0 or end is None or end < 0:
                size = self._client.stat_object(bucket, key)["size"]
                start = max(0, size + start) if start < 0 else start
                end = size if end is None else (size + end if end < 0 else min(end, size))
            if end <= start:
                return b""
            buf = bytearray(end - start)
            n = self._client.read_range(bucket, key, start, buf)
        except FileNotFoundError:
            if self._is_prefix(bucket, key):
                raise IsADirectoryError(errno.EISDIR, "a directory, not an object", f"oss://{bucket}/{key}") from None
            raise
        return bytes(buf) if n == len(buf) else bytes(memoryview(buf)[:n])

    def cat(self, path, recursive: bool = False, on_error: str = "raise", **kwargs: Any):
        """The bytes of one path, or {path: bytes} of several (a list, a
        glob, or recursive); several are fetched as one batch of concurrent
        GETs. on_error: "raise" the first failure, "omit" failed paths, or
        "return" the exception in their place."""
        if on_error not in ("raise", "omit", "return"):
            raise ValueError(f"on_error must be 'raise', 'omit' or 'return', got {on_error!r}")
        paths = self._expand_files(path, recursive)
        if len(paths) == 1 and not isinstance(path, (list, tuple)) and paths[0] == self._strip_protocol(path):
            return self.cat_file(paths[0])
        entries = [(*self._object(p), 0, "") for p in paths]
        results = self._client.read_objects(entries) if entries else []
        out: Dict[str, Any] = {}
        for p, r in zip(paths, results):
            if isinstance(r, Exception):
                if on_error == "raise":
                    raise r
                if on_error == "return":
                    out[p] = r
            else:
                out[p] = r
        return out

    def _expand_files(self, path, recursive: bool) -> List[str]:
        """The object paths a cat argument stands for: globs expanded,
        directories too when recursive (their objects, not the directories)."""
        out: List[str] = []
        seen = set()
        for p in path if isinstance(path, (list, tuple)) else [path]:
            p = self._strip_protocol(p)
            if _has_magic(p):
                found = self.glob(p, detail=True)
                names = [n for n, i in found.items() if i["type"] == "file"]
                if recursive:
                    for n, i in found.items():
                        if i["type"] == "directory":
                            names += self.find(n)
                if not names:
                    raise _missing(p, "nothing matches")
            elif recursive:
                names = self.find(p)
                if not names:
                    raise _missing(p, "no such object or prefix")
            else:
                names = [p]
            for n in names:
                if n not in seen:
                    seen.add(n)
                    out.append(n)
        return out

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Optional[int] = None,
        autocommit: bool = True,
        cache_options: Optional[dict] = None,
        **kwargs: Any,
    ) -> "OssFsspecFile":
        return OssFsspecFile(self, path, mode, block_size, autocommit, cache_options=cache_options, **kwargs)

    def get_file(self, rpath, lpath, callback=None, outfile=None, **kwargs: Any) -> None:
        """Copy an object to a local file (a directory becomes a local
        directory)."""
        from fsspec.callbacks import DEFAULT_CALLBACK
        from fsspec.utils import isfilelike

        callback = callback or DEFAULT_CALLBACK
        if outfile is None and isfilelike(lpath):
            outfile = lpath
        try:
            src = self.open(rpath, "rb")
        except IsADirectoryError:
            if outfile is None:
                os.makedirs(lpath, exist_ok=True)
            return
        with src:
            if outfile is None:
                os.makedirs(os.path.dirname(os.path.abspath(lpath)), exist_ok=True)
                dst = open(lpath, "wb")  # noqa: SIM115 (closed below)
            else:
                dst = outfile
            try:
                callback.set_size(src.size)
                _copy(src, dst, min(self.blocksize, max(src.size, 1)), callback.relative_update)
            finally:
                if outfile is None:
                    dst.close()

    # ---- writing ----

    def pipe_file(self, path: str, value, mode: str = "overwrite", **kwargs: Any) -> None:
        """Store value (bytes) as the object at path; mode "create" raises
        FileExistsError if it exists."""
        if mode not in ("overwrite", "create"):
            raise ValueError(f"mode must be 'overwrite' or 'create', got {mode!r}")
        if isinstance(value, str):
            raise TypeError("pipe_file stores bytes; encode the str first")
        data = memoryview(value).cast("B")
        with self.open(path, "xb" if mode == "create" else "wb", size_hint=data.nbytes) as f:
            f.write(data)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        """Copy an object. The bytes go through this client (the core's
        reader into its multipart writer, 8 MiB at a time): the core has no
        server-side copy of its own yet. A directory has nothing to copy."""
        b1, k1 = self._object(path1)
        b2, k2 = self._object(path2)
        src = self._client.get_object(b1, k1, type=1)
        if src.err():
            exc = src.exception()
            if isinstance(exc, FileNotFoundError) and self._is_prefix(b1, k1):
                return
            raise exc if exc is not None else _missing(f"{b1}/{k1}")
        with src, self._client.put_object(b2, k2, size_hint=src.size) as dst:
            _copy(src, dst, min(_COPY_STEP, max(src.size, 1)))

    # ---- removing ----

    def rm_file(self, path: str) -> None:
        """Remove one object; FileNotFoundError if there is none."""
        bucket, key = self._object(path)
        self._client.stat_object(bucket, key)
        self._client.remove_object(bucket, key)

    def _rm(self, path: str) -> None:
        self.rm_file(path)

    def rm(self, path, recursive: bool = False, maxdepth: Optional[int] = None) -> None:
        """Remove objects: a path (or list, or glob) that names an object
        removes it; with recursive, a directory's objects go too (marker
        objects included). A missing path raises FileNotFoundError, a
        directory without recursive IsADirectoryError. Objects are removed
        one request at a time."""
        todo: Dict[Tuple[str, str], None] = {}  # ordered, without repeats
        for p in path if isinstance(path, (list, tuple)) else [path]:
            p = self._strip_protocol(p)
            targets = sorted(self.glob(p, maxdepth=maxdepth)) if _has_magic(p) else [p]
            if not targets:
                raise _missing(p, "nothing matches")
            for t in targets:
                for bk in self._removal(t, recursive, maxdepth):
                    todo[bk] = None
        for bucket, key in todo:
            self._client.remove_object(bucket, key)

    def _removal(self, path: str, recursive: bool, maxdepth: Optional[int]) -> List[Tuple[str, str]]:
        """The (bucket, key)s that rm(path) removes, checked first: nothing
        is removed when any path of the call is wrong."""
        bucket, key = self._split(path)
        out: List[Tuple[str, str]] = []
        is_file = False
        if key:
            try:
                self._client.stat_object(bucket, key)
                is_file = True
                out.append((bucket, key))
            except FileNotFoundError:
                pass
        if recursive:
            prefix = key + "/" if key else ""
            for k, _ in self._listing(bucket, prefix):
                depth = k[len(prefix) :].rstrip("/").count("/") + 1
                if maxdepth is None or depth <= maxdepth:
                    out.append((bucket, k))
            if not out and key:
                raise _missing(path, "no such object or prefix")
        elif not is_file:
            if self._is_prefix(bucket, key) or not key:
                raise IsADirectoryError(errno.EISDIR, "a directory: remove it with recursive=True", f"oss://{path}")
            raise _missing(path)
        return out

    # ---- no counterpart here ----

    def created(self, path: str):
        raise NotImplementedError("OSS listings and HEADs through this client carry no creation time")

    def modified(self, path: str):
        raise NotImplementedError("OSS listings and HEADs through this client carry no modification time")


def _has_magic(path: str) -> bool:
    return any(c in path for c in "*?[")


class OssFsspecFile(AbstractBufferedFile):
    """A file of OssFsspecFileSystem: in mode "rb" the core's random-access
    reader (read-ahead for sequential reads, reads straight into the
    caller's buffer with readinto); in "wb"/"xb" the core's multipart writer,
    committed on close. An exception inside ``with``, a close() while an
    exception raised after the file was opened propagates (the way pandas,
    pyarrow and fsspec.open close files when a write fails), and a file
    dropped without close() discard the upload: no object, nor part of one,
    appears.
    ``block_size`` in write mode is the first part's size; in read mode the
    core's reader chooses its own (config.json ``readChunkSize``), and
    fsspec's ``cache_type`` options are ignored for the same reason."""

    def __init__(
        self,
        fs: OssFsspecFileSystem,
        path: str,
        mode: str = "rb",
        block_size: Optional[int] = None,
        autocommit: bool = True,
        cache_type: str = "none",
        cache_options: Optional[dict] = None,
        size: Optional[int] = None,
        size_hint: Optional[int] = None,
        **kwargs: Any,
    ) -> None:
        if mode not in ("rb", "wb", "xb"):
            raise NotImplementedError(f"mode {mode!r} is not supported: OSS objects are read ('rb') or written whole")
        bucket, key = fs._object(path)
        path = f"{bucket}/{key}"
        self._obj: Any = None
        self._pending = bytearray()
        self._line: Tuple[int, bytes] = (0, b"")
        # what was being handled when the file was opened: close() tells an
        # exception that arose while writing from one it was written under
        self._handling = sys.exc_info()[1]
        if mode == "rb":
            obj = fs.client.get_object(bucket, key, type=1)
            if obj.err():
                exc = obj.exception()
                if isinstance(exc, FileNotFoundError) and fs._is_prefix(bucket, key):
                    raise IsADirectoryError(errno.EISDIR, "a directory, not an object", f"oss://{path}")
                raise exc if exc is not None else _missing(path)
            self._obj = obj
            try:
                super().__init__(fs, path, mode, block_size or "default", autocommit, "none", None, size=obj.size)
            except BaseException:
                obj.close()
                raise
            return
        # "xb": refused at once where the object exists, and at the commit
        # by OSS itself (x-oss-forbid-overwrite) where one appeared meanwhile
        if mode == "xb" and fs.isfile(path):
            raise FileExistsError(errno.EEXIST, "the object exists", f"oss://{path}")
        options: Dict[str, Any] = {"exclusive": True} if mode == "xb" else {}
        if block_size:
            options["part_size"] = int(block_size)
        if size_hint:
            options["size_hint"] = int(size_hint)
        self._obj = fs.client.put_object(bucket, key, **options)
        super().__init__(fs, path, mode, block_size or "default", autocommit, "none", None)

    def __repr__(self) -> str:
        return f"<OssFsspecFile oss://{self.path} {self.mode}>"

    __str__ = __repr__

    # ---- reading ----

    def _check_read(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self.mode != "rb":
            raise io.UnsupportedOperation("File not in read mode")

    def _read_at(self, offset: int, buf) -> int:
        self._obj.seek(offset)
        return self._obj.readinto(buf)

    def _fetch_range(self, start: int, end: int) -> bytes:
        buf = bytearray(max(0, min(end, self.size) - start))
        n = self._read_at(start, buf) if buf else 0
        return bytes(buf) if n == len(buf) else bytes(memoryview(buf)[:n])

    def read(self, length: int = -1) -> bytes:
        self._check_read()
        length = -1 if length is None else int(length)
        left = self.size - self.loc
        n = left if length < 0 else min(length, left)
        if n <= 0:
            return b""
        buf = bytearray(n)
        got = self._read_at(self.loc, buf)
        self.loc += got
        return bytes(buf) if got == n else bytes(memoryview(buf)[:got])

    def readinto(self, b) -> int:
        self._check_read()
        mv = memoryview(b).cast("B")
        n = min(mv.nbytes, self.size - self.loc)
        if n <= 0:
            return 0
        got = self._read_at(self.loc, mv[:n])
        self.loc += got
        return got

    def readline(self, size: Optional[int] = -1) -> bytes:
        self._check_read()
        want = None if size is None or size < 0 else size
        out = []
        got = 0
        while want is None or got < want:
            base, chunk = self._line
            if not base <= self.loc < base + len(chunk):
                n = min(_LINE_STEP, self.size - self.loc)
                if n <= 0:
                    break
                buf = bytearray(n)
                m = self._read_at(self.loc, buf)
                if not m:
                    break
                base, chunk = self.loc, bytes(memoryview(buf)[:m])
                self._line = (base, chunk)
            start = self.loc - base
            stop = len(chunk) if want is None else min(len(chunk), start + want - got)
            i = chunk.find(b"\n", start, stop)
            end = stop if i < 0 else i + 1
            out.append(chunk[start:end])
            got += end - start
            self.loc += end - start
            if i >= 0:
                break
        return b"".join(out)

    def readuntil(self, char: bytes = b"\n", blocks: Optional[int] = None) -> bytes:
        if char == b"\n":
            return self.readline()
        return super().readuntil(char, blocks or _LINE_STEP)

    # ---- writing ----

    def write(self, data) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if self.mode == "rb":
            raise io.UnsupportedOperation("File not in write mode")
        mv = memoryview(data).cast("B")
        n = mv.nbytes
        if n >= _GATHER_BELOW:
            self._send_pending()
            self._send(mv)
        else:
            self._pending += mv
            if len(self._pending) >= _GATHER_UP_TO:
                self._send_pending()
        self.loc += n
        return n

    def _send(self, data) -> None:
        try:
            self._obj.write(data)
        except BaseException:
            self._abort()
            raise

    def _send_pending(self) -> None:
        if self._pending:
            data, self._pending = self._pending, bytearray()
            self._send(data)

    def flush(self, force: bool = False) -> None:
        """Nothing reaches OSS before close: an object is written whole."""
        if self.closed:
            raise ValueError("Flush on closed file")

    def _abort(self) -> None:
        self.closed = True
        self._pending = bytearray()
        if self._obj is not None:
            self._obj.abort()

    def commit(self) -> None:
        """Commit the object (close() does, unless the file belongs to a
        transaction that is still open)."""
        if self.mode == "rb":
            return
        try:
            self._send_pending()
            self._obj.close()
        except OssError as e:
            self._abort()
            if e.code == "FileAlreadyExists":
                raise FileExistsError(errno.EEXIST, "another object appeared there first", f"oss://{self.path}") from e
            raise
        except BaseException:
            self._abort()
            raise

    def discard(self) -> None:
        """Drop the upload: nothing becomes visible."""
        if self.mode != "rb":
            self._abort()

    def close(self) -> None:
        if self.closed:
            return
        if self.mode == "rb":
            self.closed = True
            self._obj.close()
            return
        if not self.autocommit:
            self._send_pending()  # a transaction commits or discards it at its end
            self.closed = True
            return
        failing = sys.exc_info()[1]
        if failing is not None and failing is not self._handling:
            # Libraries close their files on the way out of a failed write
            # (pandas' handles, pyarrow's writers, fsspec.open's with) and
            # cannot pass the failure on: what was written may be half.
            log.warning(
                "oss://%s: upload discarded: the file was closed while a %s raised after it was opened propagated",
                self.path,
                type(failing).__name__,
            )
            self._abort()
            return
        try:
            self.commit()
        finally:
            self.closed = True

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.mode != "rb" and not self.closed:
            self._abort()
        else:
            self.close()

    def __del__(self) -> None:
        if self.closed or self._obj is None:
            return
        if self.mode == "rb":
            self.close()
            return
        # Nothing says that what was written is all there is to write (the
        # writer may have died half-way): committing it could publish half
        # an object, so the upload is dropped, and said so.
        warnings.warn(
            f"oss://{self.path} was never closed: its upload was discarded (close the file, or use `with`)",
            ResourceWarning,
            stacklevel=2,
        )
        self._abort()
