"""Datasets through torch's DataLoader, against the local server."""

import hashlib
import json
import os
import pickle

import pytest
import torch
from torch.utils.data import DataLoader

from osstorchconnector import OssCheckpoint, OssIterableDataset, OssMapDataset, imagenet_manifest_parser
from osstorchconnector.testing import LocalOssServer
from support.loaders import list_loader
from support.transforms import (
    keep_list,
    key_and_bytes,
    key_and_bytes_refusing_3_and_21,
    key_and_read,
    key_bytes_label,
    no_collate,
)

BUCKET = "test-bucket"
N = 130  # not a multiple of 64: the last batch is short


def payload(i):
    return hashlib.sha256(str(i).encode()).digest() * (1 + i % 5)


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET, "second-bucket"]) as s:
        for i in range(N):
            s.put_object(BUCKET, f"ds/{i:04d}.bin", payload(i))
        s.put_object(BUCKET, "other/x.bin", b"not in the dataset")
        yield s


def kw(s, **extra):
    return dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, **extra)


def expected_keys():
    return {f"/{BUCKET}/ds/{i:04d}.bin": payload(i) for i in range(N)}


def run_epochs(ds, workers, method, batch, epochs=2):
    dl = list_loader(ds, workers, batch, method)
    out = []
    for _ in range(epochs):
        seen = {}
        for b in dl:
            for key, data in b:
                assert key not in seen, f"{key} delivered twice in one epoch"
                seen[key] = data
        out.append(seen)
    return out


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["map", "iterable"])
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("workers", [0, 2, 4])
@pytest.mark.parametrize("batch", [1, 64])
def test_dataloader_matrix(srv, kind, method, workers, batch):
    if workers == 0 and method != "fork":
        pytest.skip("no worker processes: the start method does not apply")
    cls = OssMapDataset if kind == "map" else OssIterableDataset
    ds = cls.from_prefix(f"oss://{BUCKET}/ds/", transform=key_and_bytes, **kw(srv))
    for seen in run_epochs(ds, workers, method, batch):
        assert seen == expected_keys()


@pytest.mark.timeout(300)
def test_iterable_lists_once_per_epoch_with_four_workers(srv):
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=key_and_bytes, **kw(srv))
    dl = DataLoader(ds, batch_size=16, num_workers=4, collate_fn=keep_list, timeout=120)
    for _epoch in range(2):
        srv.reset_stats()
        keys = [k for b in dl for k, _ in b]
        assert sorted(keys) == sorted(expected_keys())
        st = srv.settled_stats()
        assert st["requests"]["ListObjectsV2"] == {"200": 1}, st["requests"]
        assert st["requests"]["GetObject"] == {"200": N}


@pytest.mark.timeout(300)
def test_persistent_workers_list_once_per_epoch_too(srv):
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=key_and_bytes, **kw(srv))
    dl = DataLoader(ds, batch_size=16, num_workers=2, collate_fn=keep_list, persistent_workers=True, timeout=120)
    for _epoch in range(3):
        srv.reset_stats()
        assert sorted(k for b in dl for k, _ in b) == sorted(expected_keys())
        assert srv.stats()["requests"]["ListObjectsV2"] == {"200": 1}


@pytest.mark.timeout(300)
def test_map_getitems_keeps_prefetch_concurrency_in_flight(srv):
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=key_and_bytes, **kw(srv))
    srv.set_faults(latency_ms=100)
    try:
        srv.reset_stats()
        batch = ds.__getitems__(list(range(64)))
        st = srv.stats()
    finally:
        srv.clear_faults()
    assert [k for k, _ in batch] == [f"/{BUCKET}/ds/{i:04d}.bin" for i in range(64)]  # index order
    assert st["peak_concurrent"] >= 24, st  # datasetConfig.prefetchConcurrency (default 24)


def test_rank_sharding_is_disjoint_and_complete(srv, monkeypatch):
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=key_and_bytes, shard_by_rank=True, **kw(srv))
    union = {}
    monkeypatch.setenv("WORLD_SIZE", "3")
    for rank in range(3):
        monkeypatch.setenv("RANK", str(rank))  # read at iteration time, not at construction
        got = dict(iter(ds))
        assert not set(got) & set(union)
        union.update(got)
    assert union == expected_keys()
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ValueError, match="rank 3"):
        list(iter(ds))


def test_without_rank_sharding_every_rank_sees_everything(srv, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=key_and_bytes, **kw(srv))
    assert dict(iter(ds)) == expected_keys()


def test_default_transform_returns_independent_data_objects(srv):
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", **kw(srv))
    a, b = ds[5], ds[5]
    assert a.key == f"/{BUCKET}/ds/0005.bin" and a.size == len(payload(5)) and a.label == ""
    assert a.read(3) == payload(5)[:3] and b.read() == payload(5)  # independent positions
    c = a.copy()
    assert c.tell() == 0 and c.read() == payload(5)
    assert ds[-1].key.endswith("0129.bin")  # negative indices, as a list
    with pytest.raises(IndexError):
        ds[N]
    assert sum(1 for _ in ds) == N  # the legacy __getitem__ protocol ends on IndexError


def test_a_missing_object_in_a_map_dataset_raises_for_ds_i_and_is_none_in_a_batch(srv):
    """As upstream's: ds[i] raises a RuntimeError before the transform is
    called; the batched __getitems__ (DataLoader with a batch_size) hands the
    transform None in its place."""
    uris = [f"oss://{BUCKET}/ds/0001.bin", f"oss://{BUCKET}/ds/missing.bin"]
    seen = []

    def transform(obj):
        seen.append(obj)
        return key_and_bytes(obj)

    ds = OssMapDataset.from_objects(uris, transform=transform, **kw(srv))
    assert ds[0] == (f"/{BUCKET}/ds/0001.bin", payload(1))
    seen.clear()
    with pytest.raises(RuntimeError, match=r"errno=2.*NoSuchKey") as ei:
        ds[1]
    assert seen == [] and isinstance(ei.value, FileNotFoundError) and ei.value.key == "ds/missing.bin"
    assert ds.__getitems__([1, 0]) == [None, (f"/{BUCKET}/ds/0001.bin", payload(1))]
    assert seen[0] is None


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers, method", [(0, None), (2, "fork"), (2, "spawn"), (2, "forkserver")])
def test_an_iterable_dataset_skips_missing_objects_and_counts_them(srv, workers, method, caplog):
    """Upstream's iterator skips missing objects; ours too, but each is named
    in the log (the first 10 of a worker's epoch, then a summary) and counted
    in dataset.skipped, over the DataLoader's workers and epochs."""
    present = [f"ds/{i:04d}.bin" for i in range(20)]
    missing = [f"ds/missing-{i}.bin" for i in range(13)]
    names = [n for pair in zip(present, missing + [None] * 7) for n in pair if n]
    ds = OssIterableDataset.from_objects([f"oss://{BUCKET}/{n}" for n in names], transform=key_and_read, **kw(srv))
    dl = DataLoader(
        ds,
        batch_size=None,
        num_workers=workers,
        collate_fn=no_collate,
        multiprocessing_context=method,
        timeout=120 if workers else 0,
    )
    for epoch in range(2):
        caplog.clear()
        assert dict(dl) == {f"/{BUCKET}/{n}": payload(int(n[3:7])) for n in present}
        assert ds.skipped == len(missing) * (epoch + 1)
        if not workers:  # workers log in their own processes
            named = [r.getMessage() for r in caplog.records if "skipping missing object" in r.getMessage()]
            assert len(named) == 10 and all("NoSuchKey" in m for m in named), named
            summary = [r.getMessage() for r in caplog.records if "skipped in this epoch" in r.getMessage()]
            assert summary == [summary[0]] and ": 13, 3 of them not named above" in summary[0], summary
    assert ds.skipped == 26 and pickle.loads(pickle.dumps(ds)).skipped == 26  # pickled: a plain number


def test_missing_credentials_file_is_not_a_missing_object(srv, tmp_path):
    """Only a missing object (or bucket) is skipped or handed over as None:
    a credentials file that does not exist raises for every object."""
    gone = str(tmp_path / "no-such-credentials.json")
    uris = [f"oss://{BUCKET}/ds/0001.bin"]
    it = OssIterableDataset.from_objects(uris, endpoint=srv.endpoint, cred_path=gone, region=srv.region)
    with pytest.raises(FileNotFoundError, match="no-such-credentials"):
        next(iter(it))
    assert it.skipped == 0
    ds = OssMapDataset.from_objects(uris, endpoint=srv.endpoint, cred_path=gone, region=srv.region)
    with pytest.raises(RuntimeError, match="no-such-credentials"):
        ds.__getitems__([0])


def _descriptors(client):
    from osstorchconnector import new_data_object

    return [new_data_object(f"oss://{BUCKET}/ds/{i:04d}.bin", 0, f"label-{i}") for i in range(6)]


def _preloaded(client):
    """As upstream's own sources do: the worker's share, fetched by the callable."""
    return client.list_objects_from_uris_with_preload(_descriptors(client))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("source", [_descriptors, _preloaded])
def test_a_users_get_dataset_objects_callable_as_upstream_takes_it(srv, source):
    """The constructors take a callable(client) returning DataObjects
    (new_data_object descriptors, or objects it fetched itself), as upstream's."""
    want = {(f"/{BUCKET}/ds/{i:04d}.bin", payload(i), f"label-{i}") for i in range(6)}
    args = (srv.endpoint, srv.cred_path, "", source)
    if source is _descriptors:
        ds = OssMapDataset(*args, transform=key_bytes_label, region=srv.region)
        assert [ds[i] for i in range(len(ds))] == sorted(want) == ds.__getitems__(list(range(6)))
    it = OssIterableDataset(*args, transform=key_bytes_label, region=srv.region)
    assert sorted(it) == sorted(want)
    for workers in (2, 3):  # each worker calls it with its own client (_id of _total): no object twice
        got = [x for x in DataLoader(it, batch_size=None, num_workers=workers, collate_fn=no_collate, timeout=120)]
        assert sorted(got) == sorted(want)


def test_other_failures_raise_runtime_error_with_errno(srv):
    with LocalOssServer([BUCKET]) as s2:
        s2.put_object(BUCKET, "k", b"v")
        ds = OssMapDataset.from_objects([f"oss://{BUCKET}/k"], transform=key_and_bytes, **kw(s2))
        s2.set_faults(error_rate_500=1.0, ops=["GetObject"])
        with pytest.raises(RuntimeError, match=r"failed to get next object, errno=\d+"):
            ds[0]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers", [0, 2])
def test_an_iterable_dataset_goes_on_after_a_failed_object(workers):
    """One object fails every read (its bytes never pass the CRC check) and
    the transform raises for two others: the epoch raises once for each and
    still delivers every other object, in and out of DataLoader workers, for a
    loop that catches the errors and goes on. (When __iter__ was a generator,
    the first raise ended the worker's share.)"""
    with LocalOssServer([BUCKET]) as s2:
        n = 40
        for i in range(n):
            s2.put_object(BUCKET, f"d/{i:03d}.bin", payload(i))
        ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/d/", transform=key_and_bytes_refusing_3_and_21, **kw(s2))
        s2.set_faults(flip_rate=1.0, ops=["GetObject"], key_pattern="d/007.bin")
        it = iter(
            DataLoader(ds, batch_size=None, num_workers=workers, collate_fn=no_collate, timeout=120 if workers else 0)
        )
        got, errors = {}, []
        while True:
            try:
                key, data = next(it)
            except StopIteration:
                break
            except (RuntimeError, ValueError) as e:
                errors.append(str(e))
                assert len(errors) < 10, errors
                continue
            got[key] = data
        assert len(errors) == 3, errors
        crc = [e for e in errors if "d/007.bin" in e]
        assert len(crc) == 1 and "errno=5" in crc[0], errors
        assert sum("transform refuses" in e for e in errors) == 2, errors
        assert got == {f"/{BUCKET}/d/{i:03d}.bin": payload(i) for i in range(n) if i not in (3, 7, 21)}


def test_seed_style_manifests_on_oss_and_local_multi_bucket(srv, tmp_path):
    srv.put_object("second-bucket", "img/b.bin", b"from the second bucket")
    lines = [
        json.dumps({"data": {"source": f"oss://{BUCKET}.oss-cn-wulanchabu.aliyuncs.com/ds/0003.bin"}}),
        json.dumps({"data": {"source": "oss://second-bucket.oss-cn-wulanchabu.aliyuncs.com/img/b.bin"}}),
    ]
    manifest = "\n".join(lines).encode()
    srv.put_object(BUCKET, "manifests/m.jsonl", manifest)
    local = tmp_path / "m.jsonl"
    local.write_bytes(manifest)
    seen_types = []

    def parser(reader):
        seen_types.append(type(reader.read(0)))
        for line in reader.read().decode("utf-8").strip().split("\n"):
            yield json.loads(line)["data"]["source"], "lbl"

    want = {(f"/{BUCKET}/ds/0003.bin", payload(3)), ("/second-bucket/img/b.bin", b"from the second bucket")}
    for path in (f"oss://{BUCKET}/manifests/m.jsonl", str(local)):
        ds = OssMapDataset.from_manifest_file(path, parser, "", transform=key_and_bytes, **kw(srv))
        assert {ds[0], ds[1]} == want
        it = OssIterableDataset.from_manifest_file(path, parser, "", transform=key_and_bytes, **kw(srv))
        assert set(it) == want
    assert set(seen_types) == {bytes}  # the parser gets a binary reader


def test_imagenet_manifest_with_base_uri_and_labels(srv, tmp_path):
    man = tmp_path / "train.txt"
    man.write_text("ds/0007.bin\tcat\nds/0008.bin\tdog\nds/0009.bin\n")
    ds = OssMapDataset.from_manifest_file(str(man), imagenet_manifest_parser, f"oss://{BUCKET}/", **kw(srv))
    assert [(ds[i].key, ds[i].label) for i in range(3)] == [
        (f"/{BUCKET}/ds/0007.bin", "cat"),
        (f"/{BUCKET}/ds/0008.bin", "dog"),
        (f"/{BUCKET}/ds/0009.bin", ""),
    ]
    assert ds[1].read() == payload(8)


@pytest.mark.parametrize(
    "make, exc, match",
    [
        (lambda s: OssMapDataset.from_prefix("s3://bucket/x", **kw(s)), ValueError, "oss://"),
        (lambda s: OssMapDataset.from_prefix("oss:///x", **kw(s)), ValueError, "Bucket name must be non-empty"),
        (lambda s: OssMapDataset.from_prefix("", **kw(s)), ValueError, "oss_uri must be non-empty"),
        (lambda s: OssMapDataset.from_objects([], **kw(s)), ValueError, "object_uris must be non-empty"),
        (
            lambda s: OssMapDataset.from_prefix("/nonexistent-dir/x/", endpoint=""),
            FileNotFoundError,  # local mode
            "nonexistent-dir",
        ),
        (
            lambda s: OssMapDataset.from_manifest_file(
                "/nonexistent/manifest.txt", imagenet_manifest_parser, "", **kw(s)
            ),
            FileNotFoundError,
            "manifest.txt",
        ),
        (
            lambda s: OssMapDataset.from_manifest_file(
                f"oss://{BUCKET}/no-such-manifest", imagenet_manifest_parser, "", **kw(s)
            ),
            FileNotFoundError,
            "NoSuchKey",
        ),
        (lambda s: OssMapDataset.from_prefix("oss://no-such-bucket/x", **kw(s)), FileNotFoundError, "NoSuchBucket"),
    ],
)
def test_bad_input_gets_a_clear_exception(srv, make, exc, match):
    with pytest.raises(exc, match=match):
        make(srv)


def test_iterable_reports_bad_input_when_iterated(srv):
    ds = OssIterableDataset.from_prefix("s3://bucket/x", **kw(srv))  # no I/O in the constructor, as upstream
    with pytest.raises(ValueError, match="oss://"):
        next(iter(ds))


def test_credentials_problems(srv, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", endpoint=srv.endpoint, cred_path=str(bad), region=srv.region)
    unreadable = tmp_path / "unreadable.json"
    unreadable.write_text("{}")
    unreadable.chmod(0)
    if os.geteuid() != 0:  # root reads anything
        with pytest.raises(PermissionError):
            OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", endpoint=srv.endpoint, cred_path=str(unreadable))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"AccessKeyId": srv.access_key_id, "AccessKeySecret": "not-it-123"}))
    with pytest.raises(PermissionError) as ei:
        OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", endpoint=srv.endpoint, cred_path=str(wrong), region=srv.region)
    assert ei.value.code == "SignatureDoesNotMatch" and "not-it-123" not in str(ei.value)


@pytest.mark.timeout(120)
def test_lambda_transform_under_spawn_says_why(srv):
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=lambda o: o.key, **kw(srv))
    dl = DataLoader(ds, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    with pytest.raises(TypeError, match="cannot be pickled.*module-level function"):
        next(iter(dl))


def test_checkpoint_round_trip_and_abort(srv):
    ck = OssCheckpoint(srv.endpoint, cred_path=srv.cred_path, region=srv.region)
    sd = {"w": torch.randn(64, 33), "b": torch.arange(10), "meta": {"step": 7}}
    with ck.writer(f"oss://{BUCKET}/ckpt/a.pt") as f:
        torch.save(sd, f)
    with ck.reader(f"oss://{BUCKET}/ckpt/a.pt") as f:
        back = torch.load(f)
    assert torch.equal(back["w"], sd["w"]) and torch.equal(back["b"], sd["b"]) and back["meta"] == {"step": 7}
    with pytest.raises(RuntimeError, match="boom"):
        with ck.writer(f"oss://{BUCKET}/ckpt/aborted.pt") as f:
            torch.save(sd, f)
            raise RuntimeError("boom")
    with pytest.raises(FileNotFoundError):
        torch.load(ck.reader(f"oss://{BUCKET}/ckpt/aborted.pt"))  # reader() opens lazily, as upstream's
    w = ck.writer(f"oss://{BUCKET}/ckpt/closed.pt")
    w.write(b"x")
    w.close()
    with pytest.raises(ValueError):
        w.write(b"after close")
    with pytest.raises(ValueError, match="endpoint must be non-empty"):
        OssCheckpoint("")


def test_upstream_module_names_import():
    import importlib

    import osstorchconnector

    for mod in (
        "oss_map_dataset",
        "oss_iterable_dataset",
        "oss_checkpoint",
        "_oss_client",
        "_oss_bucket_iterable",
        "_oss_tar_iterable",
        "_oss_connector",
    ):
        importlib.import_module("osstorchconnector." + mod)
    from osstorchconnector import DataObject, OssClient, __version__, imagenet_manifest_parser, new_data_object  # noqa: F401
    from osstorchconnector._oss_bucket_iterable import identity, parse_oss_uri  # noqa: F401
    from osstorchconnector.oss_map_dataset import is_continuous

    assert is_continuous([3, 4, 5]) and not is_continuous([3, 5])
    assert osstorchconnector.__version__
    assert os.path.exists(os.path.join(os.path.dirname(osstorchconnector.__file__), "py.typed"))
    with pytest.raises(AttributeError):
        _ = osstorchconnector.NoSuchThing
    d = new_data_object("oss://b/k", 0, "lbl")
    assert (d.key, d.size, d.label) == ("oss://b/k", 0, "lbl")


@pytest.mark.parametrize("workers", [0, 3])
def test_fetching_starts_with_the_first_page_of_the_listing(srv, workers):
    # three pages of keys; each list request answers after a long delay: the first batch comes
    # while the listing still has pages to go, and the epoch still delivers every key once
    srv.fill(BUCKET, 2500, "paged/%05d", size=10)
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/paged/", transform=key_and_bytes, **kw(srv))
    dl = DataLoader(ds, batch_size=16, num_workers=workers, collate_fn=keep_list, timeout=120 if workers else 0)
    srv.set_faults(op_latency_ms={"ListObjectsV2": 1500})
    try:
        srv.reset_stats()
        it = iter(dl)
        first = next(it)
        lists_then = srv.stats()["requests"].get("ListObjectsV2", {}).get("200", 0)
        keys = [k for k, _ in first] + [k for b in it for k, _ in b]
    finally:
        srv.clear_faults()
    assert lists_then < 3, lists_then
    assert sorted(keys) == [f"/{BUCKET}/paged/{i:05d}" for i in range(2500)]
    assert srv.stats()["requests"]["ListObjectsV2"] == {"200": 3}  # one listing, for all workers
