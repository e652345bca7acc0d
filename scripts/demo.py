#!/usr/bin/env python3
"""The demo (`make demo`): a small image-classification run fed straight from
OSS — here the embedded local OSS server, with realistic first-byte latency.

1. starts the local server and uploads a labelled dataset of 2,000 PNGs in 10
   classes (train/<class>/<n>.png);
2. trains a small CNN for one epoch from OssMapDataset + DataLoader(num_workers=2),
   then one epoch from OssIterableDataset;
3. a third, shuffled epoch is interrupted after 10 batches, as a preempted
   job would be, and resumed by a new loader from its saved state
   (StatefulDataLoader): the rest of the epoch, every image exactly once;
4. saves the model with OssCheckpoint and loads it back, bit-exact;
5. prints samples/s, what the server saw, the dataset's stats, and where
   the data lives.
"""

from __future__ import annotations

import io
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from torch.utils.data import DataLoader

from osstorchconnector import OssCheckpoint, OssIterableDataset, OssMapDataset, __version__
from osstorchconnector.testing import LocalOssServer

try:
    from tqdm import tqdm
except ImportError:  # the demo extra brings tqdm

    def tqdm(it, **_):
        return it


BUCKET = "demo"
CLASSES = 10
PER_CLASS = 200
SIDE = 32
LATENCY_MS = 20  # first-byte latency injected by the server (real OSS: ~35 ms P50)


def make_png(cls: int, n: int) -> bytes:
    """A noisy image whose colour and stripe direction depend on its class."""
    rng = np.random.default_rng(cls * 100003 + n)
    hue = np.array([(cls * 37) % 256, (cls * 91) % 256, (cls * 53) % 256], dtype=np.float32)
    img = rng.normal(0, 40, (SIDE, SIDE, 3)) + hue
    stripes = (np.arange(SIDE) // (2 + cls % 5)) % 2 * 60
    img += stripes[:, None, None] if cls % 2 else stripes[None, :, None]
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def decode(obj):
    """Transform: DataObject -> (image tensor, class index from the key)."""
    img = np.asarray(Image.open(io.BytesIO(obj.read())).convert("RGB"), dtype=np.float32) / 255.0 - 0.5
    label = int(obj.key.split("/")[-2][len("class") :])
    return torch.from_numpy(img).permute(2, 0, 1), label


def model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 8 * 8, 64),
        nn.ReLU(),
        nn.Linear(64, CLASSES),
    )


def train_epoch(net, opt, loader, total, desc):
    net.train()
    loss_fn = nn.CrossEntropyLoss()
    seen = correct = 0
    start = time.monotonic()
    bar = tqdm(total=total, desc=desc, unit="img")
    for x, y in loader:
        opt.zero_grad()
        out = net(x)
        loss = loss_fn(out, y)
        loss.backward()
        opt.step()
        seen += len(y)
        correct += (out.argmax(1) == y).sum().item()
        bar.update(len(y))
    bar.close()
    dt = time.monotonic() - start
    return seen, seen / dt, correct / max(seen, 1)


def decode_keeping_key(obj):
    """decode(), with the key kept: the resume step checks which images came."""
    x, y = decode(obj)
    return x, y, obj.key


def resume_epoch(net, opt, oss, common, total) -> bool:
    """Epoch 3: shuffled, interrupted after 10 batches, resumed from the
    loader's saved state by a new dataset and loader."""
    try:
        from torchdata.stateful_dataloader import StatefulDataLoader
    except ImportError:
        print("epoch 3 (resume): skipped, torchdata is not installed (pip install torchdata)")
        return True
    loss_fn = nn.CrossEntropyLoss()
    kw = dict(common, transform=decode_keeping_key, shuffle=True, seed=3, batch_size=64)

    def step(batch):
        x, y, keys = batch
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
        return list(keys)

    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/train/", **kw)
    loader = StatefulDataLoader(ds, batch_size=64, num_workers=2)
    seen = []
    for i, batch in enumerate(loader):
        seen += step(batch)
        if i == 9:
            state = loader.state_dict()  # what a job saves beside its checkpoint
            break
    del loader  # preempted
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/train/", **kw)
    loader = StatefulDataLoader(ds, batch_size=64, num_workers=2)
    loader.load_state_dict(state)
    t0 = time.monotonic()
    rest = []
    for batch in loader:
        rest += step(batch)
    st = ds.stats()
    once = sorted(seen + rest) == sorted(set(seen + rest)) and len(seen + rest) == total
    print(
        f"epoch 3 (shuffled, interrupted after {len(seen)} images, resumed by a new loader): "
        f"{len(rest)} more in {time.monotonic() - t0:.1f} s; each of the {total} images exactly once: {once}"
    )
    print(
        f"  resumed loader's stats: {st['gets']} GETs (only what was left), {st['bytes'] / 1e6:.1f} MB, "
        f"first byte p50 {st['first_byte_p50_ms']} ms, p99 {st['first_byte_p99_ms']} ms, retries {st['retries']}"
    )
    return once


def main() -> int:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # leave the second core to the DataLoader workers
    print(f"osstorchconnector {__version__} demo")
    with LocalOssServer([BUCKET]) as oss:
        print(f"local OSS server: {oss.endpoint} (region {oss.region}; V4 signatures checked)")
        print(f"credentials file: {oss.cred_path}")
        total = CLASSES * PER_CLASS
        for i in tqdm(range(total), desc="generate + upload", unit="img"):
            cls, n = i % CLASSES, i // CLASSES
            oss.put_object(BUCKET, f"train/class{cls}/{n:04d}.png", make_png(cls, n))
        oss.set_faults(latency_ms=LATENCY_MS, latency_jitter_ms=10)
        print(
            f"dataset: oss://{BUCKET}/train/ ({total} PNGs, {CLASSES} classes); "
            f"server adds {LATENCY_MS}-{LATENCY_MS + 10} ms first-byte latency per request"
        )
        common = dict(endpoint=oss.endpoint, cred_path=oss.cred_path, region=oss.region, transform=decode)

        net = model()
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        oss.reset_stats()
        t0 = time.monotonic()
        mapped = OssMapDataset.from_prefix(f"oss://{BUCKET}/train/", **common)
        print(f"OssMapDataset listed {len(mapped)} objects in {time.monotonic() - t0:.2f} s")
        loader = DataLoader(mapped, batch_size=64, shuffle=True, num_workers=2)
        n, rate, acc = train_epoch(net, opt, loader, total, "epoch 1 (OssMapDataset)")
        st = oss.stats()
        print(
            f"  {n} samples, {rate:.0f} samples/s, train accuracy {acc:.0%}; "
            f"peak {st['peak_concurrent']} requests in flight"
        )

        oss.reset_stats()
        iterable = OssIterableDataset.from_prefix(f"oss://{BUCKET}/train/", **common)
        loader = DataLoader(iterable, batch_size=64, num_workers=2)
        n, rate, acc = train_epoch(net, opt, loader, total, "epoch 2 (OssIterableDataset)")
        st = oss.stats()
        print(
            f"  {n} samples, {rate:.0f} samples/s, train accuracy {acc:.0%}; "
            f"one listing shared by 2 workers ({st['list_pages']} pages of <= 1000 keys), "
            f"peak {st['peak_concurrent']} requests in flight"
        )

        if not resume_epoch(net, opt, oss, common, total):
            print("demo FAILED", file=sys.stderr)
            return 1

        ckpt = OssCheckpoint(oss.endpoint, cred_path=oss.cred_path, region=oss.region)
        uri = f"oss://{BUCKET}/checkpoints/demo-cnn.pt"
        with ckpt.writer(uri) as f:
            torch.save(net.state_dict(), f)
        with ckpt.reader(uri) as f:
            size = f.size
            back = torch.load(f)
        same = all(torch.equal(back[k], v) for k, v in net.state_dict().items())
        print(f"checkpoint: saved and loaded {uri} ({size / 1024:.0f} KiB), tensors identical: {same}")
        if n != total or not same:
            print("demo FAILED", file=sys.stderr)
            return 1
    print("demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
