"""Saves and loads a large state dict through OssCheckpoint and reports peak
RSS above the state dict (run as a fresh process by
tests/checkpoint/test_checkpoint.py).

    python tests/support/ckpt_rss.py ENDPOINT CRED_PATH REGION URI GIB CONFIG_PATH
"""

import json
import sys
import threading
import time

import torch

from osstorchconnector import OssCheckpoint


def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Sampler:
    def __init__(self):
        self.peak, self._stop = 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss())

    def __enter__(self):
        self.peak = rss()
        self._t.start()
        return self

    def __exit__(self, *a):
        self._stop.set()
        self._t.join()


def main():
    endpoint, cred, region, uri, gib, config = sys.argv[1:7]
    n_tensors = max(1, int(float(gib) * 4))  # 256 MiB each
    g = torch.Generator().manual_seed(1)
    sd = {f"layer{i}.weight": torch.randn(64 << 20, generator=g) for i in range(n_tensors)}  # 64 Mi floats = 256 MiB
    ck = OssCheckpoint(endpoint, cred_path=cred, config_path=config, region=region)
    before_core = rss()
    ck.save({"warm": torch.zeros(1)}, uri + ".warmup")  # load the Go core and open a connection first
    base = rss()
    t0 = time.monotonic()
    with Sampler() as s:
        with ck.writer(uri) as f:
            torch.save(sd, f)
    save_s = time.monotonic() - t0
    save_peak = s.peak - base
    t0 = time.monotonic()
    with ck.reader(uri) as f:
        size = f.size
        back = torch.load(f, mmap=False)
    load_s = time.monotonic() - t0
    exact = all(torch.equal(back[k], v) for k, v in sd.items())
    print(
        json.dumps(
            {
                "bytes": size,
                "save_s": save_s,
                "load_s": load_s,
                "save_peak_rss_above_state_dict": save_peak,
                "core_loaded_rss": base - before_core,
                "state_dict_bytes": sum(v.numel() * 4 for v in sd.values()),
                "exact": exact,
            }
        )
    )


if __name__ == "__main__":
    main()
