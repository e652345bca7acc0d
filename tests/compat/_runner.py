"""Runs the same snippet under upstream osstorchconnector 1.2.3 and under
ours, against one local server, and hands back what each printed.

A snippet is a file in tests/compat/snippets/. It imports `_compat` (beside
it), which reads the connection from the environment (OSSTORCH_COMPAT: a
JSON object with side, endpoint, cred_path, config_path, region, bucket,
tmp and the test's args) and reports results with `emit(name, value)`: one
line `@@COMPAT@@ {"name": ..., "value": ...}` on stdout per result, so a
snippet that crashes half-way (upstream segfaults on some errors) still
reports what it did before.

Ours runs under this interpreter with the package pytest imported (its
folder first on PYTHONPATH) at the server's plain http://127.0.0.1:PORT.
Upstream runs under .venv-upstream's interpreter at
http://oss-local.test:PORT inside a private mount namespace whose
/etc/hosts maps that name (scripts/upstream.py: Sandbox); where no
namespace can be had, /etc/hosts gets a temporary line for the session
instead (RealChanges, undone at the end even if pytest is killed).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import signal
import subprocess
import sys
import tempfile
from typing import Any, Dict, Optional, Tuple

from support import scripts

HERE = pathlib.Path(__file__).resolve().parent
SNIPPETS = HERE / "snippets"
MARK = "@@COMPAT@@ "
BUCKET = "cmp"
REGION = "cn-hangzhou"

# What the session's server holds (bucket `cmp`), for the cases to read.
SRC = {f"src/{i:03d}.bin": bytes([65 + i]) * n for i, n in enumerate([10, 0, 700, 1500, 70_000])}
OBJECTS = {"obj/a.bin": b"alpha", "obj/b.bin": b"bravo-bytes", "pre/x/a.bin": b"under a prefix"}
SHARE = {f"share/{i:03d}.bin": b"s%03d" % i for i in range(40)}

up = scripts.load("upstream")  # scripts/upstream.py: the upstream virtualenv and its sandbox

# What the snippets must not inherit: our package on the path of upstream's
# interpreter, or credentials that would hide the ones a case gives.
_DROP_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "OSS_ACCESS_KEY_ID",
    "OSS_ACCESS_KEY_SECRET",
    "OSS_SESSION_TOKEN",
    "OSS_SECURITY_TOKEN",
    "ALIBABA_CLOUD_ACCESS_KEY_ID",
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    "ALIBABA_CLOUD_CREDENTIALS_FILE",
    "OSSTORCH_COMPAT",
)


class Run(dict):
    """name -> value, as the snippet emitted them; `.rc`, `.stderr`, and
    `.crashed` (no normal exit: a signal or a non-zero status)."""

    rc: int = 0
    stderr: str = ""
    side: str = ""

    @property
    def crashed(self) -> bool:
        return self.rc != 0

    def get_or_fail(self, name: str) -> Any:
        if name not in self:
            raise AssertionError(
                f"{self.side}: the snippet reported no {name!r} (exit status {self.rc}); stderr:\n{self.stderr[-3000:]}"
            )
        return self[name]


class Compat:
    """One local server (bucket `cmp`), a config.json, and the two sides."""

    def __init__(self, server, upstream_python: str, tmp: pathlib.Path) -> None:
        self.server = server
        self.upstream_python = upstream_python
        self.tmp = tmp
        self.port = server.endpoint.rsplit(":", 1)[1]
        self.endpoints = {"ours": server.endpoint, "upstream": f"http://{up.HOST}:{self.port}"}
        import osstorchconnector

        self.ours_path = str(pathlib.Path(osstorchconnector.__file__).resolve().parents[1])
        self.config_path = str(tmp / "config.json")
        # upstream's defaults, logs kept in our folder
        (tmp / "logs").mkdir(exist_ok=True)
        pathlib.Path(self.config_path).write_text(
            json.dumps(
                {
                    "logLevel": 1,
                    "logPath": str(tmp / "logs" / "connector.log"),
                    "auditPath": str(tmp / "logs" / "audit.log"),
                    "datasetConfig": {"prefetchConcurrency": 24, "prefetchWorker": 2},
                    "checkpointConfig": {"prefetchConcurrency": 24, "prefetchWorker": 4, "uploadConcurrency": 64},
                }
            )
        )
        self._real: Optional[up.RealChanges] = None
        ok, why = up.can_unshare()
        self.namespace = ok
        self.namespace_reason = why
        if not ok:
            # no private namespace: one temporary /etc/hosts line for the whole session
            self._real = up.RealChanges([BUCKET])

    def close(self) -> None:
        if self._real is not None:
            self._real.close()
            self._real = None

    def cred_json(self) -> str:
        return json.dumps({"AccessKeyId": self.server.access_key_id, "AccessKeySecret": self.server.access_key_secret})

    def run(
        self,
        side: str,
        snippet: str,
        args: Optional[Dict[str, Any]] = None,
        *,
        files: Optional[Dict[str, Any]] = None,
        timeout: float = 180,
        cred_path: Optional[str] = None,
        config_path: Optional[str] = None,
    ) -> Run:
        """Run snippets/<snippet> under `side` ("ours" or "upstream").
        files: {path: content} to place for this run only (a mount namespace;
        both sides run in one then). Without a namespace, they are created
        for the run where no file exists (else pytest.skip) and removed."""
        assert side in ("ours", "upstream"), side
        cfg = {
            "side": side,
            "endpoint": self.endpoints[side],
            "region": REGION,
            "bucket": BUCKET,
            "cred_path": self.server.cred_path if cred_path is None else cred_path,
            "config_path": self.config_path if config_path is None else config_path,
            "tmp": str(self.tmp),
            "args": args or {},
        }
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        env.update(
            OSSTORCH_COMPAT=json.dumps(cfg),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONWARNINGS="ignore",
            PYTHONFAULTHANDLER="1",
        )
        if side == "ours":
            env["PYTHONPATH"] = self.ours_path
            py = sys.executable
        else:
            py = self.upstream_python
        argv = [py, str(SNIPPETS / snippet)]
        ctx = None
        if side == "upstream" or files:
            if self.namespace:
                ctx = up.Sandbox([BUCKET], files=files)
                argv = ctx.prefix() + argv
            elif files:
                try:
                    ctx = up.RealChanges(files=files, hosts=False)
                except FileExistsError as e:
                    import pytest

                    pytest.skip(f"no private mount namespace ({self.namespace_reason}) and {e}")
        try:
            p = subprocess.Popen(
                argv,
                env=env,
                cwd=str(self.tmp),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            try:
                out, err = p.communicate(timeout=timeout)
                rc = p.returncode
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)  # the snippet and anything it started
                out, err = p.communicate()
                rc, err = -999, err + f"\n[compat] timed out after {timeout} s (upstream 1.2.3 hangs on some errors)"
        finally:
            if ctx is not None:
                ctx.close()
        res = Run()
        res.rc, res.stderr, res.side = rc, err, side
        for line in out.splitlines():
            if line.startswith(MARK):
                msg = json.loads(line[len(MARK) :])
                res[msg["name"]] = msg["value"]
        return res

    def each(self, fn) -> Tuple[Run, Run]:
        """(fn("ours"), fn("upstream")), run side by side."""
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            f_up = ex.submit(fn, "upstream")
            f_ours = ex.submit(fn, "ours")
            return f_ours.result(), f_up.result()

    def both(self, snippet: str, args: Optional[Dict[str, Any]] = None, **kw: Any) -> Tuple[Run, Run]:
        """(ours, upstream): the same snippet and args, side by side."""
        return self.each(lambda side: self.run(side, snippet, args, **kw))


def upstream_or_reason() -> Tuple[Optional[str], Optional[str]]:
    """Upstream's interpreter, building .venv-upstream the way `make
    upstream-venv` does if it is missing (unless OSSTORCH_COMPAT_INSTALL=0
    or the last attempt recorded why it failed); else (None, reason)."""
    py, reason = up.ensure_venv(install=False)
    if py:
        return py, None
    recorded = up.recorded_reason()
    if recorded and os.environ.get("OSSTORCH_COMPAT_RETRY") != "1":
        return None, recorded
    if os.environ.get("OSSTORCH_COMPAT_INSTALL", "1") == "0":
        return None, reason
    return up.ensure_venv(install=True)


def mkdtemp() -> pathlib.Path:
    return pathlib.Path(tempfile.mkdtemp(prefix="osstorch-compat-"))
