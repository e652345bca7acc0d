"""One R1 measurement (cache, shuffle, resume; issue #16). worker.py runs it
in a fresh fork; by hand (the server from BENCH_* environment variables,
common.BenchServer.connection_env):

    python r1_run.py --case epoch [--shuffle]
    python r1_run.py --case cache --cache-dir /tmp/c
    python r1_run.py --case local-plain --local-dir /abs/dir

Cases:

* epoch: one epoch of OssIterableDataset.from_prefix over the R1 images
  (4 DataLoader workers, batch 64, each sample the object's bytes), with or
  without shuffle;
* cache: the same with the node-local cache, twice in one process: epoch 1
  fills an empty cache directory, epoch 2 reads it; the server's request
  counts for each epoch come from its stats;
* local-plain / local-ours: the same objects as files in a local directory,
  read by a plain torch IterableDataset with open() / by our local-directory
  mode (from_prefix("/abs/dir/", endpoint=""));
* resume-save / resume-load / list: torchdata's StatefulDataLoader over a
  large prefix: take a few batches and save loader.state_dict() to a file;
  in another process, load it and time load_state_dict to the first batch;
  the listing alone (an OssMapDataset's construction, as L1 times it);
* ranks: several processes as distributed ranks (RANK / WORLD_SIZE,
  shard_by_rank=True), each reading one epoch with its own DataLoader.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request
from typing import Any, Dict, List, Optional

import imaging
import torch
from measure import cpu, proc_cpu
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

BATCH = 64
IMAGES = "r1/"
BIG = "r1big/"
RANKS = "r1rank/"


def _kw(config: str = "") -> Dict[str, Any]:
    env = os.environ
    return {
        "endpoint": env["BENCH_ENDPOINT"],
        "cred_path": env["BENCH_CRED_PATH"],
        "config_path": config or env["BENCH_CONFIG_PATH"],
        "region": env["BENCH_REGION"],
    }


def _uri(prefix: str) -> str:
    return f"oss://{os.environ.get('BENCH_BUCKET', 'bench')}/{prefix}"


def server_counts() -> Dict[str, int]:
    """Requests the server has answered so far, by operation, once none is
    in flight (it counts a request after answering it)."""
    url = os.environ["BENCH_ENDPOINT"] + "/_ossemu/stats"
    deadline = time.monotonic() + 10
    while True:
        with urllib.request.urlopen(url, timeout=60) as r:
            st = json.loads(r.read())
        if not st.get("concurrent") or time.monotonic() > deadline:
            return {op: sum(by_status.values()) for op, by_status in st["requests"].items()}
        time.sleep(0.005)


def _delta(after: Dict[str, int], before: Dict[str, int]) -> Dict[str, int]:
    return {op: n - before.get(op, 0) for op, n in after.items() if n - before.get(op, 0)}


def epoch(loader, server_pid: int = 0) -> Dict[str, Any]:
    """One epoch of loader (batches are lists of bytes), timed from the
    iterator's creation (worker start-up and the listing included) to the
    last batch; CPU of this process and its workers until they are joined."""
    n = nbytes = 0
    first = None
    c0, s0, t0 = cpu(), proc_cpu(server_pid) if server_pid else 0.0, time.monotonic()
    it = iter(loader)
    for batch in it:
        n += len(batch)
        nbytes += sum(len(b) for b in batch)
        if first is None:
            first = time.monotonic() - t0
    seconds = time.monotonic() - t0
    del it  # shuts the workers down and joins them, so that their CPU time is counted
    out = {
        "objects": n,
        "bytes": nbytes,
        "seconds": seconds,
        "objects_per_s": n / seconds,
        "first_batch_s": first,
        "cpu_s": cpu() - c0,
    }
    if server_pid:
        out["server_cpu_s"] = proc_cpu(server_pid) - s0
    return out


class LocalFiles(IterableDataset):
    """What a user writes for a directory of files: list it each epoch, each
    DataLoader worker reads every num_workers-th file with open()."""

    def __init__(self, root: str) -> None:
        self.root = root

    def __iter__(self):
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        names = sorted(os.listdir(self.root))
        for name in names[wid::nw]:
            with open(os.path.join(self.root, name), "rb") as f:
                yield f.read()


def _loader(ds, workers: int) -> DataLoader:
    return DataLoader(ds, batch_size=BATCH, num_workers=workers, collate_fn=imaging.list_collate)


def _epoch_case(workers: int, shuffle: bool, server_pid: int, expect: int) -> Dict[str, Any]:
    from osstorchconnector import OssIterableDataset

    extra = {"shuffle": True, "seed": 1} if shuffle else {}
    ds = OssIterableDataset.from_prefix(_uri(IMAGES), transform=imaging.read_bytes, **_kw(), **extra)
    before = server_counts()
    out = epoch(_loader(ds, workers), server_pid)
    out["requests"] = _delta(server_counts(), before)
    _check(out, expect)
    return out


def _cache_case(workers: int, cache_dir: str, cache_bytes: int, server_pid: int, expect: int) -> Dict[str, Any]:
    from osstorchconnector import OssIterableDataset

    ds = OssIterableDataset.from_prefix(
        _uri(IMAGES), transform=imaging.read_bytes, cache_path=cache_dir, cache_bytes=cache_bytes, **_kw()
    )
    loader = _loader(ds, workers)
    out: Dict[str, Any] = {}
    for name in ("epoch1", "epoch2"):
        before = server_counts()
        e = epoch(loader, server_pid)
        e["requests"] = _delta(server_counts(), before)
        _check(e, expect)
        out[name] = e
    out["cache_files"], out["cache_bytes_on_disk"] = _du(cache_dir)
    return out


def _du(root: str):
    files = size = 0
    for d, _, names in os.walk(root):
        for name in names:
            try:
                size += os.stat(os.path.join(d, name)).st_size
                files += 1
            except OSError:
                pass
    return files, size


def _local_case(system: str, workers: int, local_dir: str, expect: int) -> Dict[str, Any]:
    if system == "local-plain":
        ds = LocalFiles(local_dir)
    else:
        from osstorchconnector import OssIterableDataset

        ds = OssIterableDataset.from_prefix(local_dir.rstrip("/") + "/", endpoint="", transform=imaging.read_bytes)
    out = epoch(_loader(ds, workers))
    _check(out, expect)
    return out


def _check(out: Dict[str, Any], expect: int) -> None:
    if expect and out["objects"] != expect:
        raise RuntimeError(f"delivered {out['objects']} of {expect} objects")


# ---------------------------------------------------------------- resume


def key_of(obj) -> str:
    """Transform: read the object (as training would), keep only its key."""
    obj.read()
    return obj.key


def _stateful(workers: int, config: str):
    from torchdata.stateful_dataloader import StatefulDataLoader

    from osstorchconnector import OssIterableDataset

    ds = OssIterableDataset.from_prefix(_uri(BIG), transform=key_of, **_kw(config))
    return StatefulDataLoader(ds, batch_size=BATCH, num_workers=workers, collate_fn=imaging.list_collate)


def _resume_save(workers: int, batches: int, state_path: str, config: str) -> Dict[str, Any]:
    loader = _stateful(workers, config)
    t0 = time.monotonic()
    it = iter(loader)
    keys: List[str] = []
    first = None
    for _ in range(batches):
        keys += next(it)
        if first is None:
            first = time.monotonic() - t0
    t1 = time.monotonic()
    sd = loader.state_dict()
    state_s = time.monotonic() - t1
    torch.save(sd, state_path)
    del it
    return {
        "first_batch_s": first,
        "batches": batches,
        "keys": keys,
        "state_dict_s": state_s,
        "state_bytes": os.path.getsize(state_path),
    }


def _resume_load(workers: int, state_path: str, config: str) -> Dict[str, Any]:
    loader = _stateful(workers, config)
    sd = torch.load(state_path, weights_only=False)  # our own file, written by _resume_save
    before = server_counts()
    t0 = time.monotonic()
    loader.load_state_dict(sd)
    it = iter(loader)
    batch = next(it)
    seconds = time.monotonic() - t0
    requests = _delta(server_counts(), before)
    del it
    return {"resume_first_batch_s": seconds, "first_batch_keys": batch, "requests": requests}


def _list_case(config: str, expect: int) -> Dict[str, Any]:
    """The listing alone, as a resumed epoch makes it (the same client
    config), timed after a warm-up that loads the core and opens a
    connection."""
    from osstorchconnector import OssMapDataset

    OssMapDataset.from_prefix(_uri("warm/"), **_kw(config))
    t0 = time.monotonic()
    ds = OssMapDataset.from_prefix(_uri(BIG), **_kw(config))
    seconds = time.monotonic() - t0
    if expect and len(ds) != expect:
        raise RuntimeError(f"listed {len(ds)} keys, expected {expect}")
    return {"seconds": seconds, "keys": len(ds)}


# ---------------------------------------------------------------- ranks


def _count(batch: list) -> int:
    return len(batch)


def _rank_main(rank: int, world: int, workers: int, port: int, share: bool, barrier, q) -> None:
    """One rank: the environment torchrun gives it and a gloo process group,
    as a DDP job has, then one epoch with its own DataLoader (the connector
    is loaded here, after the fork). share False: each rank lists for
    itself (OSSTORCH_JOB_LISTING=0), the baseline."""
    try:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OSSTORCH_JOB_LISTING="1" if share else "0")
        import torch.distributed as dist

        dist.init_process_group("gloo", rank=rank, world_size=world)
        from osstorchconnector import OssIterableDataset

        ds = OssIterableDataset.from_prefix(_uri(RANKS), shard_by_rank=True, transform=imaging.read_bytes, **_kw())
        loader = DataLoader(ds, batch_size=BATCH, num_workers=workers, collate_fn=_count)
        barrier.wait(60)  # the ranks start their epoch together, as DDP ranks do
        t0 = time.monotonic()
        n = sum(loader)
        q.put({"rank": rank, "objects": n, "seconds": time.monotonic() - t0})
        dist.destroy_process_group()
    except BaseException as e:
        q.put({"rank": rank, "error": f"{type(e).__name__}: {e}"})


def _ranks_case(world: int, workers: int, expect: int, share: bool) -> Dict[str, Any]:
    import multiprocessing as mp
    import socket

    with socket.socket() as s:  # a free port for the process group's store
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("fork")
    q, barrier = ctx.Queue(), ctx.Barrier(world)
    procs = [ctx.Process(target=_rank_main, args=(r, world, workers, port, share, barrier, q)) for r in range(world)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    got = [q.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(60)
    seconds = time.monotonic() - t0
    failed = [g for g in got if "error" in g]
    if failed:
        raise RuntimeError(f"rank {failed[0]['rank']}: {failed[0]['error']}")
    n = sum(g["objects"] for g in got)
    if expect and n != expect:
        raise RuntimeError(f"the {world} ranks delivered {n} of {expect} objects")
    return {"objects": n, "seconds": seconds, "per_rank": sorted(got, key=lambda g: g["rank"])}


# ---------------------------------------------------------------- dispatch


def run_case(case: str, **a: Any) -> Dict[str, Any]:
    workers = a.get("workers", 4)
    expect = a.get("expect", 0)
    pid = a.get("server_pid", 0)
    if case == "epoch":
        out = _epoch_case(workers, a.get("shuffle", False), pid, expect)
    elif case == "cache":
        out = _cache_case(workers, a["cache_dir"], a["cache_bytes"], pid, expect)
    elif case in ("local-plain", "local-ours"):
        out = _local_case(case, workers, a["local_dir"], expect)
    elif case == "resume-save":
        out = _resume_save(workers, a["batches"], a["state_path"], a.get("config", ""))
    elif case == "resume-load":
        out = _resume_load(workers, a["state_path"], a.get("config", ""))
    elif case == "list":
        out = _list_case(a.get("config", ""), expect)
    elif case == "ranks":
        out = _ranks_case(a["world"], workers, expect, a.get("share", True))
    else:
        raise ValueError(f"unknown R1 case {case!r}")
    out["case"] = case
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--shuffle", action="store_true")
    ap.add_argument("--cache-dir", default="")
    ap.add_argument("--cache-bytes", type=int, default=4 << 30)
    ap.add_argument("--local-dir", default="")
    a = ap.parse_args()
    args: Dict[str, Optional[Any]] = {"workers": a.workers}
    if a.case == "epoch":
        args["shuffle"] = a.shuffle
    elif a.case == "cache":
        args.update(cache_dir=a.cache_dir, cache_bytes=a.cache_bytes)
    elif a.case.startswith("local"):
        args["local_dir"] = a.local_dir
    print(json.dumps(run_case(a.case, **args)))


if __name__ == "__main__":
    main()
