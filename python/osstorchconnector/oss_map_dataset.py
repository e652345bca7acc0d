"""OssMapDataset: a map-style dataset over OSS objects."""

from __future__ import annotations

import io
import logging
import time
from typing import Any, Callable, Iterable, List, Tuple, Union

import torch.utils.data

from ._data_object import DataObject
from ._dataset_common import _DatasetBase, _failure, entries_of, identity
from ._entries import Entry
from ._listing import Listing
from ._oss_client import OssClient
from ._sources import FromManifest, FromObjects, FromPrefix, tar_source
from ._stats import PUBLISH_EVERY

log = logging.getLogger(__name__)

__all__ = ["OssMapDataset", "is_continuous"]


def is_continuous(indices: List[int]) -> bool:
    """True if indices are consecutive ascending integers."""
    return all(b == a + 1 for a, b in zip(indices, indices[1:]))


class OssMapDataset(_DatasetBase, torch.utils.data.Dataset):
    """A map-style dataset: lists (or reads its manifest) once, in the
    constructor; ``ds[i]`` fetches one object, ``ds.__getitems__(indices)`` (used
    by DataLoader's batching) fetches a batch concurrently, results in index
    order. Build it with from_prefix, from_objects or from_manifest_file.

    A missing object: ``ds[i]`` raises (before the transform), a batch hands
    the transform None in its place, as upstream's."""

    def __init__(
        self,
        endpoint: str,
        cred_path: str,
        config_path: str,
        get_dataset_objects: Callable[[OssClient], Iterable[Entry]],
        transform: Callable[[DataObject], Any] = identity,
        tar_uri: str = None,
        tar_index_uri: str = None,
        cred_provider: Any = None,
        region: str = "",
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> None:
        self._init_common(endpoint, cred_path, config_path, transform, cred_provider, region, cache_path, cache_bytes)
        self._tar = None
        if tar_uri is not None or tar_index_uri is not None:
            self._tar = tar_source(tar_uri, tar_index_uri)
            get_dataset_objects = self._tar.entries
        start = time.monotonic()
        log.info("OssMapDataset init, uuid: %s, endpoint: %s", self._uuid, endpoint)
        client = self._get_client()
        self._bucket_objects: List[Entry] = entries_of(get_dataset_objects(client), client)
        log.info("OssMapDataset init done, uuid: %s, time cost: %.2f s", self._uuid, time.monotonic() - start)

    @classmethod
    def from_objects(
        cls,
        object_uris: Union[str, Iterable[str]],
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssMapDataset":
        return cls(
            endpoint,
            cred_path,
            config_path,
            FromObjects(object_uris),
            transform=transform,
            cred_provider=cred_provider,
            region=region,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    @classmethod
    def from_prefix(
        cls,
        oss_uri: str,
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssMapDataset":
        return cls(
            endpoint,
            cred_path,
            config_path,
            FromPrefix(oss_uri),
            transform=transform,
            cred_provider=cred_provider,
            region=region,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    @classmethod
    def from_manifest_file(
        cls,
        manifest_file_path: str,
        manifest_parser: Callable[[io.IOBase], Iterable[Tuple[str, str]]],
        oss_base_uri: str,
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssMapDataset":
        return cls(
            endpoint,
            cred_path,
            config_path,
            FromManifest(manifest_file_path, manifest_parser, oss_base_uri),
            transform=transform,
            cred_provider=cred_provider,
            region=region,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    @classmethod
    def from_tar(
        cls,
        tar_uri: str,
        tar_index_uri: str,
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssMapDataset":
        """Members of a tar archive on OSS, read through its index (made by
        generate_tar_archive); a batch of consecutive members is one ranged read."""
        return cls(
            endpoint,
            cred_path,
            config_path,
            None,
            transform=transform,
            tar_uri=tar_uri,
            tar_index_uri=tar_index_uri,
            cred_provider=cred_provider,
            region=region,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    def __len__(self) -> int:
        return len(self._bucket_objects)

    def is_continuous(self, indices: List[int]) -> bool:
        """True if indices are consecutive ascending integers (upstream's method)."""
        return is_continuous(indices)

    def __getitem__(self, i: int) -> Any:
        bucket, key, size, label = self._bucket_objects[i]  # IndexError ends `for x in ds`
        if self._tar is not None:
            return self.__getitems__([i])[0]
        listing = self._bucket_objects
        if isinstance(listing, Listing) and listing.has_etags:  # through the node-local cache
            obj = next(self._get_client().list_objects_from_uris(listing.take([i]), prefetch=True, include_errors=True))
        else:
            obj = self._get_client().get_object(bucket, key, size, label=label)
        if obj.err():  # as upstream's: ds[i] raises, before the transform, even for a missing object
            raise _failure(obj)
        return self._transformed(obj)

    def __getitems__(self, indices: List[int]) -> List[Any]:
        if self._tar is not None:
            n = len(self._bucket_objects)
            positions = [i + n if i < 0 else i for i in indices]
            objs = self._tar.read(self._get_client(), positions)
        else:
            listing = self._bucket_objects
            # a Listing stays one: it may carry ETags for the node-local cache
            entries = listing.take(indices) if isinstance(listing, Listing) else [listing[i] for i in indices]
            objs = self._get_client().list_objects_from_uris(entries, prefetch=True, include_errors=True)
        # a list, in index order: the default collate indexes into it
        out = [self._transformed(o) for o in objs]
        if self._delivered[0] % PUBLISH_EVERY:  # (else _transformed has just published)
            self._publish_stats()  # once a batch: a worker that does not persist may end after any of them
        return out
