#!/usr/bin/env python3
"""Upstream osstorchconnector 1.2.3, for the compatibility suite
(tests/compat) and the benchmark: its virtualenv, and a way to run it
against the local server.

    python3 scripts/upstream.py venv     # create or check .venv-upstream (`make upstream-venv`)
    python3 scripts/upstream.py check    # can we run it here? (venv, namespace, reason)

**The virtualenv.** `.venv-upstream` holds osstorchconnector==1.2.3,
torch, numpy and pillow, installed with uv (the shared cache,
``UV_CACHE_DIR``). ``make test``, ``make test-compat`` and ``make bench``
run ``venv`` first; the bench and the tests call :func:`ensure_venv`, the
same code. ``venv`` never fails the build: when upstream cannot be
installed (no network, no wheel for this Python) it writes the reason to
``build/upstream-venv.reason`` and exits 0; the compatibility suite then
skips with that reason, and ``make bench`` stops (unless ``--no-upstream``).
``OSSTORCH_UPSTREAM_PYTHON`` names another interpreter to use instead
(nothing is installed then); ``OSSTORCH_UPSTREAM_VENV`` another folder for
the virtualenv.

**Reaching the local server.** Upstream signs virtual-hosted requests only,
so it needs a host name that resolves to 127.0.0.1:
``http://oss-local.test:PORT``, with ``BUCKET.oss-local.test`` for each
bucket. :class:`Sandbox` runs a command in a private mount namespace
(``unshare --mount``; needs root or CAP_SYS_ADMIN) with its own /etc/hosts
bind-mounted over the real one, and optionally files placed at fixed paths
(upstream's default credentials and config paths) and private, empty
directories over upstream's /var/log/oss-connector and
/var/run/oss-connector. Nothing outside the namespace changes, and a killed
run leaves nothing behind: the mounts die with the processes.

Where ``unshare`` is not permitted, :class:`RealChanges` makes the same
changes to the real files instead (a line appended to /etc/hosts, files
created only where none exist) and undoes them on exit, on SIGTERM turned
into SystemExit, at interpreter exit, and — for SIGKILL — from a small
guardian process that reverts them when its pipe from us closes.
"""

from __future__ import annotations

import atexit
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

REPO = pathlib.Path(__file__).resolve().parents[1]
VENV = pathlib.Path(os.environ.get("OSSTORCH_UPSTREAM_VENV") or REPO / ".venv-upstream")
VERSION = "1.2.3"
REQUIREMENTS = ["osstorchconnector==" + VERSION, "torch", "numpy", "pillow"]
REASON_FILE = REPO / "build" / "upstream-venv.reason"
HOST = "oss-local.test"
REGION = "cn-hangzhou"
# Directories upstream's engine writes to before (or whatever) its config says.
UPSTREAM_DIRS = ("/var/log/oss-connector", "/var/run/oss-connector")
# What upstream reads when cred_path / config_path are empty.
DEFAULT_CRED_PATH = "/root/.alibabacloud/credentials"
DEFAULT_CONFIG_PATH = "/etc/oss-connector/config.json"


def _log(msg: str) -> None:
    print(f"[upstream] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the virtualenv


def venv_python() -> pathlib.Path:
    env = os.environ.get("OSSTORCH_UPSTREAM_PYTHON")
    return pathlib.Path(env) if env else VENV / "bin" / "python"


_PROBE = r"""
import importlib.metadata as m, importlib.util as u, json
missing = [n for n in ('osstorchconnector', 'torch', 'numpy', 'PIL') if u.find_spec(n) is None]
try:
    v = m.version('osstorchconnector')
except m.PackageNotFoundError:
    v = None
print(json.dumps({'missing': missing, 'version': v}))
"""


def clean_env(**extra: str) -> dict:
    """This environment without what would make upstream's interpreter
    import another package (a PYTHONPATH pointing at our source tree)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(extra)
    return env


def probe(python: Union[str, os.PathLike]) -> Optional[str]:
    """None if `python` has upstream VERSION, torch, numpy and PIL; else
    what is wrong. Uses find_spec, not import: importing torch costs seconds."""
    if not os.path.exists(python):
        return f"{python} does not exist"
    try:
        out = subprocess.run([str(python), "-c", _PROBE], capture_output=True, text=True, timeout=120, env=clean_env())
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        return f"{python} does not run: {e}"
    if info["missing"]:
        return f"{python} lacks {', '.join(info['missing'])}"
    if info["version"] != VERSION:
        return f"{python} has osstorchconnector {info['version']}, not {VERSION}"
    return None


def find_uv() -> Optional[List[str]]:
    """A working uv command: `UV` from the environment, `uv` on PATH, or
    `python -m uv` for this interpreter, the interpreter it was made from
    (a virtualenv's base: where `make` installs uv), or python3 on PATH."""
    cands: List[List[str]] = []
    if os.environ.get("UV"):
        cands.append(shlex.split(os.environ["UV"]))
    if shutil.which("uv"):
        cands.append([shutil.which("uv")])
    for py in (sys.executable, getattr(sys, "_base_executable", None), shutil.which("python3")):
        if py and [py, "-m", "uv"] not in cands:
            cands.append([py, "-m", "uv"])
    for cmd in cands:
        try:
            if subprocess.run(cmd + ["--version"], capture_output=True, timeout=60).returncode == 0:
                return cmd
        except (OSError, subprocess.SubprocessError):
            continue
    return None


def _base_python() -> str:
    """The interpreter to build the virtualenv from: make's $(PYTHON), else
    the one this virtualenv (if any) was made from."""
    return os.environ.get("UPSTREAM_BASE_PYTHON") or getattr(sys, "_base_executable", None) or sys.executable


def ensure_venv(install: bool = True, log=_log) -> Tuple[Optional[str], Optional[str]]:
    """(path of upstream's interpreter, None), creating .venv-upstream when
    missing or incomplete; or (None, reason). The reason is also written to
    build/upstream-venv.reason, and removed once the venv is good."""
    py = venv_python()
    problem = probe(py)
    if problem is None:
        REASON_FILE.unlink(missing_ok=True)
        return str(py), None
    if os.environ.get("OSSTORCH_UPSTREAM_PYTHON"):
        return None, f"OSSTORCH_UPSTREAM_PYTHON: {problem}"
    if not install:
        return None, problem
    uv = find_uv()
    if uv is None:
        return None, _reason("uv not found (`make venv` installs it; or `pip install uv`)")
    env = dict(os.environ)
    env.setdefault("UV_CACHE_DIR", str(pathlib.Path.home() / ".cache" / "uv"))
    env.setdefault("UV_LINK_MODE", "copy")

    def uv_run(args: List[str], timeout: float) -> None:
        p = subprocess.run(
            uv + args, cwd=REPO, env=env, timeout=timeout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            last = " ".join(line.strip() for line in p.stderr.strip().splitlines()[-4:])
            raise RuntimeError(f"`uv {' '.join(args[:2])}` failed ({p.returncode}): {last}")

    try:
        if not py.exists():
            log(f"creating {VENV} with osstorchconnector {VERSION} (uv; torch from its cache or PyPI)")
            uv_run(["venv", "-q", "--allow-existing", "--python", _base_python(), str(VENV)], 600)
        else:
            log(f"{problem}: installing {' '.join(REQUIREMENTS)}")
        uv_run(["pip", "install", "-q", "--python", str(py)] + REQUIREMENTS, 1800)
    except (OSError, subprocess.SubprocessError, RuntimeError) as e:
        return None, _reason(f"could not install upstream osstorchconnector {VERSION} into {VENV}: {e}")
    problem = probe(py)
    if problem is not None:
        return None, _reason(problem)
    REASON_FILE.unlink(missing_ok=True)
    return str(py), None


def _reason(text: str) -> str:
    try:
        REASON_FILE.parent.mkdir(parents=True, exist_ok=True)
        REASON_FILE.write_text(text + "\n")
    except OSError:
        pass
    return text


def recorded_reason() -> Optional[str]:
    """Why the last `venv` could not install upstream, if it could not."""
    try:
        return REASON_FILE.read_text().strip() or None
    except OSError:
        return None


# ---------------------------------------------------------------- the mount namespace

_can_unshare: Optional[Tuple[bool, str]] = None


def can_unshare() -> Tuple[bool, str]:
    """(True, "") if a private mount namespace with bind mounts works here;
    else (False, why). OSSTORCH_NO_NAMESPACE=1 says no (to try the fallback)."""
    global _can_unshare
    if _can_unshare is None:
        unshare = shutil.which("unshare")
        if os.environ.get("OSSTORCH_NO_NAMESPACE") == "1":
            _can_unshare = (False, "OSSTORCH_NO_NAMESPACE=1")
        elif unshare is None:
            _can_unshare = (False, "unshare(1) not found")
        else:
            try:
                r = subprocess.run(
                    [
                        unshare,
                        "--mount",
                        "--propagation",
                        "private",
                        "/bin/sh",
                        "-c",
                        "mount --bind /etc/hosts /etc/hosts && mount -t tmpfs tmpfs /mnt",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=30,
                )
                _can_unshare = (r.returncode == 0, (r.stderr or r.stdout).strip()[-300:])
            except (OSError, subprocess.SubprocessError) as e:
                _can_unshare = (False, str(e))
    return _can_unshare


def hosts_text(buckets: Iterable[str], host: str = HOST) -> str:
    names = " ".join([host] + [f"{b}.{host}" for b in buckets])
    return f"127.0.0.1 {names}  # osstorchconnector: upstream reaches the local server\n"


class Sandbox:
    """A command prefix that runs the rest of argv in a private mount
    namespace where /etc/hosts also maps oss-local.test (and
    BUCKET.oss-local.test) to 127.0.0.1, `files` are at their paths
    (content: bytes or str) and `private_dirs` are empty tmpfs (or new)
    directories. A file that exists is covered by a bind mount; one that
    does not is created inside an overlay of its nearest existing parent
    directory (upper layer in our temporary folder). Use as a context
    manager, or close(): the temporary folder goes then.

        with Sandbox(["bkt"], files={"/root/.alibabacloud/credentials": b"{...}"}) as sb:
            subprocess.run(sb.prefix() + [python, "snippet.py"])
    """

    def __init__(
        self,
        buckets: Iterable[str] = (),
        files: Optional[Dict[str, Union[bytes, str]]] = None,
        private_dirs: Sequence[str] = UPSTREAM_DIRS,
        hosts: bool = True,
    ) -> None:
        self.buckets, self.files, self.private_dirs, self.hosts = list(buckets), dict(files or {}), private_dirs, hosts
        self.tmp = tempfile.mkdtemp(prefix="osstorch-ns-")
        self._script = self._build()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _build(self) -> str:
        q = shlex.quote
        lines = ["set -e"]
        overlays: List[str] = []

        def overlay_for(path: str) -> None:
            """Overlay the nearest existing ancestor of path (once)."""
            anc = os.path.dirname(path)
            while anc != "/" and not os.path.isdir(anc):
                anc = os.path.dirname(anc)
            anc = os.path.realpath(anc)
            if anc == "/":
                raise ValueError(f"cannot place {path}: it would need an overlay of /")
            if any(anc == o or anc.startswith(o + "/") for o in overlays):
                return
            n = len(overlays)
            up, work = os.path.join(self.tmp, f"ov{n}", "u"), os.path.join(self.tmp, f"ov{n}", "w")
            os.makedirs(up)
            os.makedirs(work)
            overlays.append(anc)
            lines.append(f"mount -t overlay overlay -o lowerdir={anc},upperdir={up},workdir={work} {q(anc)}")

        binds: List[str] = []
        for d in self.private_dirs:
            if os.path.isdir(d):
                binds.append(f"mount -t tmpfs -o mode=0755 tmpfs {q(d)}")
            else:
                overlay_for(d)
                binds.append(f"mkdir -p {q(d)}")
        for i, (path, content) in enumerate(self.files.items()):
            src = os.path.join(self.tmp, f"file{i}")
            with open(src, "wb") as f:
                f.write(content.encode() if isinstance(content, str) else content)
            os.chmod(src, 0o600)
            if os.path.isfile(path):
                binds.append(f"mount --bind {q(src)} {q(path)}")
            else:
                overlay_for(path)
                binds.append(f"mkdir -p {q(os.path.dirname(path))} && cp -p {q(src)} {q(path)}")
        if self.hosts:
            hosts = os.path.join(self.tmp, "hosts")
            try:
                with open("/etc/hosts") as f:
                    base = f.read()
            except OSError:
                base = "127.0.0.1 localhost\n"
            with open(hosts, "w") as f:
                f.write(base + ("" if base.endswith("\n") or not base else "\n") + hosts_text(self.buckets))
            os.chmod(hosts, 0o644)
            binds.append(f"mount --bind {q(hosts)} /etc/hosts")
        # overlays first (they would hide binds below them), then the rest
        return "\n".join(lines + binds + ['exec "$@"'])

    def prefix(self) -> List[str]:
        return [
            shutil.which("unshare") or "unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/sh",
            "-c",
            self._script,
            "osstorch-sandbox",
        ]


# ---------------------------------------------------------------- without a namespace


def undo(plan: List[dict]) -> None:
    """Carry out an undo plan of RealChanges, last step first."""
    for step in reversed(plan):
        try:
            if step["op"] == "unlink":
                os.unlink(step["path"])
            elif step["op"] == "rmdir":
                os.rmdir(step["path"])
            elif step["op"] == "hosts":
                with open(step["path"], "r+b") as f:
                    now = f.read()
                    line = step["line"].encode()
                    if line in now:
                        f.seek(0)
                        f.write(now.replace(line, b"", 1))
                        f.truncate()
        except OSError:
            pass


def _guardian() -> None:
    """The guardian process: reads the plan from stdin; if the pipe closes
    without a "done" (our parent was killed), undoes it."""
    plan = []
    for line in sys.stdin:
        msg = json.loads(line)
        if msg == "done":
            return
        plan.append(msg)
    undo(plan)


_GUARDIAN = f"import sys; sys.path.insert(0, {str(pathlib.Path(__file__).resolve().parent)!r}); import upstream; upstream._guardian()"


class RealChanges:
    """The fallback where no mount namespace can be had: the same effects
    as :class:`Sandbox`, on the real files, undone at the end.

    * /etc/hosts gets one line (written in place: /etc/hosts is often a
      bind mount that a rename would not reach), removed again.
    * each of `files` is created only where no file exists (else
      FileExistsError: a real credentials or config file is never
      overwritten), then removed with the directories made for it.

    Undone by close() / the context manager, at interpreter exit (SIGTERM
    must be turned into SystemExit by the caller, as pytest and the bench
    do), and otherwise — the process killed — by a guardian process that
    reads the undo plan from a pipe and carries it out when the pipe closes
    without a "done"."""

    HOSTS = "/etc/hosts"

    def __init__(
        self, buckets: Iterable[str] = (), files: Optional[Dict[str, Union[bytes, str]]] = None, hosts: bool = True
    ) -> None:
        self._plan: List[dict] = []
        self._guard = subprocess.Popen(
            [sys.executable, "-c", _GUARDIAN], stdin=subprocess.PIPE, text=True, start_new_session=True
        )
        atexit.register(self.close)
        try:
            for path in files or {}:
                if os.path.lexists(path):
                    raise FileExistsError(f"{path} exists: not overwritten")
            if hosts:
                self._add_hosts_line(hosts_text(buckets).replace("\n", " (removed when it ends)\n"))
            for path, content in (files or {}).items():
                self._create(path, content)
        except BaseException:
            self.close()
            raise

    def _note(self, step: dict) -> None:
        self._plan.append(step)
        self._guard.stdin.write(json.dumps(step) + "\n")
        self._guard.stdin.flush()

    def _add_hosts_line(self, line: str) -> None:
        path = self.HOSTS
        with open(path, "rb") as f:
            original = f.read()
        sep = b"" if not original or original.endswith(b"\n") else b"\n"
        self._note({"op": "hosts", "path": path, "line": (sep.decode() + line)})
        with open(path, "r+b") as f:
            f.seek(0)
            f.write(original + sep + line.encode())
            f.truncate()

    def _create(self, path: str, content: Union[bytes, str]) -> None:
        missing = []
        d = os.path.dirname(path)
        while not os.path.isdir(d):
            missing.append(d)
            d = os.path.dirname(d)
        for d in reversed(missing):
            self._note({"op": "rmdir", "path": d})
            os.mkdir(d)
        self._note({"op": "unlink", "path": path})
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)

    def __enter__(self) -> "RealChanges":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        plan, self._plan = self._plan, []
        undo(plan)
        if self._guard is not None:
            g, self._guard = self._guard, None
            try:
                g.stdin.write('"done"\n')
                g.stdin.close()
                g.wait(10)
            except (OSError, subprocess.SubprocessError):
                pass

    def prefix(self) -> List[str]:
        return []


def environment(
    buckets: Iterable[str] = (), files: Optional[Dict[str, Union[bytes, str]]] = None, allow_real: bool = True
):
    """A Sandbox where a mount namespace can be had, else (allow_real)
    RealChanges; both have prefix() and close()."""
    ok, why = can_unshare()
    if ok:
        return Sandbox(buckets, files)
    if not allow_real:
        raise RuntimeError(f"no private mount namespace ({why})")
    return RealChanges(buckets, files)


# ---------------------------------------------------------------- command line


def main(argv: Optional[Sequence[str]] = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["venv", "check"])
    ap.add_argument("--strict", action="store_true", help="exit 1 when upstream cannot be installed")
    a = ap.parse_args(argv)
    if a.what == "venv":
        py, reason = ensure_venv()
        if py:
            _log(f"{py}: osstorchconnector {VERSION} ready")
            return 0
        _log(f"NOT AVAILABLE: {reason} (the compatibility suite will skip; `make bench` needs --no-upstream)")
        return 1 if a.strict else 0
    py, reason = ensure_venv(install=False)
    ok, why = can_unshare()
    print(json.dumps({"python": py, "reason": reason, "namespace": ok, "namespace_reason": why}))
    return 0 if py else 1


if __name__ == "__main__":
    sys.exit(main())
