#!/usr/bin/env python3
"""A short ResNet-18 training run fed from the local OSS server (with the
suite's emulated OSS latency) and the same run fed from local files, with
the GPU's busy time for each: does streaming from OSS keep the GPU as busy
as a local disk does?

    python scripts/bench/gpu_train.py                          # on a GPU machine
    python scripts/bench/gpu_train.py --device cpu --quick     # smoke run, anywhere

GPU busy time is the sum over steps of the time between a CUDA event
recorded before the step's forward pass and one after its optimizer step
(the input copy is outside), so the gaps where the GPU waited for the
next batch do not count. On CPU it is the steps' wall time. Both runs use
the same images (synthetic ~100 KB JPEGs, 10 classes), transforms
(decode, RandomResizedCrop, flip, normalise), DataLoader settings and
seed. Prints a table and one JSON line; --out writes the JSON to a file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import io
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import imaging  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

CLASSES = 10
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


class Augment:
    """decode -> RandomResizedCrop -> flip -> float, normalised: the usual
    ImageNet training transform (module-level, so that it pickles)."""

    def __init__(self, side: int) -> None:
        import torchvision.transforms as T

        self.t = T.Compose([T.RandomResizedCrop(side), T.RandomHorizontalFlip(), T.PILToTensor()])

    def image(self, data: bytes) -> torch.Tensor:
        img = Image.open(io.BytesIO(data)).convert("RGB")
        return (self.t(img).float() / 255 - MEAN) / STD


class OssSample:
    """Transform of the OSS datasets: DataObject -> (image, class from the key)."""

    def __init__(self, side: int) -> None:
        self.aug = Augment(side)

    def __call__(self, obj):
        return self.aug.image(obj.read()), label_of(obj.key)


def label_of(name: str) -> int:
    """NNNNNNN_cKK.jpg -> KK. Classes alternate in key order, so that the
    iterable dataset (listing order) gives mixed batches without a shuffle."""
    return int(name.rsplit("_c", 1)[1][:2])


class LocalFiles(Dataset):
    """A folder of JPEGs read with open(), as ImageFolder would."""

    def __init__(self, root: pathlib.Path, side: int) -> None:
        self.files = sorted(root.glob("*.jpg"))
        self.aug = Augment(side)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        p = self.files[i]
        return self.aug.image(p.read_bytes()), label_of(p.name)


def make_data(n: int, local: pathlib.Path, oss) -> None:
    """n JPEGs in CLASSES classes, written to local/ and uploaded to train/."""
    variants = local.parent / "variants"
    imaging.make_images(variants)
    bodies = [p.read_bytes() for p in sorted(variants.glob("*.jpg"))]
    local.mkdir(parents=True, exist_ok=True)
    jobs = []
    for i in range(n):
        name = f"{i:07d}_c{i % CLASSES:02d}.jpg"
        (local / name).write_bytes(bodies[i % len(bodies)])
        jobs.append(("train/" + name, bodies[i % len(bodies)]))
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda kv: oss.put_object(common.BUCKET, kv[0], kv[1]), jobs))


def train(loader: DataLoader, device: torch.device, steps: int, amp: bool, warmup: int) -> dict:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=CLASSES).to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1 * loader.batch_size / 256, momentum=0.9)  # linear scaling rule
    loss_fn = nn.CrossEntropyLoss()
    cuda = device.type == "cuda"
    events, busy_cpu = [], 0.0
    n = done = 0
    t0 = None
    for step, (x, y) in enumerate(loader):
        if step == warmup:  # the first steps (cuDNN autotuning, worker start) are not timed
            if cuda:
                torch.cuda.synchronize()
            t0, events, busy_cpu, n = time.perf_counter(), [], 0.0, 0
        x = x.to(device, non_blocking=True)
        y = y.to(device, non_blocking=True)
        if cuda:
            x = x.contiguous(memory_format=torch.channels_last)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
        s = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if cuda:
            end.record()
            events.append((start, end))
        else:
            busy_cpu += time.perf_counter() - s
        n += x.shape[0]
        done = step + 1
        if done >= steps:
            break
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - t0 if t0 is not None else 0.0
    busy = sum(a.elapsed_time(b) for a, b in events) / 1000 if cuda else busy_cpu
    return {
        "steps": done,
        "timed_images": n,
        "wall_s": wall,
        "busy_s": busy,
        "busy_fraction": busy / wall if wall else 0.0,
        "images_per_s": n / wall if wall else 0.0,
        "final_loss": float(loss.detach()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description="ResNet-18 fed from the local OSS server vs local files")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--quick", action="store_true", help="tiny run (smoke test)")
    ap.add_argument("--images", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1))
    ap.add_argument("--steps", type=int, default=60, help="training steps per run (the first --warmup are not timed)")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--side", type=int, default=224, help="crop size")
    ap.add_argument(
        "--dataset", choices=["iterable", "map"], default="iterable", help="which OSS dataset feeds the run"
    )
    ap.add_argument("--no-latency", action="store_true", help="serve without the emulated OSS latency")
    ap.add_argument("--out", default="", help="also write the JSON result here")
    a = ap.parse_args()
    if a.quick:
        a.images, a.batch, a.steps, a.warmup, a.side = 192, 16, 6, 1, 112
        a.workers = min(a.workers, 2)
    device = torch.device(a.device)
    amp = device.type == "cuda"

    from osstorchconnector import OssIterableDataset, OssMapDataset
    from osstorchconnector.testing import LocalOssServer

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="gpu-train-"))
    results = {}
    try:
        with LocalOssServer(buckets=[common.BUCKET], region=common.REGION) as oss:
            t = time.monotonic()
            make_data(a.images, tmp / "local", oss)
            print(f"{a.images} images written locally and uploaded in {time.monotonic() - t:.1f} s", file=sys.stderr)
            if not a.no_latency:
                oss.set_faults(**common.REALISM)
            kw = dict(
                batch_size=a.batch,
                num_workers=a.workers,
                pin_memory=device.type == "cuda",
                drop_last=True,
                persistent_workers=False,
            )
            if a.workers:
                kw["prefetch_factor"] = 4
            uri = f"oss://{common.BUCKET}/train/"
            conn = dict(
                endpoint=oss.endpoint, cred_path=oss.cred_path, region=common.REGION, transform=OssSample(a.side)
            )
            if a.dataset == "iterable":
                oss_loader = DataLoader(OssIterableDataset.from_prefix(uri, **conn), **kw)
            else:
                oss_loader = DataLoader(OssMapDataset.from_prefix(uri, **conn), shuffle=True, **kw)
            local_loader = DataLoader(LocalFiles(tmp / "local", a.side), shuffle=True, **kw)
            for name, loader in (("local files", local_loader), ("local OSS server", oss_loader)):
                results[name] = train(loader, device, a.steps, amp, a.warmup)
                r = results[name]
                print(
                    f"{name:>17}: {r['images_per_s']:8.1f} images/s, GPU busy {r['busy_s']:.2f} of {r['wall_s']:.2f} s "
                    f"({r['busy_fraction']:.0%}), loss {r['final_loss']:.3f}",
                    file=sys.stderr,
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "images": a.images,
        "batch": a.batch,
        "workers": a.workers,
        "steps": a.steps,
        "warmup": a.warmup,
        "side": a.side,
        "dataset": a.dataset,
        "latency": None if a.no_latency else common.REALISM,
        "runs": results,
    }
    local, remote = results["local files"], results["local OSS server"]
    if local["busy_fraction"]:
        out["busy_fraction_ratio"] = remote["busy_fraction"] / local["busy_fraction"]
        print(f"GPU busy fraction, OSS / local: {out['busy_fraction_ratio']:.2f}", file=sys.stderr)
    print(json.dumps(out))
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
