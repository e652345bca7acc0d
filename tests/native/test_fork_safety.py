"""The Go core under fork, spawn and forkserver (docs/fork-safety.md).

A forked child that calls into the Go runtime it inherited hangs on its first
real call; the loader in osstorchconnector._native.loader must give each forked
process a fresh copy of the library. These tests fail (as hangs, bounded by a
deadline) if the pid check or the fresh copy is missing.
"""

import json
import os
import subprocess
import sys

import pytest

from support.paths import SUPPORT

BUCKET = "test-bucket"


@pytest.fixture(scope="module")
def populated(oss_module):
    for i in range(5):
        oss_module.put_object(BUCKET, f"fork/{i}.bin", os.urandom(1000 + i * 333))
    return oss_module


def run_trials(srv, method, trials, children=4):
    out = subprocess.run(
        [
            sys.executable,
            str(SUPPORT / "fork_trials.py"),
            method,
            str(trials),
            str(children),
            srv.endpoint,
            srv.cred_path,
            srv.region,
            BUCKET,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_fifty_trials_of_four_children_never_hang(populated, method):
    tally = run_trials(populated, method, trials=50)
    assert tally["children"] == 200
    assert tally["hangs"] == 0, tally
    assert tally["errors"] == [], tally
    assert tally["wrong"] == 0, tally
    assert tally["ok"] == 200, tally
    assert tally["parent_ok_after"], tally
    if method == "fork":
        # every forked child inherited a live runtime and must have loaded the sibling copy
        assert tally["sources"] == {"libosstorch_fork.so": 200}, tally
    else:
        # spawned/forkserver children never inherit a runtime: they load the primary
        assert tally["sources"] == {"libosstorch.so": 200}, tally


GRANDCHILD = r"""
import os, sys
from osstorchconnector import _native
opts = dict(endpoint=sys.argv[1], cred_path=sys.argv[2], region=sys.argv[3])
c = _native.NativeClient(opts)
assert c.list("test-bucket")
r, w = os.pipe()
pid = os.fork()
if pid == 0:                                  # child: gets the fork copy
    os.close(r)
    c2 = _native.NativeClient(opts)
    n = len(c2.list("test-bucket"))
    pid2 = os.fork()
    if pid2 == 0:                             # grandchild: both files used by ancestors -> memfd
        n2 = len(_native.NativeClient(opts).list("test-bucket"))
        os.write(w, f"grandchild {_native.library_source()} {n2}\n".encode())
        os._exit(0)
    os.waitpid(pid2, 0)
    os.write(w, f"child {os.path.basename(_native.library_source())} {n}\n".encode())
    os._exit(0)
os.close(w)
os.waitpid(pid, 0)
print(os.read(r, 4096).decode(), end="")
"""


@pytest.mark.timeout(120)
def test_grandchild_loads_a_memfd_copy(populated):
    out = subprocess.run(
        [sys.executable, "-c", GRANDCHILD, populated.endpoint, populated.cred_path, populated.region],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = sorted(out.stdout.split("\n")[:2])
    assert lines == ["child libosstorch_fork.so 5", "grandchild memfd 5"], out.stdout


NO_COPY = r"""
import os, pathlib, sys
from osstorchconnector import _native
opts = dict(endpoint=sys.argv[1], cred_path=sys.argv[2], region=sys.argv[3])
_native.NativeClient(opts).list("test-bucket")
pid = os.fork()
if pid == 0:
    _native.loader.FORK_COPY = pathlib.Path("/nonexistent/libosstorch_fork.so")
    del os.memfd_create                      # no way to get a fresh runtime
    try:
        _native.NativeClient(opts).list("test-bucket")
        os._exit(3)
    except RuntimeError as e:
        ok = "multiprocessing_context=\"spawn\"" in str(e) and "forkserver" in str(e)
        os._exit(0 if ok else 4)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.timeout(120)
def test_without_a_fresh_copy_the_child_gets_a_clear_error_not_a_hang(populated):
    out = subprocess.run(
        [sys.executable, "-c", NO_COPY, populated.endpoint, populated.cred_path, populated.region],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, (out.returncode, out.stderr)


def test_import_does_not_load_the_core():
    code = "import osstorchconnector, osstorchconnector.testing; from osstorchconnector import _native; print(_native.loaded_in_this_process())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_the_two_shipped_copies_differ():
    from osstorchconnector import _native

    a, b = _native.PRIMARY.read_bytes(), _native.FORK_COPY.read_bytes()
    assert a != b
    assert os.stat(_native.PRIMARY).st_ino != os.stat(_native.FORK_COPY).st_ino
