"""Smoke tests of every function the core exports, through the per-process
loader: in the parent and in forked, spawned and forkserver children."""

import json
import multiprocessing as mp
import os
import sys

import pytest

from osstorchconnector import _native
from osstorchconnector.errors import OssError
from support.native_exercise import child, exercise

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
    "tar": (["m0", "m1", "m2"], [b"xxx", b"x", b"xx"]),
    "after": ["b", "w", "w.osstorch-crc64"],  # w was written in parts: its part checksum file
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
    defaults = [
        "/root/.alibabacloud/credentials",
        os.path.expanduser("~/.alibabacloud/credentials"),
        "/mnt/.alibabacloud/credentials",
    ]
    if any(os.path.exists(p) for p in defaults):
        pytest.skip("this machine has a default credentials file")
    with pytest.raises(PermissionError, match="cred_path"):
        _native.NativeClient({"endpoint": oss_module.endpoint}).check()


@pytest.mark.parametrize(
    "content, match",
    [
        ("{not json", "not valid JSON"),
        ('{"AccessKeyId": "x"}', "must contain AccessKeyId and AccessKeySecret"),
    ],
)
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
        _native.NativeClient(
            {"endpoint": oss_module.endpoint, "cred_path": oss_module.cred_path, "config_path": str(p)}
        ).check()


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


def test_concurrent_calls_from_many_python_threads(oss_module):
    import threading

    c = _native.NativeClient(options(oss_module))
    for i in range(16):
        c.put(BUCKET, f"thr/{i}", bytes([i]) * (1000 + i))
    oss_module.set_faults(latency_ms=10)
    errors, results = [], []

    def work(t):
        try:
            for round_ in range(5):
                i = (t + round_) % 16
                assert c.get(BUCKET, f"thr/{i}") == bytes([i]) * (1000 + i)
                got = c.batch_get([{"bucket": BUCKET, "key": f"thr/{j}"} for j in range(16)])
                assert got == [bytes([j]) * (1000 + j) for j in range(16)]
            results.append(t)
        except BaseException as e:  # collected, asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    oss_module.clear_faults()
    assert errors == [] and sorted(results) == list(range(8))
    # ctypes released the GIL: the threads' requests overlapped at the server
    assert oss_module.stats()["peak_concurrent"] >= 8


def test_key_rotation_and_a_rewritten_credentials_file(local_oss_server):
    srv = local_oss_server
    c = _native.NativeClient(options(srv))
    c.put(BUCKET, "rot", b"1")
    srv.set_credentials(write_file=False)  # the server now wants new keys; the file still has the old ones
    with pytest.raises(PermissionError) as ei:
        c.get(BUCKET, "rot")
    assert ei.value.code == "InvalidAccessKeyId"
    srv.write_credentials_file()  # the core notices the file changed and re-reads it
    assert c.get(BUCKET, "rot") == b"1"


def test_parse_uri():
    assert _native.parse_uri("oss://bkt/a/b") == ("bkt", "a/b")
    assert _native.parse_uri("/bkt/a") == ("bkt", "a")
    assert _native.parse_uri("oss://bkt.oss-cn-beijing.aliyuncs.com/x") == ("bkt", "x")
    with pytest.raises(ValueError, match="should start with 'oss://' or '/'"):
        _native.parse_uri("s3://bkt/a")
    with pytest.raises(ValueError, match="Bucket name must be non-empty"):
        _native.parse_uri("oss:///a")


def test_unwritable_log_paths_fall_back_to_stderr_with_one_warning(oss_module, tmp_path):
    import subprocess

    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"logPath": "/proc/forbidden/connector.log", "auditPath": "/proc/forbidden/audit.log"}))
    code = (
        "import sys; from osstorchconnector import _native\n"
        "o = dict(endpoint=sys.argv[1], cred_path=sys.argv[2], region=sys.argv[3], config_path=sys.argv[4])\n"
        "for _ in range(3): _native.NativeClient(o).check()\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, oss_module.endpoint, oss_module.cred_path, oss_module.region, str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == "ok", out.stderr
    warnings = [line for line in out.stderr.splitlines() if "cannot write log file" in line]
    assert len(warnings) == 2 and "/proc/forbidden/connector.log" in warnings[0], out.stderr


def test_connection_timeouts_say_etimedout_and_keep_it_when_pickled():
    import errno
    import pickle

    from osstorchconnector.errors import OssConnectionError

    e = OssConnectionError(
        "GetObject oss://b/k: read tcp 1->2: i/o timeout", op="GetObject", bucket="b", key="k", kind="network"
    )
    assert e.errno == errno.ETIMEDOUT
    assert pickle.loads(pickle.dumps(e)).errno == errno.ETIMEDOUT
    assert OssConnectionError("connection reset by peer").errno == errno.ECONNRESET


def test_integrity_failures_say_eio_and_keep_it_when_pickled(local_oss_server):
    """Bytes that fail their CRC-64 every time: an OssConnectionError flagged
    by the core as an integrity failure, errno EIO (not ECONNRESET)."""
    import errno
    import pickle

    from osstorchconnector.errors import OssConnectionError

    srv = local_oss_server
    c = _native.NativeClient(options(srv))
    c.put(BUCKET, "flip", b"x" * 5000)
    srv.set_faults(flip_rate=1.0, ops=["GetObject"])
    with pytest.raises(OssConnectionError) as ei:
        c.get(BUCKET, "flip")
    srv.clear_faults()
    e = ei.value
    assert e.integrity and not e.timeout and e.errno == errno.EIO, (e.errno, str(e))
    assert "integrity" in str(e) and pickle.loads(pickle.dumps(e)).errno == errno.EIO


def test_a_stalled_server_is_flagged_as_a_timeout_by_the_core(local_oss_server, tmp_path):
    """The core sets the timeout flag itself (the message need not say so):
    errno ETIMEDOUT, timeout True, integrity False."""
    import errno

    from osstorchconnector.errors import OssConnectionError

    srv = local_oss_server
    cfg = tmp_path / "config.json"
    cfg.write_text(
        json.dumps(
            {
                "readWriteTimeoutMs": 300,
                "maxAttempts": 1,
                "logPath": str(tmp_path / "c.log"),
                "auditPath": str(tmp_path / "a.log"),
            }
        )
    )
    c = _native.NativeClient(dict(options(srv), config_path=str(cfg)))
    c.put(BUCKET, "stall", b"s" * 100_000)
    srv.set_faults(stall_rate=1.0, stall_ms=3000, stall_after_bytes=1000, ops=["GetObject"])
    with pytest.raises(OssConnectionError) as ei:
        c.get(BUCKET, "stall")
    srv.clear_faults()
    assert ei.value.timeout and not ei.value.integrity and ei.value.errno == errno.ETIMEDOUT, str(ei.value)
