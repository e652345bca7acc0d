"""A local OSS-compatible server for tests, demos and offline development.

    from osstorchconnector.testing import LocalOssServer

    with LocalOssServer(buckets=["data"]) as oss:
        oss.put_object("data", "train/0.bin", b"...")
        ds = OssMapDataset.from_prefix("oss://data/train/", endpoint=oss.endpoint,
                                       cred_path=oss.cred_path)
        oss.set_faults(latency_ms=30)          # realistic first-byte latency
        print(oss.stats()["requests"])          # what the server saw

It runs the ``ossemu`` binary shipped in this package on a free loopback port
with fresh random keys, and checks real signatures. ``python -m
osstorchconnector.testing serve`` runs one from a shell.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, Iterable, Optional, Union

__all__ = ["LocalOssServer", "server_binary"]

_PKG = pathlib.Path(__file__).resolve().parent.parent

#: The fault and realism options accepted by :meth:`LocalOssServer.set_faults`
#: (the same as the ``ossemu`` command's flags, with ``_`` for ``-``).
FAULT_OPTIONS = (
    "seed",
    "clock_offset_ms",
    "latency_ms",
    "latency_jitter_ms",
    "op_latency_ms",
    "bandwidth_per_conn",
    "bandwidth_total",
    "qps_limit",
    "qos_delay_ms",
    "error_rate_500",
    "error_rate_503",
    "reset_rate",
    "reset_after_bytes",
    "truncate_rate",
    "truncate_after_bytes",
    "stall_rate",
    "stall_ms",
    "stall_after_bytes",
    "flip_rate",
    "ops",
    "key_pattern",
    "fault_limit",
)


def server_binary() -> str:
    """Path of the ossemu binary (``OSSEMU_BINARY`` overrides the packaged one)."""
    env = os.environ.get("OSSEMU_BINARY")
    path = pathlib.Path(env) if env else _PKG / "_bin" / "ossemu"
    if not path.exists():
        raise FileNotFoundError(f"ossemu binary not found at {path}; reinstall osstorchconnector")
    return str(path)


class LocalOssServer:
    """Runs a local OSS-compatible server in a subprocess.

    Args:
        buckets: buckets to create at start.
        region: the region the server claims (clients sign V4 with it).
        access_key_id, access_key_secret: fixed keys; fresh random ones by default.
        security_token: when set, every request must carry this STS token.
        anonymous: accept unsigned requests.
        data_dir: keep objects on disk (survive :meth:`restart`); in memory by default.
        **faults: initial fault options, as for :meth:`set_faults`.
    """

    def __init__(
        self,
        buckets: Iterable[str] = ("test-bucket",),
        *,
        region: str = "cn-hangzhou",
        access_key_id: Optional[str] = None,
        access_key_secret: Optional[str] = None,
        security_token: Optional[str] = None,
        anonymous: bool = False,
        data_dir: Optional[Union[str, os.PathLike]] = None,
        **faults: Any,
    ) -> None:
        _check_fault_names(faults)
        self.buckets = list(buckets)
        self.region = region
        self.access_key_id = access_key_id or "LTAI" + secrets.token_hex(8).upper()
        self.access_key_secret = access_key_secret or secrets.token_urlsafe(24)
        self.security_token = security_token
        self.anonymous = anonymous
        self.data_dir = str(data_dir) if data_dir else None
        self._initial_faults = dict(faults)
        self._proc: Optional[subprocess.Popen] = None
        self._tmp = tempfile.mkdtemp(prefix="ossemu-")
        self.endpoint = ""
        self.cred_path = os.path.join(self._tmp, "credentials.json")
        self._write_credentials()

    def __repr__(self) -> str:  # never shows the secret
        state = self.endpoint or "stopped"
        return f"<LocalOssServer {state} region={self.region} buckets={self.buckets}>"

    # ---- lifecycle ----

    def _write_credentials(self, expiration: Optional[str] = None) -> None:
        cred = {"AccessKeyId": self.access_key_id, "AccessKeySecret": self.access_key_secret}
        if self.security_token:
            cred["SecurityToken"] = self.security_token
        if expiration:
            cred["Expiration"] = expiration
        # write a new file and rename it over the old one: readers never see half a file
        tmp = self.cred_path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(cred, f)
        os.replace(tmp, self.cred_path)

    def start(self, addr: str = "127.0.0.1:0") -> "LocalOssServer":
        if self._proc is not None:
            raise RuntimeError("server already running")
        args = [server_binary(), "--addr", addr, "--admin", "--region", self.region]
        for b in self.buckets:
            args += ["--bucket", b]
        if self.anonymous:
            args.append("--anonymous")
        if self.data_dir:
            args += ["--data-dir", self.data_dir]
        env = dict(os.environ, OSSEMU_ACCESS_KEY_ID=self.access_key_id, OSSEMU_ACCESS_KEY_SECRET=self.access_key_secret)
        if self.security_token:
            env["OSSEMU_SECURITY_TOKEN"] = self.security_token
        self._log = open(os.path.join(self._tmp, "ossemu.log"), "ab")
        self._proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL, env=env)
        line = _readline_with_timeout(self._proc, 30.0)
        if not line.startswith("http://"):
            log_path = self._log.name
            self._kill()
            with open(log_path, "rb") as f:
                detail = f.read().decode(errors="replace").strip()[-2000:]
            raise RuntimeError(f"ossemu did not start: {detail or repr(line)}")
        self.endpoint = line.strip()
        if self._initial_faults:
            self.set_faults(**self._initial_faults)
        return self

    def stop(self) -> None:
        """Stop the server (in-memory data is lost; a data_dir keeps it)."""
        self._kill()

    def restart(self) -> None:
        """Stop and start again on the same port (keep data with data_dir)."""
        addr = urllib.parse.urlsplit(self.endpoint).netloc
        self._kill()
        self.start(addr)

    def kill(self) -> None:
        """SIGKILL the server: uploads in flight are dropped."""
        if self._proc is not None:
            self._proc.kill()
        self._kill()

    def _kill(self) -> None:
        p, self._proc = self._proc, None
        if p is not None:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            if p.stdout:
                p.stdout.close()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def close(self) -> None:
        self._kill()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "LocalOssServer":
        return self.start() if self._proc is None else self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self._kill()
        except Exception:
            pass

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc else None

    # ---- admin API ----

    def _admin(
        self, method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None
    ) -> Any:
        if not self.endpoint:
            raise RuntimeError("server is not running")
        req = urllib.request.Request(
            self.endpoint + "/_ossemu/" + path, data=body, method=method, headers=headers or {}
        )
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise ValueError(f"ossemu refused {method} {path}: {detail}") from None

    def create_bucket(self, name: str) -> None:
        self._admin("PUT", "buckets/" + name)
        if name not in self.buckets:
            self.buckets.append(name)

    def put_object(self, bucket: str, key: str, data: Union[bytes, bytearray, memoryview, str]) -> Dict[str, Any]:
        """Store an object directly (no signature needed)."""
        if isinstance(data, str):
            data = data.encode()
        return self._admin(
            "PUT",
            "objects/" + bucket + "/" + urllib.parse.quote(key, safe="/"),
            bytes(data),
            {"Content-Type": "application/octet-stream"},
        )

    def fill(self, bucket: str, count: int, key_format: str = "obj-%07d", *, size: int = 0, start: int = 0) -> None:
        """Store count objects (key_format % i for i from start) of size
        random bytes each, in the server itself: many objects in seconds."""
        q = urllib.parse.urlencode(
            {"bucket": bucket, "count": count, "key_format": key_format, "size": size, "start": start}
        )
        self._admin("POST", "fill?" + q)

    def set_credentials(
        self,
        access_key_id: Optional[str] = None,
        access_key_secret: Optional[str] = None,
        security_token: Optional[str] = None,
        *,
        write_file: bool = True,
    ) -> None:
        """Rotate the keys the server accepts (fresh random ones by default).

        With write_file (the default) the credentials file is rewritten too;
        pass False to leave clients with the old keys until you rewrite it.
        """
        self.access_key_id = access_key_id or "LTAI" + secrets.token_hex(8).upper()
        self.access_key_secret = access_key_secret or secrets.token_urlsafe(24)
        self.security_token = security_token
        body = {
            "access_key_id": self.access_key_id,
            "access_key_secret": self.access_key_secret,
            "security_token": security_token or "",
        }
        self._admin("PUT", "credentials", json.dumps(body).encode(), {"Content-Type": "application/json"})
        if write_file:
            self._write_credentials()

    def write_credentials_file(self, expiration: Optional[str] = None) -> None:
        """Rewrite cred_path with the current keys (and an optional RFC 3339 Expiration)."""
        self._write_credentials(expiration)

    def stats(self) -> Dict[str, Any]:
        """Requests by operation and status, bytes in/out, peak concurrency (all
        requests, and by operation: peak_by_op), list pages, ..."""
        return self._admin("GET", "stats")

    def settled_stats(self, timeout: float = 10.0) -> Dict[str, Any]:
        """stats() once no request is in flight (or after timeout seconds). The
        server counts a request when it has answered it, which can be after
        the client has read the answer and moved on."""
        deadline = time.monotonic() + timeout
        st = self.stats()
        while st["concurrent"] and time.monotonic() < deadline:
            time.sleep(0.005)
            st = self.stats()
        return st

    def reset_stats(self) -> None:
        self._admin("POST", "stats/reset")

    def faults(self) -> Dict[str, Any]:
        return self._admin("GET", "faults")

    def set_faults(self, **options: Any) -> Dict[str, Any]:
        """Update fault and realism options, e.g. ``set_faults(latency_ms=30, error_rate_503=0.01)``.

        Options not named keep their value; :meth:`clear_faults` resets all.
        """
        _check_fault_names(options)
        cur = self.faults()
        cur.update(options)
        return self._admin("PUT", "faults", json.dumps(cur).encode(), {"Content-Type": "application/json"})

    def clear_faults(self) -> None:
        self._admin("PUT", "faults", b"{}", {"Content-Type": "application/json"})


def _check_fault_names(options: Dict[str, Any]) -> None:
    unknown = sorted(set(options) - set(FAULT_OPTIONS))
    if unknown:
        raise ValueError(f"unknown fault option(s) {unknown}; known: {', '.join(FAULT_OPTIONS)}")


def _readline_with_timeout(proc: subprocess.Popen, timeout: float) -> str:
    out: list = []

    def read() -> None:
        out.append(proc.stdout.readline().decode(errors="replace"))

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(timeout)
    return out[0] if out else ""
