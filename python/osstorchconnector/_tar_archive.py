"""generate_tar_archive: pack many small objects (an OSS prefix or a local
folder) into one tar plus its index, so that datasets read members with
ranged reads (from_tar).

The index is written in upstream osstorchconnector's encoding, so that
either connector reads shards the other made, and members are named as
upstream names them (the source's full path: ``/bucket/key`` for OSS,
the file's path for a local folder). Beside the index, under its name +
``.osstorch-crc64``, goes the checksum file that upstream's encoding has no
room for: each member's CRC-64, which lets our readers check ranged reads.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from typing import Any, Callable, Iterator, Optional, Tuple

from ._entries import object_key
from ._oss_client import OssClient, parse_oss_uri

__all__ = ["generate_tar_archive"]


def _is_oss(path: str) -> bool:
    return path.startswith("oss://")


CHECKSUM_SUFFIX = ".osstorch-crc64"


def _files_to_pack(client: OssClient, source_path: str) -> Iterator[Tuple[str, int, Callable[[], bytes]]]:
    """(member name, size, reader) for every object or file under source_path, in name order.
    Folder markers (keys ending in "/") and symbolic links are not files and are left out."""
    if _is_oss(source_path):
        bucket, prefix = parse_oss_uri(source_path)
        objs = [e for e in client.list_entries(bucket, prefix) if not e[1].endswith("/")]
        if not objs:
            raise FileNotFoundError(f"no objects under {source_path}")
        # fetch in batches so the next ones arrive while the tar is written
        batch = 64
        for i in range(0, len(objs), batch):
            part = objs[i : i + batch]
            datas = client.read_objects(part)
            for (_, key, _, _), d in zip(part, datas):
                if isinstance(d, Exception):
                    raise d
                yield object_key(bucket, key), len(d), (lambda d=d: d)
        return
    if not os.path.isdir(source_path):
        raise FileNotFoundError(f"source_path {source_path!r} is neither an oss:// prefix nor a local directory")
    files = []
    for root, dirs, names in os.walk(source_path):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append(p)
    if not files:
        raise FileNotFoundError(f"no files under {source_path}")
    for p in files:
        yield os.path.normpath(p), os.path.getsize(p), (lambda p=p: _read_file(p))


def _read_file(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _open_output(client: OssClient, path: str):
    if _is_oss(path):
        bucket, key = parse_oss_uri(path)
        if not key:
            raise ValueError(f"{path!r} names no object")
        return client.put_object(bucket, key)
    return open(path, "wb")


def _write(client: OssClient, path: str, data: bytes) -> None:
    with _open_output(client, path) as f:
        f.write(data)


def generate_tar_archive(
    endpoint: str,
    cred_path: str,
    config_path: str,
    tar_path: str,
    index_path: str,
    source_path: str,
    index_only: bool = False,
    cred_provider: Any = None,
    region: str = "",
    progress: Optional[Callable[[int, int], None]] = None,
) -> int:
    """Write source_path's objects (an ``oss://`` prefix or a local folder)
    into a tar at tar_path and its index at index_path (each on OSS or local).
    With index_only, index the existing tar_path. Returns 0, as upstream's.
    ``progress(done, bytes)`` is called per member (not in upstream).
    """
    if not endpoint:
        raise ValueError("endpoint must be non-empty")
    if not cred_path and cred_provider is None:
        raise ValueError("neither cred_path nor cred_provider is specified")
    client = OssClient(endpoint, cred_path, config_path or "", cred_provider=cred_provider, region=region)
    return write_tar_archive(client, tar_path, index_path, source_path, index_only, progress)


def write_tar_archive(
    client: OssClient,
    tar_path: str,
    index_path: str,
    source_path: str,
    index_only: bool = False,
    progress: Optional[Callable[[int, int], None]] = None,
) -> int:
    """generate_tar_archive with a client (OssClient.gen_tar_archive)."""
    if not tar_path or not index_path:
        raise ValueError("tar_path and index_path must be non-empty")
    if not index_only:
        if not source_path:
            raise ValueError("source_path must be non-empty (or pass index_only=True)")
        out = _open_output(client, tar_path)
        done = total = 0
        with out:  # on OSS: committed on success, aborted on error
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
                for name, _size, read in _files_to_pack(client, source_path):
                    data = read()
                    info = tarfile.TarInfo(name)
                    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
                    tf.addfile(info, io.BytesIO(data))
                    done, total = done + 1, total + len(data)
                    if progress:
                        progress(done, total)
    index, checksums = client.build_tar_index(tar_path)
    # the checksum file first: a reader that finds the index finds its checksums too
    _write(client, index_path + CHECKSUM_SUFFIX, checksums)
    _write(client, index_path, index)
    return 0
