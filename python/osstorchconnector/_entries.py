"""Entry: the plain (bucket, key, size, label) tuple a dataset keeps per
object, and how one is made from what users hand in (URIs, DataObject
descriptors)."""

from __future__ import annotations

from typing import Any, Callable, Tuple

from ._data_object import DataObject

# Plain data, so that datasets pickle cheaply into spawn/forkserver workers.
# size 0 means "not known" (fetch the whole object); label "" means none.
Entry = Tuple[str, str, int, str]


def object_key(bucket: str, key: str) -> str:
    """The key DataObjects carry: "/bucket/key" (parse_oss_uri accepts it)."""
    return f"/{bucket}/{key}"


def to_entry(u: Any, parse: Callable[[str], Tuple[str, str]]) -> Entry:
    """An entry from a URI string, a DataObject descriptor (e.g. made with
    new_data_object by a custom get_dataset_objects), or an entry; parse is
    the client's URI parser (OSS or local-directory mode)."""
    if isinstance(u, tuple):
        return u
    if isinstance(u, DataObject):
        b, k = parse(u.key)
        return (b, k, u.size, u.label)
    b, k = parse(u)
    return (b, k, 0, "")
