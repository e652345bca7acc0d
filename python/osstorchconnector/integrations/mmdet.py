"""MMDetection training on a COCO-style dataset in OSS.

    custom_imports = dict(imports=["osstorchconnector.integrations.mmdet"], allow_failed_imports=False)
    train_pipeline = [dict(type="OSSLoadImageFromFile"), dict(type="LoadAnnotations", with_bbox=True), ...]
    train_dataloader = dict(
        batch_size=16, num_workers=8,
        dataset=dict(type="OSSDetDataset",
                     data_root="oss://bucket/coco",
                     ann_file="annotations/instances_train2017.json",
                     data_prefix=dict(img="train2017/"),
                     oss_endpoint="https://oss-cn-hangzhou-internal.aliyuncs.com",
                     oss_cred_path="/mnt/.alibabacloud/credentials",
                     pipeline=train_pipeline))

OSSDetDataset copies the annotation file to a local file (see
get_oss_ann_path) and lets CocoDataset parse it; each sample's ``img_path``
is then ``oss://bucket/coco/train2017/<file_name>``, which
OSSLoadImageFromFile reads. A DataLoader batch's images are fetched
concurrently, in one call to the core (``__getitems__``); an image loaded
outside a batch (``dataset[i]``, a mix transform's extra image) is one GET.

Needs ``mmdet`` 3.x, ``mmengine`` and an ``mmcv`` 2.x (< 2.2, as mmdet 3.3
requires) built for your torch (``pip install 'osstorchconnector[mmdet]'``
installs mmdet and mmengine; mmcv comes from OpenMMLab's wheels or a build).
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS, TRANSFORMS

from .._oss_client import OssClient, parse_oss_uri
from ..errors import OssNotFoundError
from ._mmdet_paths import check_data_root, get_oss_ann_path, join_oss

__all__ = ["OSSDetDataset", "OSSLoadImageFromFile", "get_oss_ann_path"]

log = logging.getLogger(__name__)

# the key of a sample's results under which OSSDetDataset hands OSSLoadImageFromFile its image source
SOURCE_KEY = "oss_source"


class OssImageSource:
    """What OSSLoadImageFromFile reads images through: a client and the
    images fetched for the batch being loaded. It travels in each sample's
    results; mmdet's transforms deep-copy results (mosaic caches, branches),
    and a copy of it is itself (read-only while a sample is made, no
    connections of its own: OssClient makes them per process)."""

    def __init__(self, client: OssClient) -> None:
        self.client = client
        self._fetched: Dict[str, Union[bytes, Exception]] = {}

    def __deepcopy__(self, memo: dict) -> "OssImageSource":
        return self

    def __copy__(self) -> "OssImageSource":
        return self

    def __getstate__(self) -> dict:
        return {"client": self.client, "_fetched": {}}  # fetched bytes stay in their process

    def __repr__(self) -> str:
        return f"OssImageSource({self.client!r})"

    def fetch(self, paths: Iterable[str]) -> None:
        """Fetch these images concurrently, for read() to hand out."""
        paths = [p for p in dict.fromkeys(paths) if p not in self._fetched]
        if paths:
            entries = [(*parse_oss_uri(p), 0, "") for p in paths]
            self._fetched.update(zip(paths, self.client.read_objects(entries)))

    def clear(self) -> None:
        self._fetched.clear()

    def read(self, path: str) -> bytes:
        """The bytes of the image at path (``oss://bucket/key`` or
        ``/bucket/key``): fetched by fetch(), else one GET. A missing image
        raises OssNotFoundError (a FileNotFoundError)."""
        data = self._fetched.get(path)
        if data is None:
            return self.client.read_object(*parse_oss_uri(path))
        if isinstance(data, Exception):
            raise data
        return data


@DATASETS.register_module()
class OSSDetDataset(CocoDataset):
    """CocoDataset over OSS: ``data_root`` is an ``oss://bucket/prefix`` URI,
    ``ann_file`` the COCO JSON under it (or a whole ``oss://`` URI), copied
    to ``ann_cache_dir`` at construction; ``data_prefix`` paths are under
    ``data_root`` in OSS. Use it with OSSLoadImageFromFile. The other
    arguments are CocoDataset's; the client's are upstream's:
    ``oss_endpoint``, ``oss_cred_path``, ``oss_config_path``,
    ``oss_cred_provider``, ``oss_region``."""

    def __init__(
        self,
        data_root: str,
        ann_file: str,
        oss_endpoint: str,
        oss_cred_path: str = "",
        oss_config_path: str = "",
        oss_cred_provider: Any = None,
        oss_region: str = "",
        ann_cache_dir: str = "/tmp",
        **kwargs: Any,
    ) -> None:
        check_data_root(data_root)
        if not oss_endpoint:
            raise ValueError("OSSDetDataset: oss_endpoint is required (e.g. https://oss-cn-hangzhou.aliyuncs.com)")
        client = OssClient(
            oss_endpoint, oss_cred_path, oss_config_path, cred_provider=oss_cred_provider, region=oss_region
        )
        self._source = OssImageSource(client)
        local_ann = _download(client, data_root, ann_file, ann_cache_dir)
        super().__init__(ann_file=local_ann, data_root=data_root, **kwargs)

    def _join_prefix(self) -> None:
        # mmengine's join_path knows no oss:// backend: the data prefixes are joined as strings under data_root.
        # ann_file is the local copy, an absolute path, which mmengine would leave as it is too.
        for name, prefix in self.data_prefix.items():
            if not isinstance(prefix, str):
                raise TypeError(f"data_prefix[{name!r}] must be a string, got {type(prefix).__name__}")
            if not prefix.startswith(("oss://", "/")):
                self.data_prefix[name] = join_oss(self.data_root, prefix)

    def get_data_info(self, idx: int) -> dict:
        """CocoDataset's data info, with the image source OSSLoadImageFromFile reads through."""
        info = super().get_data_info(idx)
        info[SOURCE_KEY] = self._source
        return info

    def __getitems__(self, indices: Sequence[int]) -> List[Any]:
        """A DataLoader batch: its images fetched concurrently in one call,
        then each sample made as __getitem__ makes it."""
        if not self._fully_initialized:
            self.full_init()
        self._source.fetch([CocoDataset.get_data_info(self, i)["img_path"] for i in indices])
        try:
            return [self[i] for i in indices]
        finally:
            self._source.clear()


def _download(client: OssClient, data_root: str, ann_file: str, ann_cache_dir: str) -> str:
    """Copy the annotation file to its local path (get_oss_ann_path), whole
    or not at all: ranks and jobs sharing the directory never read half a file."""
    bucket, key, local_path = get_oss_ann_path(data_root, ann_file, ann_cache_dir)
    try:
        data = client.read_object(bucket, key)
    except OssNotFoundError as e:
        raise FileNotFoundError(f"OSSDetDataset: annotation file oss://{bucket}/{key} not found ({e})") from e
    os.makedirs(ann_cache_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".oss_ann-", dir=ann_cache_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, local_path)
    except BaseException:
        os.unlink(tmp)
        raise
    log.info("OSSDetDataset: oss://%s/%s copied to %s (%d bytes)", bucket, key, local_path, len(data))
    return local_path


@TRANSFORMS.register_module()
class OSSLoadImageFromFile(LoadImageFromFile):
    """mmcv's LoadImageFromFile (same arguments: ``to_float32``,
    ``color_type``, ``imdecode_backend``, ``ignore_empty``) reading
    ``results["img_path"]`` from OSS, through the source OSSDetDataset puts
    in each sample. A missing image raises FileNotFoundError; with
    ``ignore_empty=True`` a missing or undecodable image gives None (mmengine
    then picks another sample) and a warning naming it; any other failure
    to read raises."""

    def transform(self, results: dict) -> Optional[dict]:
        source = results.get(SOURCE_KEY)
        if not isinstance(source, OssImageSource):
            raise KeyError(
                f"OSSLoadImageFromFile reads images through an OSSDetDataset, which puts {SOURCE_KEY!r} in each "
                f"sample; this sample ({results.get('img_path')!r}) has none"
            )
        path = results["img_path"]
        try:
            data = source.read(path)
        except OssNotFoundError as e:
            return self._empty(path, e)  # any other OssError (network, permissions) raises as it is
        img = mmcv.imfrombytes(data, flag=self.color_type, backend=self.imdecode_backend) if data else None
        if img is None:
            return self._empty(path, ValueError(f"OSSLoadImageFromFile: {path} is not an image ({len(data)} bytes)"))
        if self.to_float32:
            img = img.astype(np.float32)
        results["img"] = img
        results["img_shape"] = img.shape[:2]
        results["ori_shape"] = img.shape[:2]
        return results

    def _empty(self, path: str, error: Exception) -> None:
        """A missing or undecodable image: raised, or with ignore_empty None (mmengine takes another sample)."""
        if not self.ignore_empty:
            raise error
        log.warning("OSSLoadImageFromFile: skipping %s (ignore_empty=True): %s", path, error)
        return None
