"""Smoke tests of every function the core exports, through the per-process
loader: in the parent and in forked, spawned and forkserver children."""
import multiprocessing as mp
import os
import sys

import pytest

from osstorchconnector import _native
from osstorchconnector.errors import OssError

sys.path.insert(0, os.path.dirname(__file__))
from _native_exercise import child, exercise  # noqa: E402

BUCKET = "test-bucket"

EXPECTED = {
    "config": 64,
    "list": ["a", "b"],
    "get": b"alpha",
    "stat": 6,
    "read_range": (3, b"rav"),
    "batch": [b"alpha", "OssNotFoundError"],
    "prefetch": [("a", b"alpha"), ("b", b"bravo!")],
    "writer_reader": (1536000, True),
    "after": ["b", "w"],
    "pid_ok": True,
}


def options(srv):
    return {"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region}


def check(out):
    src = out.pop("source")
    assert out == EXPECTED
    return src


def test_every_function_in_the_parent(oss_module):
    assert check(exercise(options(oss_module), BUCKET, "parent")) == "libosstorch.so"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_every_function_in_a_child(oss_module, method):
    exercise(options(oss_module), BUCKET, "before-" + method)  # the parent has a live Go runtime
    ctx = mp.get_context(method)
    r, w = ctx.Pipe(duplex=False)
    p = ctx.Process(target=child, args=(w, options(oss_module), BUCKET, method))
    p.start()
    w.close()
    assert r.poll(120), f"{method} child did not answer (hang)"
    status, out = r.recv()
    p.join(30)
    assert status == "ok", out
    src = check(out)
    assert src == ("libosstorch_fork.so" if method == "fork" else "libosstorch.so")


def test_handles_from_another_process_are_refused(oss_module):
    c = _native.NativeClient(options(oss_module))
    c.put(BUCKET, "h/x", b"12345")
    reader = c.open_reader(BUCKET, "h/x")
    pid = os.fork()
    if pid == 0:
        try:
            reader.read_into(0, bytearray(1))
            os._exit(1)
        except RuntimeError as e:
            os._exit(0 if "another process" in str(e) else 2)
        except BaseException:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert reader.read_into(0, bytearray(5)) == 5
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read_into(0, bytearray(1))


def test_bad_arguments_raise_clear_errors(oss_module):
    c = _native.NativeClient(options(oss_module))
    with pytest.raises(TypeError):
        c.get(BUCKET, b"bytes-key")
    with pytest.raises(ValueError, match="NUL"):
        c.get(BUCKET, "a\x00b")
    with pytest.raises(ValueError, match="negative"):
        c.read_range(BUCKET, "k", -1, bytearray(1))
    with pytest.raises(TypeError, match="writable"):
        c.read_range(BUCKET, "k", 0, b"readonly")
    with pytest.raises(ValueError) as ei:  # OssInvalidArgumentError is a ValueError and an OssError
        _native.NativeClient({"endpoint": "", "cred_path": oss_module.cred_path}).check()
    assert isinstance(ei.value, OssError) and "endpoint must be non-empty" in str(ei.value)
    with pytest.raises(ValueError, match="shard"):
        c.prefetch(bucket=BUCKET, worker_id=2, worker_count=2)
    w = c.open_writer(BUCKET, "h/closed")
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(b"more")


def test_missing_credentials_name_what_was_tried(oss_module, monkeypatch):
    monkeypatch.delenv("OSS_ACCESS_KEY_ID", raising=False)
    if os.path.exists("/mnt/.alibabacloud/credentials"):
        pytest.skip("this machine has a DLC credentials file")
    with pytest.raises(PermissionError, match="cred_path"):
        _native.NativeClient({"endpoint": oss_module.endpoint}).check()


@pytest.mark.parametrize("content, match", [
    ("{not json", "not valid JSON"),
    ('{"AccessKeyId": "x"}', "must contain AccessKeyId and AccessKeySecret"),
])
def test_bad_credentials_files(oss_module, tmp_path, content, match):
    p = tmp_path / "cred.json"
    p.write_text(content)
    with pytest.raises(ValueError, match=match):
        _native.NativeClient({"endpoint": oss_module.endpoint, "cred_path": str(p)}).check()
    with pytest.raises(FileNotFoundError):
        _native.NativeClient({"endpoint": oss_module.endpoint, "cred_path": str(tmp_path / "absent")}).check()


def test_config_file_errors_name_the_field(oss_module, tmp_path):
    p = tmp_path / "config.json"
    p.write_text('{"datasetConfig": {"prefetchConcurrency": "lots"}}')
    with pytest.raises(ValueError, match="datasetConfig.prefetchConcurrency"):
        _native.NativeClient({"endpoint": oss_module.endpoint, "cred_path": oss_module.cred_path,
                              "config_path": str(p)}).check()


class CountingProvider:
    """An oss2-style provider: get_credentials() returns an object with getters."""

    def __init__(self, srv, secret=None):
        self.srv, self.secret, self.calls = srv, secret, 0

    def get_credentials(self):
        self.calls += 1
        srv, secret = self.srv, self.secret or self.srv.access_key_secret

        class Cred:
            def get_access_key_id(self):
                return srv.access_key_id

            def get_access_key_secret(self):
                return secret

            def get_security_token(self):
                return None

        return Cred()


def test_cred_provider_is_called_back_from_the_core(oss_module):
    prov = CountingProvider(oss_module)
    c = _native.NativeClient({"endpoint": oss_module.endpoint, "region": oss_module.region}, cred_provider=prov)
    c.put(BUCKET, "prov/a", b"via provider")
    assert c.get(BUCKET, "prov/a") == b"via provider"
    assert prov.calls == 1  # cached until it would expire

    oss2 = pytest.importorskip("oss2")
    real = oss2.credentials.StaticCredentialsProvider(oss_module.access_key_id, oss_module.access_key_secret)
    c2 = _native.NativeClient({"endpoint": oss_module.endpoint, "region": oss_module.region}, cred_provider=real)
    assert c2.get(BUCKET, "prov/a") == b"via provider"


def test_cred_provider_failures_are_permission_errors(oss_module):
    class Broken:
        def get_credentials(self):
            raise RuntimeError("vault unreachable")

    c = _native.NativeClient({"endpoint": oss_module.endpoint, "region": oss_module.region}, cred_provider=Broken())
    with pytest.raises(PermissionError, match="vault unreachable"):
        c.get(BUCKET, "prov/a")
    wrong = CountingProvider(oss_module, secret="wrong-secret-value")
    c = _native.NativeClient({"endpoint": oss_module.endpoint, "region": oss_module.region}, cred_provider=wrong)
    with pytest.raises(PermissionError) as ei:
        c.get(BUCKET, "prov/a")
    assert ei.value.code == "SignatureDoesNotMatch" and "wrong-secret-value" not in str(ei.value)


def test_cred_provider_in_a_forked_child(oss_module):
    prov = CountingProvider(oss_module)
    c = _native.NativeClient({"endpoint": oss_module.endpoint, "region": oss_module.region}, cred_provider=prov)
    c.put(BUCKET, "prov/fork", b"child reads this")
    pid = os.fork()
    if pid == 0:
        try:
            os._exit(0 if c.get(BUCKET, "prov/fork") == b"child reads this" else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
