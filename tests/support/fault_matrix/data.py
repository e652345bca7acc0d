"""Deterministic data: every object's bytes are a function of its name, so
every delivered sample is checked byte for byte."""

from __future__ import annotations

import hashlib
import zlib
from typing import List

from .settings import BUCKET, MAX_SIZE, N_OBJECTS


def payload(name: str) -> bytes:
    """The bytes of object/member `name`: 2 KiB .. MAX_SIZE, a function of the name."""
    size = 2048 + zlib.crc32(name.encode()) % (MAX_SIZE - 2048)
    return hashlib.shake_256(name.encode()).digest(size)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dataset_names(n: int = None, prefix: str = "ds/") -> List[str]:
    return [f"{prefix}{i:04d}.bin" for i in range(N_OBJECTS if n is None else n)]


# Module-level transforms and collates: DataLoader workers started with spawn
# get them pickled (full mode runs some cases under spawn). The collates are
# the dataset tests' (support/transforms.py).


def digest_transform(obj):
    """(name, sha256) of a fetched object; None for a missing one (the transform gets None)."""
    if obj is None:
        return None
    key = obj.key
    if key.startswith(f"/{BUCKET}/"):
        key = key[len(BUCKET) + 2 :]
    elif "/tar-src/" in key:  # a tar member: named by its path in the folder the tar was made from
        key = key.split("/tar-src/", 1)[1]
    return key, digest(obj.read())
