"""generate_tar_archive: pack many small objects (an OSS prefix or a local
folder) into one tar plus its index, so that datasets read members with
ranged reads (from_tar)."""
from __future__ import annotations

import io
import os
import tarfile
import time
from typing import Any, Callable, Iterator, Optional, Tuple

from . import _native
from ._oss_bucket_iterable import parse_oss_uri
from ._oss_client import OssClient

__all__ = ["generate_tar_archive"]


def _is_oss(path: str) -> bool:
    return path.startswith("oss://")


def _sources(client: OssClient, source_path: str) -> Iterator[Tuple[str, int, Callable[[], bytes]]]:
    """(member name, size, reader) for every object or file under source_path, in name order."""
    if _is_oss(source_path):
        bucket, prefix = parse_oss_uri(source_path)
        objs = client._native.list(bucket, prefix)
        if not objs:
            raise FileNotFoundError(f"no objects under {source_path}")
        # fetch in batches so the next ones arrive while the tar is written
        batch = 64
        for i in range(0, len(objs), batch):
            part = objs[i:i + batch]
            datas = client._native.batch_get([{"bucket": bucket, "key": o["key"], "size": o["size"]} for o in part])
            for o, d in zip(part, datas):
                if isinstance(d, Exception):
                    raise d
                yield o["key"][len(prefix):].lstrip("/") or o["key"], len(d), (lambda d=d: d)
        return
    if not os.path.isdir(source_path):
        raise FileNotFoundError(f"source_path {source_path!r} is neither an oss:// prefix nor a local directory")
    files = []
    for root, dirs, names in os.walk(source_path):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            if os.path.isfile(p):
                files.append(p)
    if not files:
        raise FileNotFoundError(f"no files under {source_path}")
    for p in files:
        yield os.path.relpath(p, source_path), os.path.getsize(p), (lambda p=p: open(p, "rb").read())


def _open_output(client: OssClient, path: str):
    if _is_oss(path):
        bucket, key = parse_oss_uri(path)
        if not key:
            raise ValueError(f"{path!r} names no object")
        return client.put_object(bucket, key)
    return open(path, "wb")


def _index_of(client: OssClient, tar_path: str) -> bytes:
    if _is_oss(tar_path):
        bucket, key = parse_oss_uri(tar_path)
        return client._native.tar_index_build(bucket, key)
    return _native.tar_index_from_file(tar_path)


def generate_tar_archive(endpoint: str, cred_path: str, config_path: str, tar_path: str, index_path: str,
                         source_path: str, index_only: bool = False, cred_provider: Any = None, region: str = "",
                         progress: Optional[Callable[[int, int], None]] = None) -> int:
    """Write source_path's objects (an ``oss://`` prefix or a local folder)
    into a tar at tar_path and its index at index_path (each on OSS or local).
    With index_only, index the existing tar_path. Returns the number of
    members. ``progress(done, bytes)`` is called per member (not in upstream).
    """
    if not endpoint:
        raise ValueError("endpoint must be non-empty")
    if not cred_path and cred_provider is None:
        raise ValueError("neither cred_path nor cred_provider is specified")
    if not tar_path or not index_path:
        raise ValueError("tar_path and index_path must be non-empty")
    client = OssClient(endpoint, cred_path, config_path or "", cred_provider=cred_provider, region=region)
    if not index_only:
        if not source_path:
            raise ValueError("source_path must be non-empty (or pass index_only=True)")
        out = _open_output(client, tar_path)
        done = total = 0
        with out:  # on OSS: committed on success, aborted on error
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for name, size, read in _sources(client, source_path):
                    data = read()
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                    tf.addfile(info, io.BytesIO(data))
                    done, total = done + 1, total + len(data)
                    if progress:
                        progress(done, total)
    index = _index_of(client, tar_path)
    with _open_output(client, index_path) as f:
        f.write(index)
    # the member count is in the index: open it once to report it
    return _member_count(index)


def _member_count(index: bytes) -> int:
    """Count members from the index header (magic, version, tar size, count)."""
    def uvarint(b: bytes, i: int) -> Tuple[int, int]:
        shift = value = 0
        while True:
            c = b[i]
            value |= (c & 0x7F) << shift
            i += 1
            if c < 0x80:
                return value, i
            shift += 7
    i = 8 + 2
    _, i = uvarint(index, i)
    count, _ = uvarint(index, i)
    return count
