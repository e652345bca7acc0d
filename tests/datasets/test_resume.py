"""Mid-epoch resume with torchdata's StatefulDataLoader: after
loader.state_dict() at any step, a new loader given that state delivers
exactly the samples not yet delivered in the epoch (docs/resume.md)."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

import osstorchconnector
from osstorchconnector import OssIterableDataset, OssMapDataset, generate_tar_archive
from osstorchconnector._resume import Progress
from osstorchconnector.testing import LocalOssServer
from support.loaders import list_loader
from support.paths import SUPPORT, TESTS
from support.transforms import keep_list, key_only

stateful = pytest.importorskip("torchdata.stateful_dataloader", reason="torchdata (the test extra) is not installed")
StatefulDataLoader = stateful.StatefulDataLoader

B = "resume-bucket"
N = 157  # not a multiple of the batch size
BATCH = 8
ALL = sorted(f"/{B}/d/{i:04d}.bin" for i in range(N))


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    src = tmp_path_factory.mktemp("tarsrc")
    with LocalOssServer([B]) as s:
        for i in range(N):
            data = hashlib.md5(str(i).encode()).digest()
            s.put_object(B, f"d/{i:04d}.bin", data)
            (src / f"{i:04d}.bin").write_bytes(data)
        generate_tar_archive(
            s.endpoint, s.cred_path, "", f"oss://{B}/t/all.tar", f"oss://{B}/t/all.idx", str(src), region=s.region
        )
        s.tar_members = sorted(str(src / f"{i:04d}.bin") for i in range(N))
        yield s


def dataset(srv, source="prefix", **extra):
    kw = dict(endpoint=srv.endpoint, cred_path=srv.cred_path, region=srv.region, transform=key_only, **extra)
    if source == "prefix":
        return OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw)
    if source == "objects":
        return OssIterableDataset.from_objects([f"oss://{B}/d/{i:04d}.bin" for i in range(N)], **kw)
    return OssIterableDataset.from_tar(f"oss://{B}/t/all.tar", f"oss://{B}/t/all.idx", shuffle_chunk_size=10, **kw)


def loader(ds, workers, method="fork"):
    return list_loader(ds, workers, BATCH, method, cls=StatefulDataLoader)


def get_count(srv):
    return sum(srv.settled_stats()["requests"].get("GetObject", {}).values())


def everything(srv, source):
    return srv.tar_members if source == "tar" else ALL


@pytest.mark.timeout(600)
@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
@pytest.mark.parametrize("workers", [0, 2, 4])
@pytest.mark.parametrize("source", ["prefix", "objects", "tar"])
def test_resume_at_a_random_step_delivers_the_rest_exactly_once(srv, source, workers, shuffle):
    rnd = random.Random(f"{source}-{workers}-{shuffle}")
    steps = rnd.randrange(1, N // BATCH)
    first = loader(dataset(srv, source, shuffle=shuffle, seed=9), workers)
    it = iter(first)
    before = [k for _ in range(steps) for k in next(it)]
    state = first.state_dict()
    del it, first
    time.sleep(0.2)  # the first loader's workers, prefetching ahead, are gone: settled_stats counts only ours
    gets = get_count(srv)
    again = loader(dataset(srv, source, shuffle=shuffle, seed=9), workers)
    again.load_state_dict(state)
    rest = [k for batch in again for k in batch]
    assert sorted(before + rest) == everything(srv, source), f"resumed after {steps} batches"
    if source != "tar":  # what was delivered is not fetched again (no fast-forward through it)
        assert get_count(srv) - gets == len(rest)
    # the epoch after the resumed one is whole, and another order when shuffled
    nxt = [k for batch in again for k in batch]
    assert sorted(nxt) == everything(srv, source)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("shuffle", [False, True], ids=["in-order", "shuffled"])
def test_resume_before_every_worker_has_delivered(srv, shuffle):
    # a state saved after fewer batches than workers holds workers that had not started: in the
    # resumed loader they list the epoch the way the resumed ones do, and nobody waits forever
    first = loader(dataset(srv, shuffle=shuffle, seed=4), 4)
    it = iter(first)
    before = list(next(it))
    state = first.state_dict()
    del it, first
    again = loader(dataset(srv, shuffle=shuffle, seed=4), 4)
    again.load_state_dict(state)
    assert sorted(before + [k for b in again for k in b]) == ALL


@pytest.mark.timeout(600)
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_resume_under_other_start_methods(srv, method):
    first = loader(dataset(srv, shuffle=True, seed=2), 2, method)
    it = iter(first)
    before = [k for _ in range(5) for k in next(it)]
    state = first.state_dict()
    del it, first
    again = loader(dataset(srv, shuffle=True, seed=2), 2, method)
    again.load_state_dict(state)
    assert sorted(before + [k for b in again for k in b]) == ALL


@pytest.mark.timeout(600)
@pytest.mark.parametrize("workers,shuffle,source", [(2, True, "prefix"), (0, False, "prefix"), (2, False, "tar")])
def test_killed_mid_epoch_resumes_from_the_last_saved_state(srv, tmp_path, workers, shuffle, source):
    """The training process is killed with SIGKILL somewhere in the epoch; a
    new process resumes from the last state it saved."""
    uri = f"oss://{B}/t/all.tar" if source == "tar" else f"oss://{B}/d/"
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(
            [str(pathlib.Path(osstorchconnector.__file__).parent.parent), str(TESTS), os.environ.get("PYTHONPATH", "")]
        ),
    )
    args = [str(tmp_path), srv.endpoint, srv.cred_path, srv.region, uri, str(workers), str(int(shuffle)), "fork"]
    script = str(SUPPORT / "resume_trainer.py")
    p = subprocess.Popen([sys.executable, script, *args], env=env, start_new_session=True)
    state_file = tmp_path / "state.pt"
    deadline = time.monotonic() + 120
    wanted = random.Random(f"{workers}{shuffle}{source}").randrange(3, 12)  # batches saved before the kill
    try:
        while time.monotonic() < deadline:
            if state_file.exists() and len(torch.load(state_file, weights_only=False)["delivered"]) >= wanted * BATCH:
                break
            assert p.poll() is None, "the trainer ended before it was killed"
            time.sleep(0.01)
        else:
            pytest.fail("the trainer saved no state in time")
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    saved = torch.load(state_file, weights_only=False)
    r = subprocess.run([sys.executable, script, *args, "--resume"], env=env, timeout=300)
    assert r.returncode == 0
    rest = json.loads((tmp_path / "rest.json").read_text())
    assert sorted(saved["delivered"] + rest) == everything(srv, source)


@pytest.mark.timeout(300)
def test_a_state_for_another_world_size_or_listing_is_refused(srv, monkeypatch):
    first = loader(dataset(srv, shuffle=True, seed=1), 0)
    it = iter(first)
    next(it)
    state = first.state_dict()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    other = loader(dataset(srv, shuffle=True, seed=1, shard_by_rank=True), 0)
    other.load_state_dict(state)
    with pytest.raises(ValueError, match="world size"):
        next(iter(other))
    monkeypatch.delenv("RANK")
    monkeypatch.delenv("WORLD_SIZE")

    def small():
        return loader(
            OssIterableDataset.from_prefix(
                f"oss://{B}/c/", endpoint=srv.endpoint, cred_path=srv.cred_path, region=srv.region, transform=key_only
            ),
            0,
        )

    for i in range(20):
        srv.put_object(B, f"c/{i:02d}", b"c")
    first = small()
    it = iter(first)
    next(it)
    small_state = first.state_dict()
    srv.put_object(B, "c/99", b"new")  # the listing has changed since the state was saved
    changed = small()
    changed.load_state_dict(small_state)
    with pytest.raises(ValueError, match="listing has changed"):
        next(iter(changed))
    custom = OssIterableDataset(srv.endpoint, srv.cred_path, "", lambda client: [], region=srv.region)
    it = iter(custom)
    it.load_state_dict(state["fetcher_state"]["dataset_iter_state"])  # the iterator's part of the loader's state
    with pytest.raises(ValueError, match="get_dataset_objects"):
        next(it)


@pytest.mark.timeout(300)
def test_map_datasets_resume_through_the_sampler(srv):
    def make():
        ds = OssMapDataset.from_prefix(
            f"oss://{B}/d/", endpoint=srv.endpoint, cred_path=srv.cred_path, region=srv.region, transform=key_only
        )
        g = torch.Generator().manual_seed(5)
        return StatefulDataLoader(ds, batch_size=BATCH, shuffle=True, generator=g, num_workers=2, collate_fn=keep_list)

    first = make()
    it = iter(first)
    before = [k for _ in range(7) for k in next(it)]
    state = first.state_dict()
    del it, first
    again = make()
    again.load_state_dict(state)
    assert sorted(before + [k for b in again for k in b]) == ALL


def test_progress_keeps_what_was_delivered():
    p = Progress()
    for pos in (0, 2, 3, 1, 7, 4):
        p.add(pos)
    assert (p.watermark, sorted(p.extras), p.count) == (5, [7], 6)
    assert p.remaining(10) == [5, 6, 8, 9]
