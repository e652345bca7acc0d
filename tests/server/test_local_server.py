"""osstorchconnector.testing: the LocalOssServer wrapper, the command line, the
pytest fixture, and the server's capacity (connections, bytes, memory)."""

import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.parse

import pytest

from osstorchconnector import _native
from osstorchconnector.testing import FAULT_OPTIONS, LocalOssServer, server_binary


def test_fixture_gives_a_running_server_with_a_bucket(local_oss_server):
    local_oss_server.put_object("test-bucket", "k", b"v")
    c = _native.NativeClient(
        {
            "endpoint": local_oss_server.endpoint,
            "cred_path": local_oss_server.cred_path,
            "region": local_oss_server.region,
        }
    )
    assert c.get("test-bucket", "k") == b"v"


def test_credentials_file_is_upstream_json_private_and_secret_stays_out_of_repr():
    with LocalOssServer(["b-one"], security_token="sts-token") as srv:
        with open(srv.cred_path) as f:
            cred = json.load(f)
        assert cred == {
            "AccessKeyId": srv.access_key_id,
            "AccessKeySecret": srv.access_key_secret,
            "SecurityToken": "sts-token",
        }
        assert stat.S_IMODE(os.stat(srv.cred_path).st_mode) == 0o600
        assert srv.access_key_secret not in repr(srv)
        # the secret is not on the server's command line either
        with open(f"/proc/{srv.pid}/cmdline", "rb") as f:
            assert srv.access_key_secret.encode() not in f.read()
        # and two servers never share keys
        with LocalOssServer(["b-two"]) as other:
            assert other.access_key_secret != srv.access_key_secret


def test_wrong_secret_is_refused(local_oss_server, tmp_path):
    bad = tmp_path / "cred.json"
    bad.write_text(json.dumps({"AccessKeyId": local_oss_server.access_key_id, "AccessKeySecret": "wrong"}))
    c = _native.NativeClient(
        {"endpoint": local_oss_server.endpoint, "cred_path": str(bad), "region": local_oss_server.region}
    )
    with pytest.raises(PermissionError) as ei:
        c.list("test-bucket")
    assert ei.value.code == "SignatureDoesNotMatch" and ei.value.status == 403 and ei.value.request_id
    assert "wrong" not in str(ei.value)


def test_stats_count_requests_by_operation_and_status(local_oss_server):
    srv = local_oss_server
    srv.put_object("test-bucket", "a", b"12345")
    srv.reset_stats()
    c = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
    c.get("test-bucket", "a")
    with pytest.raises(FileNotFoundError):
        c.get("test-bucket", "missing")
    c.list("test-bucket")
    st = srv.stats()
    assert st["requests"]["GetObject"] == {"200": 1, "404": 1}
    assert st["requests"]["ListObjectsV2"] == {"200": 1}
    assert st["list_pages"] == 1
    assert st["bytes_out"] >= 5
    assert st["objects"] == 1 and st["stored_bytes"] == 5


def test_set_faults_updates_named_options_and_rejects_unknown_ones(local_oss_server):
    srv = local_oss_server
    srv.set_faults(latency_ms=50, seed=7)
    srv.set_faults(error_rate_503=0.5)
    f = srv.faults()
    assert (f["latency_ms"], f["seed"], f["error_rate_503"]) == (50, 7, 0.5)
    with pytest.raises(ValueError, match="unknown fault option"):
        srv.set_faults(latency=5)
    with pytest.raises(ValueError, match="error_rate_500"):
        srv.set_faults(error_rate_500=2.0)
    srv.clear_faults()
    assert srv.faults()["latency_ms"] == 0


def test_injected_latency_is_seen_by_clients(local_oss_server):
    srv = local_oss_server
    srv.put_object("test-bucket", "slow", b"x")
    c = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
    c.get("test-bucket", "slow")  # warm the connection
    srv.set_faults(latency_ms=300)
    t0 = time.monotonic()
    c.get("test-bucket", "slow")
    assert time.monotonic() - t0 >= 0.3  # a lower bound only: the machine may be slow, never fast


def test_data_dir_survives_restart(tmp_path):
    with LocalOssServer(["keep"], data_dir=tmp_path / "data") as srv:
        srv.put_object("keep", "x/y", b"persisted")
        srv.restart()
        c = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
        assert c.get("keep", "x/y") == b"persisted"


def test_command_line_serve_prints_endpoint_and_stops_on_sigterm():
    p = subprocess.Popen(
        [sys.executable, "-m", "osstorchconnector.testing", "serve", "--bucket", "cli-bucket", "--latency-ms", "5"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        first = p.stdout.readline()
        assert first.startswith("endpoint:    http://127.0.0.1:"), first
        rest = "".join(p.stdout.readline() for _ in range(3))
        assert "cli-bucket" in rest and "credentials:" in rest
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 0
    finally:
        p.kill()


def test_ossemu_help_documents_every_fault_option():
    out = subprocess.run([server_binary(), "--help"], capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    flags = {"ops": "-fault-op", "key_pattern": "-fault-keys"}
    for name in FAULT_OPTIONS:
        assert flags.get(name, "-" + name.replace("_", "-")) in text, name
    for flag in (
        "-addr",
        "-bucket",
        "-region",
        "-access-key-id",
        "-access-key-secret",
        "-security-token",
        "-data-dir",
        "-anonymous",
        "-admin",
    ):
        assert flag in text, flag


def test_ossemu_prints_endpoint_first_and_exits_on_sigint(tmp_path):
    p = subprocess.Popen(
        [server_binary(), "--addr", "127.0.0.1:0", "--anonymous", "--bucket", "b-cli"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = p.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        conn = http.client.HTTPConnection(urllib.parse.urlsplit(url).netloc, timeout=10)
        conn.request("GET", "/b-cli/?list-type=2")
        assert conn.getresponse().status == 200
        p.send_signal(signal.SIGINT)
        assert p.wait(30) == 0
    finally:
        p.kill()


def _rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_64_concurrent_connections_serve_a_gibibyte_in_bounded_memory():
    size, conns, rounds = 16 << 20, 64, 1  # 64 x 16 MiB = 1 GiB
    payload = os.urandom(size)
    with LocalOssServer(["load"], anonymous=True) as srv:
        srv.put_object("load", "blob", payload)
        time.sleep(0.5)
        base = _rss_kib(srv.pid)
        # every request waits 500 ms before its first byte, so all 64 are in flight together
        srv.set_faults(latency_ms=500)
        srv.reset_stats()
        host = urllib.parse.urlsplit(srv.endpoint).netloc
        errors, got = [], []
        start = threading.Barrier(conns)

        def worker():
            try:
                start.wait()
                for _ in range(rounds):
                    c = http.client.HTTPConnection(host, timeout=120)
                    c.request("GET", "/load/blob")
                    r = c.getresponse()
                    n, head = 0, None
                    while True:
                        chunk = r.read(1 << 20)
                        if not chunk:
                            break
                        if head is None:
                            head = chunk[:64]
                        n += len(chunk)
                    got.append((r.status, n, head == payload[:64]))
                    c.close()
            except Exception as e:  # collected and asserted below
                errors.append(repr(e))

        peak, done = [base], threading.Event()

        def sample():  # VmHWM would include the upload's peak: sample the RSS while serving
            while not done.wait(0.02):
                peak.append(_rss_kib(srv.pid))

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=worker) for _ in range(conns)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        done.set()
        sampler.join()
        assert errors == []
        assert got == [(200, size, True)] * (conns * rounds)
        st = srv.stats()
        assert st["peak_concurrent"] >= conns, st
        assert st["bytes_out"] >= conns * rounds * size >= 1 << 30
        grown_mib = (max(peak) - base) / 1024
        # Serving streams from the stored object: no per-request copies. 1 GiB went
        # out; a server that copied each object per request would grow by ~1 GiB.
        print(
            f"server RSS grew by {grown_mib:.1f} MiB while serving {st['bytes_out'] / 2**30:.2f} GiB to {st['peak_concurrent']} concurrent requests"
        )
        assert grown_mib < 96, f"server RSS grew by {grown_mib:.0f} MiB while serving"


def test_a_server_that_cannot_start_says_why():
    with pytest.raises(RuntimeError, match="invalid bucket name"):
        LocalOssServer(["x"]).start()
