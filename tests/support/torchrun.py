"""Running a script of tests/support as the ranks of a torchrun job on
this machine (the multi-rank tests: DCP, one listing per job)."""

import os
import pathlib
import signal
import subprocess
import sys

import pytest

import osstorchconnector
from support.paths import SUPPORT


def torchrun(script: str, args, nproc: int, timeout: float) -> str:
    """Run tests/support/<script> with args under torchrun --standalone
    with nproc ranks; its output. Fails the test if it exits non-zero or
    runs past timeout (the launcher and its ranks are killed together)."""
    env = dict(
        os.environ,
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(
            p
            for p in [str(pathlib.Path(osstorchconnector.__file__).parent.parent), os.environ.get("PYTHONPATH", "")]
            if p
        ),
    )
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(nproc),
        str(SUPPORT / script),
        *map(str, args),
    ]
    # own session: on timeout the launcher and its ranks go together
    p = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        pytest.fail("torchrun timed out:\n" + out[-5000:])
    assert p.returncode == 0, out[-8000:]
    return out
