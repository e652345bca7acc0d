"""The MMDetection integration's path rules, kept apart from mmdet: they need
no framework, so get_oss_ann_path works (and is tested) without it."""

from __future__ import annotations

import os
from typing import Tuple

from .._oss_client import parse_oss_uri

__all__ = ["get_oss_ann_path", "join_oss", "check_data_root"]


def check_data_root(data_root: str) -> str:
    """data_root, checked: an ``oss://bucket[/prefix]`` URI (ValueError otherwise)."""
    try:
        ok = isinstance(data_root, str) and data_root.startswith("oss://") and bool(parse_oss_uri(data_root)[0])
    except ValueError:  # the core's parser: no bucket
        ok = False
    if not ok:
        raise ValueError(f"data_root must be an oss://bucket/prefix URI, got {data_root!r}")
    return data_root


def join_oss(data_root: str, path: str) -> str:
    """path under data_root, by plain string joining (mmengine's join_path
    knows no oss:// backend); an ``oss://`` path stands as it is."""
    if path.startswith("oss://"):
        return path
    return data_root.rstrip("/") + "/" + path.lstrip("/")


def get_oss_ann_path(data_root: str, ann_file: str, ann_cache_dir: str = "/tmp") -> Tuple[str, str, str]:
    """(bucket, key, local_path) of the annotation file ``ann_file`` under
    ``data_root``: where it is in OSS and where OSSDetDataset keeps its local
    copy (``<ann_cache_dir>/oss_ann_<bucket>_<key with '/' as '_'>``, as
    upstream's, so the same file lands at the same place). ``ann_file`` may
    also be a whole ``oss://`` URI."""
    check_data_root(data_root)
    if not ann_file:
        raise ValueError("ann_file is empty: OSSDetDataset needs a COCO-style annotation file")
    bucket, key = parse_oss_uri(join_oss(data_root, ann_file))
    if not key or key.endswith("/"):
        raise ValueError(f"ann_file {ann_file!r} under {data_root!r} names no object (oss://{bucket}/{key})")
    local_path = os.path.join(ann_cache_dir, f"oss_ann_{bucket}_{key.replace('/', '_')}")
    return bucket, key, local_path
