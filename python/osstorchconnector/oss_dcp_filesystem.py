"""torch Distributed Checkpoint (DCP) on OSS: a FileSystemBase over OssClient,
and the storage writer and reader that use it.

    fs = OssDCPFileSystem(endpoint, cred_path=...)
    dcp.save(state_dict, storage_writer=fs.writer("oss://bucket/ckpt/step100"))
    dcp.load(state_dict, storage_reader=fs.reader("oss://bucket/ckpt/step100"))

A checkpoint is a "directory" of objects under the URI (``__0_0.distcp``, ...,
``.metadata``). torch's FileSystemWriter/Reader do the planning and the
(de)serialization; this module only maps their file operations onto objects.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generator, Tuple, Union

from torch.distributed.checkpoint.filesystem import FileSystemBase, FileSystemReader, FileSystemWriter
from torch.distributed.checkpoint.planner import LoadPlan

from ._oss_client import OssClient, parse_oss_uri

log = logging.getLogger(__name__)

__all__ = ["OssDCPFileSystem", "OssFileSystem", "OssStorageReader", "OssStorageWriter"]

_PathLike = Union[str, os.PathLike]


def _uri(path: _PathLike) -> str:
    """The URI a path stands for. torch may hand us pathlib.Path objects, and
    Path("oss://b/k") collapses the double slash to "oss:/b/k": restore it."""
    s = os.fspath(path)
    if s.startswith("oss:/") and not s.startswith("oss://"):
        s = "oss://" + s[len("oss:/") :]
    return s


def _split(path: _PathLike) -> Tuple[str, str]:
    return parse_oss_uri(_uri(path))


class OssDCPFileSystem(FileSystemBase):
    """The file operations DCP needs, on OSS objects. For DCP only: not a
    general file system (mkdir is a no-op, there are no directories).

    Writes stream as multipart uploads and become visible only when complete;
    an exception while writing aborts the upload, so a failed save never
    leaves a half-written object. Reads are random access (parallel ranged
    GETs with read-ahead), which torch.load on each item's slice needs.
    """

    def __init__(
        self, endpoint: str, cred_path: str = "", config_path: str = "", cred_provider: Any = None, region: str = ""
    ) -> None:
        self._endpoint = endpoint
        if not endpoint:  # as upstream's (datasets alone read local files with an empty endpoint)
            raise ValueError("endpoint must be non-empty")
        self._client = OssClient(endpoint, cred_path, config_path, cred_provider=cred_provider, region=region)
        self._path: _PathLike = ""

    def __repr__(self) -> str:
        return f"OssDCPFileSystem(endpoint={self._endpoint!r})"

    @contextmanager
    def create_stream(self, path: _PathLike, mode: str) -> Generator[io.IOBase, None, None]:
        if mode not in ("rb", "wb"):
            raise ValueError("Invalid mode argument: only rb/wb are supported")
        bucket, key = _split(path)
        if mode == "wb":
            log.debug("create_stream: writing %s", _uri(path))
            # DataObject's __exit__ commits, or aborts when the body raised
            with self._client.put_object(bucket, key) as stream:
                yield stream
            return
        log.debug("create_stream: reading %s", _uri(path))
        stream = self._client.get_object(bucket, key, type=1)
        try:
            yield stream
        finally:
            stream.close()  # also releases the native reader's connections and cache

    def concat_path(self, path: _PathLike, suffix: str) -> str:
        return os.path.join(_uri(path), suffix)

    def init_path(self, path: _PathLike) -> _PathLike:
        self._path = path
        return path

    def rename(self, old_path: _PathLike, new_path: _PathLike) -> None:
        # torch writes ".metadata.tmp" and renames it last: the checkpoint
        # becomes loadable only once every rank's data is in place
        self._client.rename_object(*_split(old_path), *_split(new_path))

    def mkdir(self, path: _PathLike) -> None:
        """Nothing to do: OSS has no directories."""

    def exists(self, path: _PathLike) -> bool:
        try:
            self._client.head_object(*_split(path))
        except Exception:  # as upstream: anything that is not a readable object counts as absent
            return False
        return True

    def rm_file(self, path: _PathLike) -> None:
        self._client.remove_object(*_split(path))

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: _PathLike) -> bool:
        """True for an oss:// (or /bucket/key) URI; a Path is accepted as is,
        as upstream does (it may be an oss:// URI that Path has mangled)."""
        if isinstance(checkpoint_id, Path):
            return True
        try:
            parse_oss_uri(_uri(checkpoint_id))
        except (ValueError, TypeError):
            return False
        return True

    def writer(self, path: str, **kwargs: Any) -> "OssStorageWriter":
        """A storage writer for ``dcp.save``/``dcp.async_save``; kwargs go to
        torch's FileSystemWriter (thread_count, single_file_per_rank, ...)."""
        return OssStorageWriter(self, path, **kwargs)

    def reader(self, path: str) -> "OssStorageReader":
        """A storage reader for ``dcp.load``."""
        return OssStorageReader(self, path)


#: upstream's name before 1.2.
OssFileSystem = OssDCPFileSystem


class OssStorageWriter(FileSystemWriter):
    """torch's FileSystemWriter with its files on OSS.

    ``sync_files`` is always off: an object is durable once its upload is
    committed on close, and OSS streams have no fileno() to fsync.
    """

    def __init__(self, fs: OssDCPFileSystem, path: _PathLike, **kwargs: Any) -> None:
        kwargs.pop("sync_files", None)
        super().__init__(path=path, sync_files=False, **kwargs)
        self.fs = fs
        # the base class ran init_path through torch's local FileSystem
        self.path = fs.init_path(path)

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: _PathLike) -> bool:
        return OssDCPFileSystem.validate_checkpoint_id(checkpoint_id)


class OssStorageReader(FileSystemReader):
    """torch's FileSystemReader with its files on OSS."""

    def __init__(self, fs: OssDCPFileSystem, path: _PathLike) -> None:
        super().__init__(path)
        self.fs = fs
        self.path = fs.init_path(path)
        self.sync_files = False

    def prepare_local_plan(self, plan: LoadPlan) -> LoadPlan:
        """Read each file front to back: items sorted by file and offset turn
        the per-item reads into one sequential pass, so the reader's
        read-ahead fetches the next chunks while torch deserializes."""

        def key(item):
            info = self.storage_data[item.storage_index]
            return info.relative_path, info.offset

        return dataclasses.replace(plan, items=sorted(plan.items, key=key))

    @classmethod
    def validate_checkpoint_id(cls, checkpoint_id: _PathLike) -> bool:
        return OssDCPFileSystem.validate_checkpoint_id(checkpoint_id)
