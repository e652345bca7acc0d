"""torch Distributed Checkpoint (DCP) through OssDCPFileSystem, against the
local server: single-process and async round trips, a real 2-rank torchrun
job, the file-system operations DCP relies on, and aborted writes."""

import os
import pathlib
import types
import uuid

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.filesystem import _StorageInfo
from torch.distributed.checkpoint.planner import LoadPlan

import osstorchconnector
from osstorchconnector import OssDCPFileSystem, OssFileSystem, OssStorageReader, OssStorageWriter
from support.torchrun import torchrun

BUCKET = "test-bucket"

# DCP warns that it runs without a process group when used in one process
pytestmark = pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")


@pytest.fixture(scope="module")
def fs(oss_module):
    return OssDCPFileSystem(oss_module.endpoint, oss_module.cred_path, region=oss_module.region)


def new_uri(name):
    return f"oss://{BUCKET}/dcp/{name}-{uuid.uuid4().hex[:8]}"


def keys_under(fs, uri):
    """Object names under a checkpoint URI, relative to it."""
    prefix = uri[len(f"oss://{BUCKET}/") :] + "/"
    return sorted(o.key[len(f"/{BUCKET}/") + len(prefix) :] for o in fs._client.list_objects(BUCKET, prefix))


def sample_state():
    g = torch.Generator().manual_seed(7)
    special = torch.tensor([float("nan"), -0.0, float("inf"), -float("inf"), 1e-40])  # bit patterns that == hides
    return {
        "weight": torch.randn(64, 33, generator=g),
        "half": torch.randn(17, generator=g).to(torch.bfloat16),
        "ids": torch.randint(-(2**40), 2**40, (100,), generator=g),
        "mask": torch.rand(3, 5, generator=g) > 0.5,
        "special": special,
        "scalar": torch.tensor(3.5, dtype=torch.float64),
        "optim": {"step": 12, "betas": (0.9, 0.999), "state": {"exp_avg": torch.randn(8, 8, generator=g)}},
        "meta": {"name": "resnet", "tags": ["a", "b"], "epoch": 3},
    }


def empty_like_state(sd):
    if isinstance(sd, torch.Tensor):
        return torch.zeros_like(sd)
    if isinstance(sd, dict):
        return {k: empty_like_state(v) for k, v in sd.items()}
    return None  # non-tensor values are replaced by what was saved


def assert_bit_exact(got, want, path="state"):
    if isinstance(want, torch.Tensor):
        assert isinstance(got, torch.Tensor), path
        assert (got.dtype, got.shape) == (want.dtype, want.shape), path
        assert torch.equal(got.reshape(-1).view(torch.uint8), want.reshape(-1).view(torch.uint8)), path
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), path
        for k in want:
            assert_bit_exact(got[k], want[k], f"{path}.{k}")
    else:
        assert got == want, path


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "writer_kwargs", [{}, {"thread_count": 2, "single_file_per_rank": False}], ids=["default", "threads-file-per-item"]
)
def test_save_load_round_trip(fs, oss_module, writer_kwargs):
    uri = new_uri("roundtrip")
    sd = sample_state()
    dcp.save(sd, storage_writer=fs.writer(uri, **writer_kwargs))

    files = keys_under(fs, uri)
    assert ".metadata" in files and ".metadata.tmp" not in files, files
    data_files = [f for f in files if f.endswith(".distcp")]
    assert data_files and all(f.startswith("__0_") for f in data_files), files
    if writer_kwargs:
        assert len(data_files) > 2, files  # one file per item, written by two threads

    oss_module.reset_stats()
    out = empty_like_state(sd)
    dcp.load(out, storage_reader=fs.reader(uri))
    assert_bit_exact(out, sd)
    # read through random-access readers, never as whole-object GETs of 200
    assert "200" not in oss_module.stats()["requests"].get("GetObject", {})


@pytest.mark.timeout(60)
def test_async_save_then_load(fs):
    uri = new_uri("async")
    sd = sample_state()
    want = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in sd.items()}
    res = dcp.async_save(sd, storage_writer=fs.writer(uri))
    sd["weight"].add_(1)  # staged before async_save returned: the checkpoint keeps the old values
    fut = getattr(res, "upload_completion", res)  # Future, or AsyncSaveResponse in newer torch
    metadata = fut.result(timeout=45)
    assert os.fspath(metadata.storage_meta.checkpoint_id) == uri

    out = empty_like_state(want)
    dcp.load(out, storage_reader=fs.reader(uri))
    assert_bit_exact(out, want)


@pytest.mark.timeout(150)
def test_two_ranks_with_torchrun(fs, oss_module):
    uri = new_uri("ranks")
    args = [oss_module.endpoint, oss_module.cred_path, oss_module.region, uri]
    out = torchrun("dcp_worker.py", args, nproc=2, timeout=120)
    for rank in (0, 1):
        assert f"DCP_WORKER_OK rank={rank} world=2" in out, out[-8000:]
    files = keys_under(fs, uri)
    assert ".metadata" in files and ".metadata.tmp" not in files, files
    assert {f[:3] for f in files if f.endswith(".distcp")} == {"__0", "__1"}, files  # both ranks wrote


@pytest.mark.timeout(60)
def test_file_system_operations(fs, oss_module):
    base = new_uri("ops")
    with pytest.raises(ValueError, match="only rb/wb are supported"):
        with fs.create_stream(base + "/x", "ab"):
            pass
    with pytest.raises(ValueError, match="only rb/wb are supported"):
        with fs.create_stream(base + "/x", "r"):
            pass

    a, b = fs.concat_path(base, "a.bin"), fs.concat_path(base, "b.bin")
    assert a == base + "/a.bin"
    assert not fs.exists(a)
    with fs.create_stream(a, "wb") as f:
        f.write(b"hello ")
        f.write(b"world")
    assert fs.exists(a)
    with fs.create_stream(a, "rb") as f:
        f.seek(6)
        assert f.read() == b"world"
        f.seek(0)
        buf = bytearray(5)
        assert f.readinto(buf) == 5 and buf == b"hello"

    fs.rename(a, b)
    assert not fs.exists(a) and fs.exists(b)
    fs.rm_file(b)
    assert not fs.exists(b)
    assert not fs.exists("oss://no-such-bucket-here/x")  # any failure counts as absent
    fs.mkdir(base)  # a no-op: nothing appears
    assert keys_under(fs, base) == []

    # pathlib.Path collapses "oss://" to "oss:/": paths must still land on the URI
    p = pathlib.Path(base)
    assert fs.concat_path(p, "c.bin") == base + "/c.bin"
    assert fs.init_path(p) is p
    with fs.create_stream(p / "c.bin", "wb") as f:
        f.write(b"via Path")
    assert fs.exists(base + "/c.bin") and fs.exists(p / "c.bin")


@pytest.mark.timeout(30)
def test_validate_checkpoint_id():
    for good in [
        "oss://bkt/ckpt",
        "oss://bkt",
        "oss://bkt/a/b/",
        "/bkt/ckpt",
        pathlib.Path("oss://bkt/x"),
        pathlib.Path("relative"),
    ]:
        assert OssDCPFileSystem.validate_checkpoint_id(good), good
    for bad in ["s3://bkt/x", "relative/dir", "", "oss://", "oss:///key", None]:
        assert not OssDCPFileSystem.validate_checkpoint_id(bad), bad
    assert OssStorageWriter.validate_checkpoint_id("oss://bkt/x")
    assert not OssStorageReader.validate_checkpoint_id("s3://bkt/x")


@pytest.mark.timeout(30)
def test_names_and_constructor():
    assert OssFileSystem is OssDCPFileSystem
    assert "OssDCPFileSystem" in osstorchconnector.__all__
    with pytest.raises(ValueError, match="endpoint"):
        OssDCPFileSystem("")


@pytest.mark.timeout(60)
def test_checkpoint_id_and_path_objects(fs):
    """dcp.save(checkpoint_id=...) resets the writer onto that id through our
    init_path; a Path id (oss:/ collapsed) still lands on the URI."""
    first, second = new_uri("first"), new_uri("second")
    sd = {"w": torch.arange(10.0)}
    dcp.save(sd, checkpoint_id=second, storage_writer=fs.writer(first))
    assert keys_under(fs, first) == [] and ".metadata" in keys_under(fs, second)

    third = new_uri("third")
    dcp.save(sd, storage_writer=fs.writer(pathlib.Path(third)))
    out = {"w": torch.zeros(10)}
    dcp.load(out, storage_reader=fs.reader(pathlib.Path(third)))
    assert torch.equal(out["w"], sd["w"])


@pytest.mark.timeout(30)
def test_reader_plan_sorted_by_file_and_offset(fs):
    reader = fs.reader("oss://bkt/ck")
    layout = {
        "a": ("__0_0.distcp", 900),
        "b": ("__1_0.distcp", 0),
        "c": ("__0_0.distcp", 0),
        "d": ("__0_0.distcp", 400),
        "e": ("__1_0.distcp", 50),
    }
    reader.storage_data = {k: _StorageInfo(path, off, 10) for k, (path, off) in layout.items()}
    items = [types.SimpleNamespace(storage_index=k) for k in "abcde"]
    plan = reader.prepare_local_plan(LoadPlan(items))
    assert [i.storage_index for i in plan.items] == ["c", "d", "a", "b", "e"]


@pytest.mark.timeout(60)
def test_failed_stream_write_leaves_nothing(fs, oss_module):
    uri = new_uri("aborted") + "/big.bin"
    oss_module.reset_stats()
    with pytest.raises(RuntimeError, match="boom"):
        with fs.create_stream(uri, "wb") as f:
            f.write(os.urandom(1 << 20) * 9)  # past the first 8 MiB part: a multipart upload
            raise RuntimeError("boom")
    assert not fs.exists(uri)
    reqs = oss_module.stats()["requests"]
    assert "AbortMultipartUpload" in reqs and "CompleteMultipartUpload" not in reqs, reqs


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this value")


@pytest.mark.timeout(60)
def test_failed_save_leaves_no_checkpoint(fs, oss_module):
    """A value that fails to serialize midway through a rank's file aborts
    that file's upload: no data file and no .metadata become visible."""
    uri = new_uri("failed-save")
    oss_module.reset_stats()
    sd = {"blob": b"y" * (9 << 20), "bad": _Unpicklable(), "t": torch.ones(3)}
    with pytest.raises(CheckpointException, match="cannot pickle this value"):
        dcp.save(sd, storage_writer=fs.writer(uri))
    assert keys_under(fs, uri) == []
    assert "AbortMultipartUpload" in oss_module.stats()["requests"]
    with pytest.raises(CheckpointException, match="NoSuchKey"):
        dcp.load({"t": torch.zeros(3)}, storage_reader=fs.reader(uri))
