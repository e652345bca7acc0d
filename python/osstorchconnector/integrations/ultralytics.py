"""Ultralytics YOLO training on images and labels in OSS.

    from ultralytics import YOLO
    from osstorchconnector import make_oss_trainer

    YOLO("yolo11n.yaml").train(
        trainer=make_oss_trainer("https://oss-cn-hangzhou-internal.aliyuncs.com", cred_path=CRED),
        data="coco_oss.yaml", epochs=100, imgsz=640)

with a data YAML whose ``path`` is in OSS (upstream's convention)::

    path: oss://bucket/coco        # the dataset's root
    train: images/train2017        # a "directory" under path, listed ...
    val: images/val2017.txt        # ... or a manifest object: one image a line
    names: {0: person, 1: bicycle}

Labels are found as Ultralytics finds them beside local images: the last
``/images/`` of an image's key becomes ``/labels/`` and its extension
``.txt``. Image paths inside the dataset are ``/bucket/key`` strings.

What it costs in requests: listing a directory is one LIST per 1,000 keys
(a manifest is one GET); every label is one GET, all of a split's labels
fetched concurrently by the core when the dataset is built; images are
fetched when a batch is loaded, a batch's images concurrently in one call
(DataLoader's ``__getitems__``), or all of them in that way at start with
``cache="ram"``. An image that Ultralytics keeps in memory (its mosaic
buffer) is not fetched again.

Needs ``ultralytics`` (``pip install 'osstorchconnector[ultralytics]'``).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import ultralytics.data.base as _ul_base
import yaml
from ultralytics.data.dataset import YOLODataset
from ultralytics.data.utils import IMG_FORMATS, img2label_paths
from ultralytics.models.yolo.detect.train import DetectionTrainer
from ultralytics.nn.autobackend import check_class_names
from ultralytics.utils import DEFAULT_CFG, LOGGER, colorstr
from ultralytics.utils.ops import segments2boxes

try:
    from ultralytics.utils.torch_utils import unwrap_model
except ImportError:  # ultralytics before 8.3.1xx named it de_parallel
    from ultralytics.utils.torch_utils import de_parallel as unwrap_model

from .._oss_client import OssClient, parse_oss_uri
from ..errors import OssError, OssNotFoundError

__all__ = ["OSSYOLODataset", "make_oss_trainer", "parse_oss_data_yaml"]

log = logging.getLogger(__name__)

# labels fetched per core call: concurrency is the core's; this bounds the
# bytes objects held at once for a split of millions of images
_LABEL_BATCH = 8192


# ---- reading images through Ultralytics' own load_image ----
#
# BaseDataset.load_image reads a file with the module-level function
# ultralytics.data.base.imread, then resizes and buffers the image for mosaic.
# Rather than copy that logic (it changes between releases), the function is
# replaced once by one that, while an OSSYOLODataset is loading an image in
# this thread, asks that dataset for it; any other caller gets the original.

if not callable(getattr(_ul_base, "imread", None)):  # older releases read with cv2.imread, which knows no OSS
    import ultralytics

    raise ImportError(
        f"osstorchconnector's YOLO integration needs ultralytics>=8.4 (images read through "
        f"ultralytics.data.base.imread); this is ultralytics {ultralytics.__version__}"
    )

_loading = threading.local()
_original_imread = getattr(_ul_base.imread, "_oss_original", _ul_base.imread)


def _imread(filename: Any, flags: int = cv2.IMREAD_COLOR) -> Optional[np.ndarray]:
    dataset = getattr(_loading, "dataset", None)
    if dataset is None:
        return _original_imread(filename, flags=flags)
    return dataset._decode(str(filename), flags)


_imread._oss_original = _original_imread  # type: ignore[attr-defined]
_ul_base.imread = _imread


class _NoLocalFile(type(Path())):  # type: ignore[misc]
    """Where load_image looks for a local *.npy copy of an image: nowhere.
    Ultralytics puts it beside the image (here "/bucket/key.npy", which could
    name a real local file when a bucket is named like a local directory)."""

    def exists(self, *args: Any, **kwargs: Any) -> bool:
        return False


_NO_NPY = _NoLocalFile("/nonexistent/osstorchconnector.npy")


class _NoLocalFiles:
    """OSSYOLODataset.npy_files: _NO_NPY for every image, in constant memory."""

    def __init__(self, dataset: "OSSYOLODataset") -> None:
        self._dataset = dataset

    def __len__(self) -> int:
        return len(self._dataset.im_files)

    def __getitem__(self, i: int) -> Path:
        return _NO_NPY

    def __iter__(self):
        return iter([_NO_NPY] * len(self))


def _oss_path(p: Any) -> Tuple[str, str]:
    """(bucket, key) of an image path: ``/bucket/key`` or ``oss://bucket/key``."""
    s = str(p)
    if not (s.startswith("/") or s.startswith("oss://")):
        raise ValueError(f"OSSYOLODataset: {s!r} is not an OSS path (/bucket/key or oss://bucket/key)")
    bucket, key = parse_oss_uri(s)
    if not bucket:
        raise ValueError(f"OSSYOLODataset: {s!r} names no bucket")
    return bucket, key


def _is_image(key: str) -> bool:
    return key.rpartition(".")[-1].lower() in IMG_FORMATS


class OSSYOLODataset(YOLODataset):
    """A YOLODataset whose images and labels are objects in OSS.

    ``img_path`` (or a list of them) is a ``/bucket/key`` (or
    ``oss://bucket/key``) path: a "directory" whose images are listed
    (recursively, as Ultralytics globs ``**/*.*``), or a ``.txt`` manifest
    object with one image a line: ``/bucket/key``, ``oss://bucket/key``, or
    a key relative to the manifest's directory (``./a.jpg`` or ``a.jpg``).
    The other arguments are YOLODataset's, plus the client's as upstream's:
    ``oss_endpoint`` (required), ``oss_cred_path``, ``oss_config_path``,
    ``oss_cred_provider``, ``oss_region``.

    A missing label object makes its image a background image (no boxes),
    as a missing label file does in Ultralytics; a label that is not a valid
    YOLO label drops its image with a warning, as Ultralytics does; any other
    failure to read a label (network, permissions, a missing bucket) raises.
    A missing image raises FileNotFoundError when it is loaded.

    Image sizes are not read while scanning (that would be one GET per image
    before training starts), so ``rect=True`` batches are square; labels
    are not cached in a local ``*.cache`` file (its validity check is about
    local files); ``cache="disk"`` (``*.npy`` files beside local images)
    is refused: use ``cache="ram"``, or the node-local cache of
    ``config.json`` (``datasetConfig.cachePath``) that keeps fetched objects
    across runs.
    """

    def __init__(
        self,
        *args: Any,
        oss_endpoint: str,
        oss_cred_path: str = "",
        oss_config_path: str = "",
        oss_cred_provider: Any = None,
        oss_region: str = "",
        **kwargs: Any,
    ) -> None:
        if not oss_endpoint:
            raise ValueError("OSSYOLODataset: oss_endpoint is required (e.g. https://oss-cn-hangzhou.aliyuncs.com)")
        cache = kwargs.get("cache")
        if isinstance(cache, str) and cache.lower() == "disk":
            raise ValueError(
                "OSSYOLODataset: cache='disk' writes *.npy files beside local images, and these images are in OSS; "
                "use cache='ram', or the node-local cache (config.json datasetConfig.cachePath)"
            )
        # OssClient holds options only: it pickles into DataLoader workers, each making its own connections
        self._client = OssClient(
            oss_endpoint, oss_cred_path, oss_config_path, cred_provider=oss_cred_provider, region=oss_region
        )
        self._sizes: Dict[str, int] = {}  # image path -> size, where a listing told it
        self._fetched: Dict[str, Union[bytes, Exception]] = {}  # images fetched for the load in progress
        super().__init__(*args, **kwargs)

    def __repr__(self) -> str:
        return f"OSSYOLODataset({self.img_path!r}, images={len(self.im_files)}, client={self._client!r})"

    # ---- which images ----

    def get_img_files(self, img_path: Union[str, List[str]]) -> List[str]:
        """The ``/bucket/key`` paths of the images under img_path, sorted."""
        files: List[str] = []
        for p in img_path if isinstance(img_path, (list, tuple)) else [img_path]:
            bucket, key = _oss_path(p)
            if key.lower().endswith(".txt"):
                files += self._manifest(bucket, key)
            else:
                files += self._listed(bucket, key)
        files = sorted(f for f in files if _is_image(f))
        if not files:
            raise FileNotFoundError(f"{self.prefix}no images found in {img_path} (formats: {', '.join(IMG_FORMATS)})")
        count = self.fraction if isinstance(self.fraction, int) else max(1, round(len(files) * self.fraction))
        files = files[:count] if count < len(files) else files
        return files

    @property
    def npy_files(self) -> _NoLocalFiles:
        """No local *.npy copies (see _NoLocalFile); what BaseDataset assigns is ignored."""
        return _NoLocalFiles(self)

    @npy_files.setter
    def npy_files(self, value: Any) -> None:
        pass

    def _listed(self, bucket: str, key: str) -> List[str]:
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        out = []
        for b, k, size, _ in self._client.list_entries(bucket, prefix):
            path = f"/{b}/{k}"
            self._sizes[path] = size
            out.append(path)
        if not out:
            raise FileNotFoundError(f"{self.prefix}oss://{bucket}/{prefix} holds no object")
        LOGGER.info(f"{self.prefix}listed {len(out)} objects under oss://{bucket}/{prefix}")
        return out

    def _manifest(self, bucket: str, key: str) -> List[str]:
        text = self._client.read_object(bucket, key).decode("utf-8-sig")  # a missing manifest raises its OssError
        base = str(PurePosixPath(key).parent)
        base = "" if base == "." else base + "/"
        out = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("oss://"):
                b, k = parse_oss_uri(line)
                out.append(f"/{b}/{k}")
            elif line.startswith("/"):
                out.append(line)
            else:
                out.append(f"/{bucket}/{base}{line[2:] if line.startswith('./') else line}")
        LOGGER.info(f"{self.prefix}read {len(out)} lines from the manifest oss://{bucket}/{key}")
        return out

    # ---- labels ----

    def get_labels(self) -> List[Dict[str, Any]]:
        """Every image's label, fetched from OSS (one concurrent batch of GETs
        per _LABEL_BATCH labels) and checked as Ultralytics checks label files."""
        self.label_files = img2label_paths(self.im_files)
        nkpt, ndim = self.data.get("kpt_shape", (0, 0))
        ncls = self.data.get("bg_class_idx") or len(self.data["names"])
        labels: List[Dict[str, Any]] = []
        found = missing = empty = corrupt = 0
        warnings: List[str] = []
        for start in range(0, len(self.im_files), _LABEL_BATCH):
            chunk = self.label_files[start : start + _LABEL_BATCH]
            results = self._client.read_objects([(*_oss_path(p), 0, "") for p in chunk])
            for im_file, lb_file, data in zip(self.im_files[start:], chunk, results):
                if isinstance(data, Exception):
                    if not _no_such_key(data):
                        raise data  # never read as "no labels": the image would train as background
                    missing += 1
                    text = ""
                else:
                    found += 1
                    text = data.decode("utf-8-sig", errors="strict") if data else ""
                try:
                    lb, segments, keypoints, note = _parse_label(
                        text, self.use_keypoints, ncls, nkpt, ndim, self.single_cls
                    )
                except (ValueError, UnicodeDecodeError) as e:
                    corrupt += 1
                    warnings.append(f"{self.prefix}{im_file}: ignoring corrupt label {lb_file}: {e}")
                    continue
                if note:
                    warnings.append(f"{self.prefix}{im_file}: {note}")
                if not isinstance(data, Exception) and not len(lb):
                    empty += 1
                labels.append(
                    {
                        "im_file": im_file,
                        "cls": lb[:, 0:1],
                        "bboxes": lb[:, 1:],
                        "segments": segments,
                        "keypoints": keypoints,
                        "normalized": True,
                        "bbox_format": "xywh",
                    }
                )
        where = f"oss:/{PurePosixPath(self.label_files[0]).parent}"
        for w in warnings:
            LOGGER.warning(w)
        LOGGER.info(
            f"{self.prefix}labels from {where}: {len(labels)} images, {missing + empty} backgrounds, {corrupt} corrupt"
        )
        if not labels:
            raise RuntimeError(f"{self.prefix}no valid images in {self.img_path}: {corrupt} corrupt labels")
        if found == 0 and self.augment:  # as Ultralytics: training needs labels, a val split may have none
            raise ValueError(f"{self.prefix}no label objects found for {self.img_path} (looked for {where}/...)")
        self.im_files = [lb["im_file"] for lb in labels]
        verify = getattr(self, "verify_labels", None)  # the box/segment consistency check (Ultralytics >= 8.4)
        if verify is not None:
            verify(labels, Path(where))
        return labels

    # ---- images ----

    def set_rectangle(self) -> None:
        """Rectangular batches need each image's size, not known without
        reading it: every batch is square (imgsz), as upstream's."""
        bi = np.floor(np.arange(self.ni) / self.batch_size).astype(int)
        shapes = np.ones((bi[-1] + 1, 2))
        self.batch_shapes = np.ceil(shapes * np.asarray(self.imgsz) / self.stride + self.pad).astype(int) * self.stride
        self.batch = bi

    def load_image(self, i: int, *args: Any, **kwargs: Any):
        """Ultralytics' load_image (resize, mosaic buffer), reading image i from OSS."""
        outer = getattr(_loading, "dataset", None)
        _loading.dataset = self
        try:
            return super().load_image(i, *args, **kwargs)
        finally:
            _loading.dataset = outer

    def __getitems__(self, indices: Sequence[int]) -> List[Dict[str, Any]]:
        """A DataLoader batch: its images not already in memory fetched
        concurrently in one call, then each sample as __getitem__ makes it."""
        if self.cache != "ram":
            self._fetch([self.im_files[i] for i in indices if self.ims[i] is None])
        try:
            return [self[i] for i in indices]
        finally:
            self._fetched.clear()

    def cache_images(self) -> None:
        """cache='ram': every image fetched concurrently, then decoded and
        kept by Ultralytics' own caching."""
        self._fetch(self.im_files)
        try:
            super().cache_images()
        finally:
            self._fetched.clear()

    def _fetch(self, paths: Iterable[str]) -> None:
        paths = list(dict.fromkeys(paths))
        if not paths:
            return
        entries = [(*_oss_path(p), self._sizes.get(p, 0), "") for p in paths]
        self._fetched.update(zip(paths, self._client.read_objects(entries)))

    def _decode(self, path: str, flags: int) -> np.ndarray:
        data = self._fetched.get(path)
        if data is None:  # not part of a batch (a mix transform's extra image, dataset[i]): one GET
            try:
                data = self._client.read_object(*_oss_path(path))
            except OssError as e:
                data = e
        if isinstance(data, Exception):
            raise data  # a missing image: OssNotFoundError, a FileNotFoundError
        im = cv2.imdecode(np.frombuffer(data, np.uint8), flags) if data else None
        if im is None:
            raise ValueError(f"{self.prefix}oss:/{path} is not an image OpenCV can decode ({len(data)} bytes)")
        if im.dtype == np.uint16 and (flags == cv2.IMREAD_UNCHANGED or not flags & cv2.IMREAD_ANYDEPTH):
            im = (im >> 8).astype(np.uint8)  # 16-bit images as 8-bit, as Ultralytics reads them
        return im


def _no_such_key(e: Exception) -> bool:
    """The label object does not exist (its bucket does: a missing bucket is a
    configuration error, not an image without labels)."""
    return isinstance(e, OssNotFoundError) and getattr(e, "code", None) != "NoSuchBucket"


def _parse_label(
    text: str, keypoint: bool, ncls: int, nkpt: int, ndim: int, single_cls: bool
) -> Tuple[np.ndarray, list, Optional[np.ndarray], str]:
    """(boxes as rows of class x y w h, segments, keypoints, a note) of one
    YOLO label file's text; ValueError for what Ultralytics calls corrupt."""
    width = 5 + nkpt * ndim if keypoint else 5
    rows = [line.split() for line in text.strip().splitlines() if line.strip()]
    segments: list = []
    note = ""
    if nkpt and not keypoint:  # a pose dataset trained for boxes: keep each row's box
        rows = [r[:5] if len(r) == 5 + nkpt * ndim else r for r in rows]
    try:
        if not keypoint and any(len(r) > 6 for r in rows):  # polygons: class x1 y1 x2 y2 ...
            if any(len(r) == 5 for r in rows):
                raise ValueError("the label mixes polygon rows and box rows")
            segments = [np.array(r[1:], dtype=np.float32).reshape(-1, 2) for r in rows]
            classes = np.array([r[0] for r in rows], dtype=np.float32).reshape(-1, 1)
            lb = np.concatenate((classes, segments2boxes(segments)), axis=1)
        else:
            if any(len(r) != width for r in rows):
                raise ValueError(f"each row needs {width} columns, got {sorted({len(r) for r in rows})}")
            lb = np.array(rows, dtype=np.float32).reshape(-1, width)
    except (TypeError, ValueError) as e:  # a word that is no number, an odd polygon
        raise ValueError(str(e)) from None
    if len(lb):
        points = lb[:, 5:].reshape(-1, ndim)[:, :2] if keypoint else lb[:, 1:]
        if points.max() > 1.01:
            raise ValueError(f"coordinates are not normalized to [0, 1]: {points[points > 1.01][:4]}")
        if lb.min() < 0 and (lb.min() < -0.01 or lb[:, 3:5].min() < 0):
            raise ValueError(f"negative values: {lb[lb < 0][:4]}")
        if (lb[:, 0] % 1 != 0).any():
            raise ValueError("class indices must be integers")
        if not single_cls and lb[:, 0].max() >= ncls:
            raise ValueError(f"class {int(lb[:, 0].max())} is not below the dataset's {ncls} classes")
        _, unique = np.unique(lb, axis=0, return_index=True)
        if len(unique) < len(lb) and not segments:
            note = f"{len(lb) - len(unique)} duplicate labels removed"
            lb = lb[np.sort(unique)]
    keypoints = None
    if keypoint:
        keypoints = lb[:, 5:].reshape(-1, nkpt, ndim)
        if ndim == 2:  # visibility from the coordinates: a negative one marks an absent point
            visible = np.where((keypoints[..., 0] < 0) | (keypoints[..., 1] < 0), 0.0, 1.0).astype(np.float32)
            keypoints = np.concatenate([keypoints, visible[..., None]], axis=-1)
    return lb[:, :5], segments, keypoints, note


# ---- the data YAML and the trainer ----


def parse_oss_data_yaml(path: Union[str, Path], single_cls: bool = False) -> Dict[str, Any]:
    """The data dict of a local data YAML whose ``path`` is ``oss://bucket/base``:
    its splits (``train``, ``val``, ``test``, ``minival``: a key under
    base, a list of them, or whole ``oss://`` URIs) as ``/bucket/key``
    paths, its ``names`` as Ultralytics normalizes them."""
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a data YAML is a mapping (path, train, val, names)")
    root = str(data.get("path") or "")
    if not root.startswith("oss://"):
        raise ValueError(f"{path}: 'path' must be an oss://bucket/prefix URI for make_oss_trainer, got {root!r}")
    bucket, base = parse_oss_uri(root)
    if not bucket:
        raise ValueError(f"{path}: 'path' {root!r} names no bucket")
    base = base.strip("/")

    def resolve(v: Any) -> str:
        v = str(v)
        if v.startswith("oss://"):
            b, k = parse_oss_uri(v)
            return f"/{b}/{k}"
        return "/" + "/".join(x for x in (bucket, base, v.strip("/")) if x)

    if "val" not in data and "validation" in data:
        data["val"] = data.pop("validation")
    for split in ("train", "val"):
        if not data.get(split):
            raise ValueError(f"{path}: '{split}:' is missing (a prefix or a .txt manifest under {root})")
    for split in ("train", "val", "test", "minival"):
        v = data.get(split)
        if v:
            data[split] = [resolve(x) for x in v] if isinstance(v, (list, tuple)) else resolve(v)
    if "names" not in data:
        if "nc" not in data:
            raise ValueError(f"{path}: 'names' (or 'nc') is missing")
        data["names"] = [f"class{i}" for i in range(int(data["nc"]))]
    if "nc" in data and int(data["nc"]) != len(data["names"]):
        raise ValueError(f"{path}: nc={data['nc']} but {len(data['names'])} names")
    data["names"] = check_class_names(data["names"])
    if single_cls:
        data["names"] = {0: "item"}
    data["nc"] = len(data["names"])
    data.setdefault("channels", 3)
    data["yaml_file"] = str(path)
    return data


def make_oss_trainer(
    endpoint: str, cred_path: str = "", config_path: str = "", cred_provider: Any = None, region: str = ""
) -> type:
    """A DetectionTrainer class (pass it as ``YOLO(...).train(trainer=...)``)
    that reads the splits of a data YAML whose ``path`` is ``oss://...``
    through OSSYOLODataset, with this client configuration.

    On CPU, Ultralytics sets ``workers=0``; a ``workers`` you pass
    explicitly is kept (DataLoader workers overlap fetching with compute)."""
    if not endpoint:
        raise ValueError("make_oss_trainer: endpoint is required (e.g. https://oss-cn-hangzhou.aliyuncs.com)")
    oss = dict(
        oss_endpoint=endpoint,
        oss_cred_path=cred_path,
        oss_config_path=config_path,
        oss_cred_provider=cred_provider,
        oss_region=region,
    )

    class OSSDetectionTrainer(DetectionTrainer):
        """DetectionTrainer reading its data from OSS (made by make_oss_trainer)."""

        def __init__(self, cfg=DEFAULT_CFG, overrides: Optional[Dict[str, Any]] = None, _callbacks=None):
            super().__init__(cfg, overrides, _callbacks)
            asked = (overrides or {}).get("workers")
            if asked is not None and self.args.workers != asked:
                self.args.workers = int(asked)

        def get_dataset(self) -> Dict[str, Any]:
            # Ultralytics' check_det_dataset would look for the splits on local disk (and try to download them)
            return parse_oss_data_yaml(self.args.data, single_cls=bool(self.args.single_cls))

        def build_dataset(self, img_path: Any, mode: str = "train", batch: Optional[int] = None):
            stride = max(int(unwrap_model(self.model).stride.max()), 32)
            return OSSYOLODataset(
                img_path=img_path,
                imgsz=self.args.imgsz,
                batch_size=batch,
                augment=mode == "train",
                hyp=self.args,
                rect=bool(self.args.rect) or mode == "val",
                cache=self.args.cache or None,
                single_cls=self.args.single_cls or False,
                stride=stride,
                pad=0.0 if mode == "train" else 0.5,
                prefix=colorstr(f"{mode}: "),
                task=self.args.task,
                classes=self.args.classes,
                data=self.data,
                fraction=self.args.fraction if mode == "train" else 1.0,
                **oss,
            )

        def final_eval(self):
            # The final validation of best.pt runs the validator without the trainer, and the validator then
            # re-reads the YAML with check_det_dataset (local paths): hand it this trainer's data instead.
            import ultralytics.engine.validator as validator_module

            original, data = validator_module.check_det_dataset, self.data
            validator_module.check_det_dataset = lambda *args, **kwargs: data
            try:
                return super().final_eval()
            finally:
                validator_module.check_det_dataset = original

    return OSSDetectionTrainer
