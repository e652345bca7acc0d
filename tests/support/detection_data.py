"""Tiny detection datasets for the framework integration tests
(tests/integrations): small JPEGs, each with one box, as YOLO label files
and as a COCO annotation file, put in a local OSS server."""

from __future__ import annotations

import io
import json
from typing import Dict, Iterable, Tuple

from PIL import Image, ImageDraw

SIZE = 64


def box(i: int) -> Tuple[int, int, int, int]:
    """Image i's box in pixels: x, y, width, height."""
    return 6 + 4 * (i % 8), 8 + 2 * (i % 5), 20, 28


def jpeg(i: int, size: int = SIZE) -> bytes:
    """A size x size JPEG: a bright box (box(i)) on a dark background."""
    im = Image.new("RGB", (size, size), (30, 30, 40))
    x, y, w, h = box(i)
    ImageDraw.Draw(im).rectangle([x, y, x + w - 1, y + h - 1], fill=(250, 180, 20))
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def yolo_label(i: int, cls: int = 0) -> str:
    """Image i's box as a YOLO label line: class, normalized center, size."""
    x, y, w, h = box(i)
    return f"{cls} {(x + w / 2) / SIZE:.6f} {(y + h / 2) / SIZE:.6f} {w / SIZE:.6f} {h / SIZE:.6f}\n"


def put_yolo_split(
    srv, bucket: str, base: str, split: str, n: int, without_label: Iterable[int] = ()
) -> Dict[str, int]:
    """n images at <base>/images/<split>/NN.jpg and their labels at
    <base>/labels/<split>/NN.txt (none for the images in without_label).
    Returns what was put: {"images": n, "labels": ...}."""
    skip = set(without_label)
    for i in range(n):
        srv.put_object(bucket, f"{base}/images/{split}/{i:02d}.jpg", jpeg(i))
        if i not in skip:
            srv.put_object(bucket, f"{base}/labels/{split}/{i:02d}.txt", yolo_label(i))
    return {"images": n, "labels": n - len(skip & set(range(n)))}


def coco(n: int, prefix: str = "") -> dict:
    """A COCO annotation dict for images <prefix>NN.jpg, category 1 'box'."""
    images, anns = [], []
    for i in range(n):
        images.append({"id": i + 1, "file_name": f"{prefix}{i:02d}.jpg", "width": SIZE, "height": SIZE})
        x, y, w, h = box(i)
        anns.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0}
        )
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "box"}]}


def put_coco(srv, bucket: str, base: str, n: int, ann_key: str = "annotations/train.json") -> None:
    """n images at <base>/train/NN.jpg and their COCO file at <base>/<ann_key>."""
    for i in range(n):
        srv.put_object(bucket, f"{base}/train/{i:02d}.jpg", jpeg(i))
    srv.put_object(bucket, f"{base}/{ann_key}", json.dumps(coco(n)))


def gets(srv) -> Dict[str, int]:
    """GetObject requests the server answered, by status, once none is in flight."""
    return dict(srv.settled_stats()["requests"].get("GetObject", {}))
