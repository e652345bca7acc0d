"""One C1 measurement: torch.save then torch.load of a state dict through
one system, with the time and the memory each took. worker.py runs it in a
fresh fork; by hand:

    python c1_run.py --system ours --gib 0.25

Systems: ours and upstream (OssCheckpoint writer/reader), oss2-put (the
seed's put_object / get_object through a BytesIO), oss2-resumable (the seed
SDK's resumable multipart upload and download, staged through a file in
/dev/shm), memory (torch.save / torch.load to a file in /dev/shm: the limit).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import time

import torch
from measure import MemorySampler, cpu, rss

KEY = "c1/ckpt.pt"
PART = 8 << 20  # part and chunk size for every system (our default partSize / readChunkSize)
OSS2_THREADS = 4  # num_threads of Alibaba's resumable_upload/download examples
TENSOR = 64 << 20  # bytes per weight: a 4096 x 4096 float32 matrix


def state_dict(gib: float) -> dict:
    """~gib GiB of float32 weights (4096 x 4096 matrices) with a bias each,
    distinct per layer, and a little non-tensor state, as a model's state
    dict has. Values come from one random block plus the layer number:
    random enough that nothing compresses, cheap to make."""
    layers = max(1, round(gib * (1 << 30) / TENSOR))
    g = torch.Generator().manual_seed(0)
    base = torch.rand(TENSOR // 4, generator=g)
    sd = {}
    for i in range(layers):
        sd[f"layers.{i}.weight"] = (base + i).view(4096, -1)
        sd[f"layers.{i}.bias"] = torch.full((4096,), float(i))
    sd["step"] = torch.tensor(1000)
    return sd


def nbytes(sd: dict) -> int:
    return sum(t.numel() * t.element_size() for t in sd.values() if isinstance(t, torch.Tensor))


class System:
    """save(sd) and load() -> sd for one data path."""

    def __init__(self, name: str, env) -> None:
        self.name = name
        bucket = env.get("BENCH_BUCKET", "bench")
        self.uri = f"oss://{bucket}/{KEY}"
        self.tmp = tempfile.mkdtemp(prefix="c1-", dir="/dev/shm")
        if name in ("ours", "upstream"):
            from osstorchconnector import OssCheckpoint

            endpoint = env["BENCH_UPSTREAM_ENDPOINT"] if name == "upstream" else env["BENCH_ENDPOINT"]
            self.ckpt = OssCheckpoint(
                endpoint,
                cred_path=env["BENCH_CRED_PATH"],
                config_path=env.get("BENCH_CONFIG_PATH", ""),
                region=env["BENCH_REGION"],
            )
        elif name.startswith("oss2"):
            import oss2

            auth = oss2.Auth(env["OSS_ACCESS_KEY_ID"], env["OSS_ACCESS_KEY_SECRET"])
            self.bucket = oss2.Bucket(auth, env["BENCH_ENDPOINT"], bucket)
        elif name != "memory":
            raise ValueError(f"unknown system {name}")

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def save(self, sd: dict, key: str = KEY) -> None:
        if self.name in ("ours", "upstream"):
            with self.ckpt.writer(self.uri.replace(KEY, key)) as f:
                torch.save(sd, f)
        elif self.name == "oss2-put":
            buffer = io.BytesIO()
            torch.save(sd, buffer)
            self.bucket.put_object(key, buffer.getvalue())
        elif self.name == "oss2-resumable":
            import oss2

            path = os.path.join(self.tmp, "save.pt")
            torch.save(sd, path)
            oss2.resumable_upload(
                self.bucket,
                key,
                path,
                store=oss2.ResumableStore(root=self.tmp),
                part_size=PART,
                num_threads=OSS2_THREADS,
            )
            os.remove(path)
        else:
            torch.save(sd, os.path.join(self.tmp, key.replace("/", "_")))

    def load(self, key: str = KEY) -> dict:
        if self.name in ("ours", "upstream"):
            with self.ckpt.reader(self.uri.replace(KEY, key)) as f:
                return torch.load(f)
        if self.name == "oss2-put":
            buffer = io.BytesIO(self.bucket.get_object(key).read())
            return torch.load(buffer)
        if self.name == "oss2-resumable":
            import oss2

            path = os.path.join(self.tmp, "load.pt")
            oss2.resumable_download(
                self.bucket,
                key,
                path,
                store=oss2.ResumableDownloadStore(root=self.tmp),
                part_size=PART,
                num_threads=OSS2_THREADS,
            )
            try:
                return torch.load(path, mmap=False)
            finally:
                os.remove(path)
        return torch.load(os.path.join(self.tmp, key.replace("/", "_")), mmap=False)


class GoHeapSampler:
    """Peak Go heap of our core while it runs (ours only): the writer's
    bound is on the bytes of parts in flight, which live in the Go heap;
    RSS also counts garbage between collections and freed memory the Go
    runtime has not returned to the OS yet. (Each sample stops the Go
    world for microseconds.)"""

    def __init__(self, period: float = 0.05) -> None:
        import threading

        from osstorchconnector import _native

        self._stats, self.period = _native.runtime_stats, period
        self.alloc = self.sys = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while True:
            st = self._stats()
            self.alloc, self.sys = max(self.alloc, st["heap_alloc"]), max(self.sys, st["heap_sys"])
            if self._stop.wait(self.period):
                return

    def stop(self) -> None:
        self._stop.set()
        self._t.join()


def run_case(system: str, gib: float = 2.0) -> dict:
    env = os.environ
    sd = state_dict(gib)
    size = nbytes(sd)
    s = System(system, env)
    try:
        before = rss()
        # Warm-up, not timed: load the native core, open connections (a
        # training job pays this once, not per checkpoint).
        s.save({"warm": torch.zeros(4)}, "c1/warmup.pt")
        s.load("c1/warmup.pt")
        setup_rss = rss() - before
        mem = MemorySampler(tree=False).start()
        heap = GoHeapSampler() if system == "ours" else None
        c0, t0 = cpu(), time.monotonic()
        s.save(sd)
        save_s, save_cpu = time.monotonic() - t0, cpu() - c0
        mem.stop()
        if heap:
            heap.stop()
        save_growth = mem.peak_growth
        mem = MemorySampler(tree=False).start()
        c0, t0 = cpu(), time.monotonic()
        back = s.load()
        load_s, load_cpu = time.monotonic() - t0, cpu() - c0
        mem.stop()
        load_growth = mem.peak_growth - size  # what it held beyond the loaded tensors themselves
        exact = back.keys() == sd.keys() and all(torch.equal(back[k], v) for k, v in sd.items())
    finally:
        s.close()
    return {
        "system": system,
        "bytes": size,
        "save_s": save_s,
        "load_s": load_s,
        "save_gb_s": size / save_s / 1e9,
        "load_gb_s": size / load_s / 1e9,
        "save_peak_rss_growth": save_growth,
        "load_peak_rss_growth_beyond_tensors": load_growth,
        "save_cpu_s": save_cpu,
        "load_cpu_s": load_cpu,
        "setup_rss": setup_rss,
        "exact": bool(exact),
        "save_go_heap_alloc_peak": heap.alloc if heap else None,
        "save_go_heap_sys_peak": heap.sys if heap else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--system", required=True)
    ap.add_argument("--gib", type=float, default=2.0)
    a = ap.parse_args()
    print(json.dumps(run_case(a.system, a.gib)))


if __name__ == "__main__":
    main()
