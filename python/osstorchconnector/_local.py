"""Local-directory mode: what an OssClient with an empty endpoint reads.

Upstream reads local files when a dataset's endpoint is ``""`` (it logs
"endpoint is empty, load from local directory"): the URI ``/bucket/key`` (or
``oss://bucket/key``) names the local file ``/bucket/key``. This backend has
the methods of ``_native.NativeClient`` that OssClient uses, in plain Python:
local files need no Go core.

Rules, as upstream's (checked against 1.2.3):

* a DataObject's key is the path as given (``/dir/0.txt``; ``oss://dir/0.txt``
  gives ``/dir/0.txt``), its label ``""`` unless a manifest names one;
* a prefix names a directory (a trailing ``/`` is optional): every regular
  file below it, hidden ones included, symbolic links not followed or
  listed; a prefix that is not a directory is an error (not an empty list);
* a missing file is a missing object (``OssNotFoundError``).

One difference: a listing is sorted by key, as an OSS listing is; upstream
lists in directory order, which differs between file systems and machines.
"""

from __future__ import annotations

import errno as _errno
import os
import stat as _stat
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from .errors import OssError, OssInvalidArgumentError, OssNotFoundError, OssPermissionError


def parse_uri(uri: str) -> Tuple[str, str]:
    """(first path component, rest) of ``/a/b/c`` or ``oss://a/b/c``, split
    exactly at the first ``/`` (no endpoint-host handling: a local directory
    name may contain dots)."""
    if not isinstance(uri, str):
        raise TypeError(f"uri must be a str, not {type(uri).__name__}")
    if uri.startswith("oss://"):
        rest = uri[len("oss://") :]
    elif uri.startswith("/"):
        rest = uri[1:]
    else:
        raise OssInvalidArgumentError(f"uri should start with 'oss://' or '/': {uri!r}")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise OssInvalidArgumentError(f"Bucket name must be non-empty: {uri!r}")
    return bucket, key


def _path(bucket: str, key: str) -> str:
    return f"/{bucket}/{key}"


def _error(op: str, bucket: str, key: str, e: OSError) -> OssError:
    """The OssError for a failed file operation (also a RuntimeError, as upstream's)."""
    msg = f"{op} {_path(bucket, key)}: {e.strerror or e}"
    eno = e.errno or _errno.EIO
    cls = {_errno.ENOENT: OssNotFoundError, _errno.EACCES: OssPermissionError, _errno.EPERM: OssPermissionError}.get(
        eno, OssError
    )
    err = cls(msg, op=op, bucket=bucket, key=key)
    err.errno = eno
    return err


class LocalReader:
    """Random access to one local file (what ost_reader_* is for OSS)."""

    def __init__(self, path: str) -> None:
        self._fd: Optional[int] = os.open(path, os.O_RDONLY)
        try:
            st = os.fstat(self._fd)
            if not _stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(_errno.EISDIR, os.strerror(_errno.EISDIR))
            self.size = st.st_size
        except BaseException:
            os.close(self._fd)
            raise

    def read_into(self, offset: int, buf) -> int:
        if self._fd is None:
            raise ValueError("LocalReader is closed")
        mv = memoryview(buf).cast("B")
        done = 0
        while done < len(mv):
            n = os.preadv(self._fd, [mv[done:]], offset + done)
            if n == 0:
                break
            done += n
        return done

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()


class _LocalWriter:
    """Writes beside the target and renames on close: a failed or aborted
    write leaves nothing, as a multipart upload does."""

    def __init__(self, path: str) -> None:
        self._path, self._tmp = path, f"{path}.{os.getpid()}.osstorch-tmp"
        self._f = open(self._tmp, "wb")

    def write(self, data) -> int:
        return self._f.write(data)

    def close(self) -> None:
        self._f.close()
        os.replace(self._tmp, self._path)

    def abort(self) -> None:
        self._f.close()
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass


class _LocalPrefetcher:
    """(index, bucket, key, bytes or OssError) for this worker's share, in
    list order (as NativePrefetcher)."""

    def __init__(self, backend: "LocalBackend", items: List[Dict[str, Any]], worker_id: int, worker_count: int) -> None:
        self._it = self._run(backend, items, worker_id, max(1, worker_count))

    @staticmethod
    def _run(backend, items, worker_id, worker_count) -> Iterator[Tuple[int, str, str, Union[bytes, Exception]]]:
        for i, item in enumerate(items):
            if i % worker_count != worker_id:
                continue
            b, k = item["bucket"], item["key"]
            try:
                yield i, b, k, backend.get(b, k)
            except OssError as e:
                yield i, b, k, e

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._it)

    def close(self) -> None:
        self._it.close()


class LocalBackend:
    """Local files in place of OSS objects (see the module docstring)."""

    def __repr__(self) -> str:
        return "LocalBackend()"

    def parse_uri(self, uri: str) -> Tuple[str, str]:
        return parse_uri(uri)

    def stats(self) -> Dict[str, Any]:
        return {}  # local files: no requests to count

    def list(self, bucket: str, prefix: str = "") -> List[Dict[str, Any]]:
        base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
        out: List[Dict[str, Any]] = []

        def walk(directory: str, rel: str) -> None:
            with os.scandir(directory) as entries:
                for e in entries:
                    if e.is_dir(follow_symlinks=False):
                        walk(e.path, f"{rel}{e.name}/")
                    elif e.is_file(follow_symlinks=False):
                        out.append({"key": f"{base}{rel}{e.name}", "size": e.stat(follow_symlinks=False).st_size})

        try:
            walk(_path(bucket, base), "")
        except OSError as e:
            raise _error("list", bucket, prefix, e) from None
        out.sort(key=lambda o: o["key"])
        return out

    def get(self, bucket: str, key: str) -> bytes:
        try:
            with open(_path(bucket, key), "rb") as f:
                return f.read()
        except OSError as e:
            raise _error("read", bucket, key, e) from None

    def stat(self, bucket: str, key: str) -> Dict[str, Any]:
        """Size of a file; a directory has size 0 (see OssClient.head_object)."""
        try:
            st = os.stat(_path(bucket, key))
        except OSError as e:
            raise _error("stat", bucket, key, e) from None
        return {"key": key, "size": st.st_size if _stat.S_ISREG(st.st_mode) else 0}

    def has_prefix(self, bucket: str, prefix: str) -> bool:
        return os.path.isdir(_path(bucket, prefix))

    def open_reader(self, bucket: str, key: str) -> LocalReader:
        try:
            return LocalReader(_path(bucket, key))
        except OSError as e:
            raise _error("open", bucket, key, e) from None

    def read_range(self, bucket: str, key: str, offset: int, buf) -> int:
        r = self.open_reader(bucket, key)
        try:
            return r.read_into(offset, buf)
        finally:
            r.close()

    def batch_get(self, items: List[Dict[str, Any]]) -> List[Union[bytes, Exception]]:
        out: List[Union[bytes, Exception]] = []
        for item in items:
            try:
                out.append(self.get(item["bucket"], item["key"]))
            except OssError as e:
                out.append(e)
        return out

    def prefetch(
        self,
        worker_id: int = 0,
        worker_count: int = 1,
        items: Optional[List[Dict[str, Any]]] = None,
        bucket: str = "",
        prefix: str = "",
        **_: Any,
    ) -> _LocalPrefetcher:
        if items is None:
            items = [{"bucket": bucket, "key": o["key"]} for o in self.list(bucket, prefix)]
        return _LocalPrefetcher(self, items, worker_id, worker_count)

    def put(self, bucket: str, key: str, data) -> None:
        w = self.open_writer(bucket, key)
        try:
            w.write(data)
        except BaseException:
            w.abort()
            raise
        w.close()

    def open_writer(self, bucket: str, key: str, **_: Any) -> _LocalWriter:
        try:
            return _LocalWriter(_path(bucket, key))
        except OSError as e:
            raise _error("open", bucket, key, e) from None

    def remove(self, bucket: str, key: str) -> None:
        try:
            os.unlink(_path(bucket, key))
        except FileNotFoundError:
            pass  # as OSS: removing what is not there is no error
        except OSError as e:
            raise _error("remove", bucket, key, e) from None

    def rename(self, bucket: str, key: str, new_bucket: str, new_key: str) -> None:
        try:
            os.replace(_path(bucket, key), _path(new_bucket, new_key))
        except OSError as e:
            raise _error("rename", bucket, key, e) from None

    def open_tar(self, bucket: str, key: str, index: bytes):
        raise OssInvalidArgumentError("tar archives are read from OSS only; give an endpoint")
