"""Upstream's module name for the tar helpers: OssTarIterable (the members of
a tar on OSS, through a client) and generate_tar_archive, kept importable for
user code written against upstream. The datasets read tars through
OssClient.open_tar and list_objects_from_tar; this is a thin view over the
latter."""

from __future__ import annotations

from typing import Iterator, List, Optional, Sequence, Tuple

from ._data_object import DataObject
from ._oss_client import OssClient
from ._tar_archive import generate_tar_archive

__all__ = ["OssTarIterable", "generate_tar_archive"]


def _check_oss_uri(name: str, uri: Optional[str]) -> None:
    if not uri:
        raise ValueError(f"{name} must be non-empty")
    if not uri.startswith("oss://"):
        raise ValueError(f"{name} must be an oss:// URI, got {uri!r}")


class OssTarIterable:
    """The members of a tar archive, in archive order (or the runs given as
    chunks: (first member, count) pairs), read with one ranged GET per run.
    Iterable more than once; each iteration reads again."""

    def __init__(
        self,
        client: OssClient,
        *,
        tar_uri: Optional[str] = None,
        tar_index_uri: Optional[str] = None,
        preload: bool = False,
        chunks: Sequence[Tuple[int, int]] = (),
    ) -> None:
        self._client = client
        self._tar_uri, self._tar_index_uri = tar_uri, tar_index_uri
        self._preload = preload
        self._chunks = list(chunks)

    @classmethod
    def from_tar(
        cls,
        tar_uri: str,
        tar_index_uri: str,
        client: OssClient,
        preload: bool = False,
        chunks: Sequence[Tuple[int, int]] = (),
    ) -> "OssTarIterable":
        _check_oss_uri("tar_uri", tar_uri)
        _check_oss_uri("tar_index_uri", tar_index_uri)
        return cls(client, tar_uri=tar_uri, tar_index_uri=tar_index_uri, preload=preload, chunks=chunks)

    def _target(self) -> Tuple[str, str, str]:
        """(bucket, tar key, index key)."""
        tar_bucket, tar_key = self._client.parse_uri(self._tar_uri)
        index_bucket, index_key = self._client.parse_uri(self._tar_index_uri)
        if tar_bucket != index_bucket:
            raise ValueError("tar_uri and tar_index_uri must be in the same bucket")
        return tar_bucket, tar_key, index_key

    def _runs(self, target: Tuple[str, str, str]) -> List[Tuple[int, int]]:
        """The given chunks, or one run over every member (the client caches the opened tar)."""
        return self._chunks or [(0, len(self._client.open_tar(*target).members))]

    def __iter__(self) -> Iterator[DataObject]:
        target = self._target()
        runs = self._runs(target)
        starts, sizes = [s for s, _ in runs], [n for _, n in runs]
        return iter(self._client.list_objects_from_tar(*target, starts, sizes, prefetch=self._preload))

    def __len__(self) -> int:
        return sum(n for _, n in self._runs(self._target()))
