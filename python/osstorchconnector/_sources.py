"""Where a dataset's objects come from: the sources behind the datasets'
from_* constructors, and upstream's ImageNet manifest parser.

A source is a small picklable callable: called with this process's
OssClient, it returns the entries (see _entries) to read, in order. They
are classes, not lambdas or closures, so that an iterable dataset holding
one pickles into spawn/forkserver DataLoader workers; an iterable dataset
calls its source once per epoch, in one worker (the others share the list),
a map dataset once, in its constructor. Checks of the arguments happen in
that call, as upstream's do (lazily, at iteration, for iterable datasets).

A tar archive is no such source: its members are read by position through
the tar's index, see TarSource.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Callable, Iterable, List, Tuple

from ._data_object import DataObject
from ._entries import Entry, to_entry
from ._oss_client import parse_oss_uri

log = logging.getLogger(__name__)

__all__ = ["imagenet_manifest_parser"]

ManifestParser = Callable[[io.IOBase], Iterable[Tuple[str, str]]]


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


class Source:
    """One of our from_* sources: the dataset may list once per epoch and
    share the list between its workers (a user's get_dataset_objects
    callable is instead called in every worker, as upstream's)."""


class FromPrefix(Source):
    """Every object under an ``oss://bucket/prefix`` (or ``/bucket/prefix``), in key order."""

    def __init__(self, oss_uri: str) -> None:
        self.oss_uri = oss_uri

    def __call__(self, client) -> List[Entry]:
        return client.list_entries(*self.bucket_and_prefix(client))

    def bucket_and_prefix(self, client) -> Tuple[str, str]:
        if not isinstance(self.oss_uri, str) or not self.oss_uri:
            raise ValueError("oss_uri must be non-empty")
        return client.parse_uri(self.oss_uri)


class FromObjects(Source):
    """The given objects (URIs or DataObject descriptors), in the order given."""

    def __init__(self, uris: Any) -> None:
        self.uris = uris

    def __call__(self, client) -> List[Entry]:
        return objects_entries(self.uris, client.parse_uri)


class FromManifest(Source):
    """The objects a manifest file names (see manifest_entries)."""

    def __init__(self, path: str, parser: ManifestParser, base: str) -> None:
        self.path, self.parser, self.base = path, parser, base

    def __call__(self, client) -> List[Entry]:
        return manifest_entries(client, self.path, self.parser, self.base)


def objects_entries(object_uris: Any, parse: Callable[[str], Tuple[str, str]]) -> List[Entry]:
    if isinstance(object_uris, str):
        object_uris = [object_uris]
    uris = list(object_uris) if object_uris is not None else []
    if not uris:
        raise ValueError("object_uris must be non-empty")
    return [to_entry(u, parse) for u in uris]


def manifest_entries(
    client, manifest_file_path: str, manifest_parser: ManifestParser, oss_base_uri: str
) -> List[Entry]:
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
