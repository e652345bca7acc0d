"""The README's "Errors" table, one test per row: for every failure, the call
that raises and the exception types. Where upstream 1.2.3 raises
RuntimeError (as its native core does for every failure), the same
``except RuntimeError`` catches ours, at the same call; ours is also the
builtin a Python programmer would catch (FileNotFoundError, PermissionError,
ConnectionError, ValueError) and an OssError with the details."""

import errno
import json
import os

import pytest
import torch

from osstorchconnector import (
    OssCheckpoint,
    OssClient,
    OssDCPFileSystem,
    OssIterableDataset,
    OssMapDataset,
    OssSafetensor,
    new_data_object,
)
from osstorchconnector.errors import (
    OssConnectionError,
    OssError,
    OssInvalidArgumentError,
    OssNotFoundError,
    OssPermissionError,
)
from osstorchconnector.testing import LocalOssServer
from support.transforms import key_and_bytes, key_and_read

BUCKET = "test-bucket"


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET]) as s:
        s.put_object(BUCKET, "d/a.bin", b"alpha")
        s.put_object(BUCKET, "d/b.bin", b"bravo")
        yield s


def kw(s, **extra):
    return dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, **extra)


def client(s, **extra):
    return OssClient(s.endpoint, s.cred_path, region=s.region, **extra)


def caught(fn, *types):
    """The exception fn raised; it must be an instance of every type."""
    with pytest.raises(types[0]) as ei:
        fn()
    for t in types:
        assert isinstance(ei.value, t), (type(ei.value).__mro__, t)
    return ei.value


# ---- missing objects ----


def test_missing_object_head_object(srv):
    e = caught(
        lambda: client(srv).head_object(BUCKET, "d/missing.bin"), RuntimeError, FileNotFoundError, OssNotFoundError
    )
    assert e.code == "NoSuchKey" and e.errno == errno.ENOENT and e.key == "d/missing.bin"


def test_missing_object_get_object_returns_and_its_read_raises(srv):
    obj = client(srv).get_object(BUCKET, "d/missing.bin")  # upstream's returns too
    assert obj.err() == errno.ENOENT and "NoSuchKey" in obj.error_msg()
    caught(obj.read, RuntimeError, FileNotFoundError, OssNotFoundError)
    caught(lambda: obj.readinto(bytearray(4)), RuntimeError, FileNotFoundError)


def test_missing_object_get_object_type_2_raises_at_once(srv):
    caught(lambda: client(srv).get_object(BUCKET, "d/missing.bin", type=2), RuntimeError, FileNotFoundError)


def test_missing_object_checkpoint_reader_returns_and_torch_load_raises(srv):
    ck = OssCheckpoint(**kw(srv))
    f = ck.reader(f"oss://{BUCKET}/ckpt/missing.pt")  # does not raise, as upstream's
    assert f.tell() == 0 and f.seek(0, os.SEEK_END) == 0
    caught(lambda: torch.load(f), RuntimeError, FileNotFoundError, OssNotFoundError)
    caught(lambda: ck.load(f"oss://{BUCKET}/ckpt/missing.pt"), RuntimeError, FileNotFoundError)


def test_missing_object_map_ds_i_raises_before_the_transform(srv):
    calls = []
    ds = OssMapDataset.from_objects([f"oss://{BUCKET}/d/missing.bin"], transform=calls.append, **kw(srv))
    e = caught(lambda: ds[0], RuntimeError, FileNotFoundError)
    assert calls == [] and str(e).startswith("failed to get next object, errno=2(No such file or directory), msg=")


def test_missing_object_map_batch_gives_the_transform_none(srv):
    ds = OssMapDataset.from_objects(
        [f"oss://{BUCKET}/d/missing.bin", f"oss://{BUCKET}/d/a.bin"], transform=key_and_bytes, **kw(srv)
    )
    assert ds.__getitems__([0, 1]) == [None, (f"/{BUCKET}/d/a.bin", b"alpha")]


def test_missing_object_iterable_dataset_skips_it(srv):
    ds = OssIterableDataset.from_objects(
        [f"oss://{BUCKET}/d/missing.bin", f"oss://{BUCKET}/d/a.bin"], transform=key_and_read, **kw(srv)
    )
    assert list(ds) == [(f"/{BUCKET}/d/a.bin", b"alpha")] and ds.skipped == 1


def test_missing_bucket_listing(srv):
    caught(lambda: list(client(srv).list_objects("no-such-bucket")), RuntimeError, FileNotFoundError)
    e = caught(lambda: OssMapDataset.from_prefix("oss://no-such-bucket/x/", **kw(srv)), RuntimeError, FileNotFoundError)
    assert e.code == "NoSuchBucket"
    it = OssIterableDataset.from_prefix("oss://no-such-bucket/x/", **kw(srv))  # no I/O before iteration
    caught(lambda: next(iter(it)), RuntimeError, FileNotFoundError)


def test_rename_a_missing_object(srv):
    caught(
        lambda: client(srv).rename_object(BUCKET, "d/missing.bin", BUCKET, "d/new.bin"), RuntimeError, FileNotFoundError
    )


def test_remove_a_missing_object_is_no_error(srv):
    assert client(srv).remove_object(BUCKET, "d/missing.bin") is None


# ---- credentials, configuration, network, integrity ----


def test_credentials_refused(srv, tmp_path):
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"AccessKeyId": srv.access_key_id, "AccessKeySecret": "not-it-123"}))
    wrong.chmod(0o600)
    bad = dict(endpoint=srv.endpoint, cred_path=str(wrong), region=srv.region)
    c = OssClient(srv.endpoint, str(wrong), region=srv.region)
    for fn in (
        lambda: c.head_object(BUCKET, "d/a.bin"),
        lambda: c.get_object(BUCKET, "d/a.bin").read(),
        lambda: OssMapDataset.from_prefix(f"oss://{BUCKET}/d/", **bad),
        lambda: OssMapDataset.from_objects([f"oss://{BUCKET}/d/a.bin"], **bad)[0],
        lambda: OssMapDataset.from_objects([f"oss://{BUCKET}/d/a.bin"], **bad).__getitems__([0]),
        lambda: next(iter(OssIterableDataset.from_objects([f"oss://{BUCKET}/d/a.bin"], **bad))),
        lambda: OssCheckpoint(**bad).load(f"oss://{BUCKET}/d/a.bin"),
    ):
        e = caught(fn, RuntimeError, PermissionError, OssPermissionError)
        assert "SignatureDoesNotMatch" in str(e) and "not-it-123" not in str(e)


def test_credentials_file_missing(srv, tmp_path):
    gone = str(tmp_path / "gone.json")
    c = OssClient(srv.endpoint, gone, region=srv.region)
    caught(lambda: c.head_object(BUCKET, "d/a.bin"), RuntimeError, FileNotFoundError)
    caught(
        lambda: OssMapDataset.from_prefix(f"oss://{BUCKET}/d/", endpoint=srv.endpoint, cred_path=gone),
        RuntimeError,
        FileNotFoundError,
    )


def test_credentials_or_config_file_malformed(srv, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    bad.chmod(0o600)
    e = caught(
        lambda: OssClient(srv.endpoint, str(bad), region=srv.region).head_object(BUCKET, "d/a.bin"),
        RuntimeError,
        ValueError,
        OssInvalidArgumentError,
    )
    assert str(bad) in str(e)
    caught(
        lambda: OssClient(srv.endpoint, srv.cred_path, str(bad), region=srv.region).head_object(BUCKET, "d/a.bin"),
        RuntimeError,
        ValueError,
    )


def test_server_unreachable(srv, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"maxAttempts": 1}))
    dead = dict(endpoint="http://127.0.0.1:1", cred_path=srv.cred_path, region=srv.region, config_path=str(cfg))
    caught(
        lambda: OssClient(dead["endpoint"], srv.cred_path, str(cfg), region=srv.region).head_object(BUCKET, "d/a.bin"),
        RuntimeError,
        ConnectionError,
        OssConnectionError,
    )
    caught(lambda: OssMapDataset.from_objects([f"oss://{BUCKET}/d/a.bin"], **dead)[0], RuntimeError, ConnectionError)


def test_oss_error_answer(local_oss_server):
    local_oss_server.put_object("test-bucket", "k", b"v")
    cfg_kw = dict(
        endpoint=local_oss_server.endpoint, cred_path=local_oss_server.cred_path, region=local_oss_server.region
    )
    ds = OssMapDataset.from_objects(["oss://test-bucket/k"], **cfg_kw)
    local_oss_server.set_faults(error_rate_500=1.0, ops=["GetObject"])
    e = caught(lambda: ds[0], RuntimeError, OSError, OssError)
    assert "errno=" in str(e) and e.status == 500


def test_corrupt_bytes(local_oss_server):
    local_oss_server.put_object("test-bucket", "k", b"v" * 1000)
    local_oss_server.set_faults(flip_rate=1.0, ops=["GetObject"])
    c = OssClient(local_oss_server.endpoint, local_oss_server.cred_path, region=local_oss_server.region)
    e = caught(lambda: c.get_object("test-bucket", "k").read(), RuntimeError, ConnectionError, OssConnectionError)
    assert e.errno == errno.EIO and e.integrity


def test_checkpoint_writer_to_a_missing_bucket(srv):
    ck = OssCheckpoint(**kw(srv))

    def save():
        with ck.writer("oss://no-such-bucket/ckpt.pt") as f:  # raises at a write or at close, inside `with`
            torch.save({"x": torch.ones(4)}, f)

    caught(save, RuntimeError, FileNotFoundError)


# ---- arguments ----


def test_bad_uri(srv):
    """upstream: ValueError from its Python parser (from_prefix, checkpoint
    URIs), RuntimeError from its core (new_data_object, from_objects): ours
    is both, and reads cleanly."""
    for fn in (
        lambda: OssMapDataset.from_prefix("bkt/x", **kw(srv)),
        lambda: OssCheckpoint(**kw(srv)).reader("bkt/x"),
        lambda: OssMapDataset.from_objects(["bkt/x"], **kw(srv)),
        lambda: new_data_object("bkt/x"),
    ):
        e = caught(fn, ValueError, RuntimeError, OssInvalidArgumentError)
        assert str(e)[0].isalpha() and "bkt/x" in str(e), str(e)  # no stray ": " in front
    e = caught(lambda: OssMapDataset.from_prefix("oss:///x", **kw(srv)), ValueError, RuntimeError)
    assert str(e).startswith("Bucket name must be non-empty")


def test_empty_endpoint_outside_datasets(srv):
    for cls in (OssCheckpoint, OssSafetensor, OssDCPFileSystem):
        e = caught(lambda cls=cls: cls("", cred_path=srv.cred_path), ValueError)
        assert str(e) == "endpoint must be non-empty"


def test_empty_argument(srv):
    caught(lambda: OssMapDataset.from_objects([], **kw(srv)), ValueError)
    caught(lambda: OssMapDataset.from_prefix("", **kw(srv)), ValueError)
