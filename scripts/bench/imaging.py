"""The D1 images and the two per-sample transforms every system applies.

Imported by the measurement children of both virtualenvs (ours and
upstream's), so it needs only numpy, Pillow and torch.
"""

from __future__ import annotations

import io
import pathlib
from typing import List

import numpy as np

VARIANTS = 16  # distinct images; object i is image i mod 16
WIDTH, HEIGHT = 500, 375  # ImageNet's typical shape
NOISE = 24  # noise over a gradient: ~100 KB at quality 90, like an ImageNet JPEG
SIDE = 224


def make_images(dest: pathlib.Path, n: int = VARIANTS) -> List[int]:
    """Write n JPEGs of about 100 KB into dest; returns their sizes."""
    from PIL import Image

    dest.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2024)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    sizes = []
    for i in range(n):
        phase = i * 37
        base = np.stack(
            [
                (x + phase) % WIDTH * 255 / WIDTH,
                (y + phase) % HEIGHT * 255 / HEIGHT,
                (x + y + 3 * phase) % (WIDTH + HEIGHT) * 255 / (WIDTH + HEIGHT),
            ],
            -1,
        )
        img = np.clip(base + rng.normal(0, NOISE, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=90)
        (dest / f"{i:02d}.jpg").write_bytes(buf.getvalue())
        sizes.append(len(buf.getvalue()))
    return sizes


def decode_bytes(data: bytes):
    """JPEG bytes -> uint8 tensor [3, 224, 224]: a full decode and resize,
    the CPU work of a typical image pipeline without the float
    normalisation (which is the same for every system)."""
    from PIL import Image

    return to_tensor(Image.open(io.BytesIO(data)).convert("RGB"))


def to_tensor(img):
    """A decoded PIL image -> uint8 tensor [3, 224, 224]."""
    import torch

    return torch.from_numpy(np.asarray(img.resize((SIDE, SIDE)))).permute(2, 0, 1)


# The transforms of the connector datasets (ours and upstream), module-level
# so that they pickle: "none" is the least a user can do — take the bytes
# out of the DataObject; "decode" decodes them.


def read_bytes(obj):
    return obj.read()


def read_decode(obj):
    return decode_bytes(obj.read())


def list_collate(batch):
    """No stacking for raw bytes: the batch stays a list."""
    return batch
