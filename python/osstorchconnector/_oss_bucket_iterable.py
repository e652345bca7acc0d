"""URI parsing, the default transform, the ImageNet manifest parser, and
the object sources behind the datasets' from_* constructors."""
from __future__ import annotations

import io
import logging
from typing import Any, Callable, Iterable, List, Optional, Tuple

from ._data_object import DataObject

log = logging.getLogger(__name__)

__all__ = ["parse_oss_uri", "identity", "imagenet_manifest_parser"]

# (bucket, key, size, label): what a dataset keeps per object. Plain data,
# so datasets pickle cheaply into spawn/forkserver workers.
Entry = Tuple[str, str, int, str]


def parse_oss_uri(uri: str) -> Tuple[str, str]:
    """Split ``oss://bucket/key`` or ``/bucket/key`` (also
    ``oss://bucket.<endpoint-host>/key``) into (bucket, key); ValueError
    otherwise."""
    from ._oss_client import parse_oss_uri as parse  # the client module is the one door to the core
    return parse(uri)


def identity(obj: Optional[DataObject]) -> Optional[DataObject]:
    """The default transform: an independent copy of the object."""
    return obj.copy() if obj is not None else None


def imagenet_manifest_parser(reader: io.IOBase) -> Iterable[Tuple[str, str]]:
    """Lines of ``key<TAB>label`` (label optional), as upstream's parser."""
    lines = reader.read().decode("utf-8").strip().split("\n")
    for i, line in enumerate(lines):
        try:
            items = line.strip().split("\t")
            if len(items) >= 2:
                yield items[0], items[1]
            elif items[0]:
                yield items[0], ""
        except Exception as e:  # upstream logs and goes on
            log.error("imagenet_manifest_parser: line %d %r: %s", i, line, e)


def object_key(bucket: str, key: str) -> str:
    """The key DataObjects carry: "/bucket/key" (parse_oss_uri accepts it)."""
    return f"/{bucket}/{key}"


def check_prefix_uri(oss_uri: str, parse: Callable[[str], Tuple[str, str]] = parse_oss_uri) -> Tuple[str, str]:
    if not isinstance(oss_uri, str) or not oss_uri:
        raise ValueError("oss_uri must be non-empty")
    return parse(oss_uri)


def list_prefix(client, oss_uri: str) -> List[Entry]:
    bucket, prefix = check_prefix_uri(oss_uri, client.parse_uri)
    return client.list_entries(bucket, prefix)


def to_entry(u: Any, parse: Callable[[str], Tuple[str, str]] = parse_oss_uri) -> Entry:
    """An entry from a URI string, a DataObject descriptor (e.g. made with
    new_data_object by a custom get_dataset_objects), or an entry."""
    if isinstance(u, tuple):
        return u
    if isinstance(u, DataObject):
        b, k = parse(u.key)
        return (b, k, u.size, u.label)
    b, k = parse(u)
    return (b, k, 0, "")


def objects_entries(object_uris: Any, parse: Callable[[str], Tuple[str, str]] = parse_oss_uri) -> List[Entry]:
    if isinstance(object_uris, str):
        object_uris = [object_uris]
    uris = list(object_uris) if object_uris is not None else []
    if not uris:
        raise ValueError("object_uris must be non-empty")
    return [to_entry(u, parse) for u in uris]


def manifest_entries(client, manifest_file_path: str, manifest_parser: Callable[[io.IOBase], Iterable[Tuple[str, str]]],
                     oss_base_uri: str) -> List[Entry]:
    """Run the parser over the manifest (on OSS if it starts with oss://,
    else a local file) and prepend oss_base_uri to every key, as upstream."""
    if not manifest_file_path:
        raise ValueError("manifest_file_path must be non-empty")
    if manifest_parser is None:
        raise ValueError("manifest_parser must be given")
    if oss_base_uri is None:
        raise ValueError("oss_base_uri must be a string ('' when the manifest holds full URIs)")
    if manifest_file_path.startswith("oss://"):
        b, k = client.parse_uri(manifest_file_path)
        reader: io.IOBase = io.BytesIO(client.read_object(b, k))
    else:
        reader = open(manifest_file_path, "rb")  # FileNotFoundError names the path
    out = []
    with reader:
        for item in manifest_parser(reader):
            key, label = item[0], item[1] if len(item) > 1 else ""
            b, k = client.parse_uri(oss_base_uri + key)
            out.append((b, k, 0, label))
    return out


class TarSource:
    """A tar archive and its index object, both on OSS in one bucket."""

    def __init__(self, tar_uri: str, tar_index_uri: str) -> None:
        for name, uri in (("tar_uri", tar_uri), ("tar_index_uri", tar_index_uri)):
            if not isinstance(uri, str) or not uri.startswith("oss://"):
                raise ValueError(f"{name} must be an oss:// URI, got {uri!r}")
        self.bucket, self.tar_key = parse_oss_uri(tar_uri)
        index_bucket, self.index_key = parse_oss_uri(tar_index_uri)
        if index_bucket != self.bucket:
            raise ValueError("tar_uri and tar_index_uri must be in the same bucket")
        if not self.tar_key or not self.index_key:
            raise ValueError("tar_uri and tar_index_uri must name objects")

    def entries(self, client) -> List[Entry]:
        """One entry per member: (bucket, member name, size, label = its
        position); name "" and size -1 where only the tar headers say (an
        index written by upstream)."""
        tar = client.open_tar(self.bucket, self.tar_key, self.index_key)
        return [(self.bucket, m["name"], m["size"], str(i)) for i, m in enumerate(tar.members)]

    def read(self, client, positions: List[int]) -> List[DataObject]:
        return client.list_objects_from_tar(self.bucket, self.tar_key, self.index_key, positions, include_errors=True)


def tar_source(tar_uri: str, tar_index_uri: str) -> TarSource:
    if tar_uri is None or tar_index_uri is None:
        raise ValueError("from_tar needs both tar_uri and tar_index_uri")
    return TarSource(tar_uri, tar_index_uri)
