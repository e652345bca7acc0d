"""`python -m build` makes a wheel that installs and works without Go."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from support.paths import REPO

SMOKE = r"""
import os, shutil
assert shutil.which("go") is None, "go must not be reachable here"
import osstorchconnector
from osstorchconnector import _native
from osstorchconnector.testing import LocalOssServer
assert _native.PRIMARY.is_relative_to(os.path.dirname(osstorchconnector.__file__))
with LocalOssServer(["wheel-bucket"]) as s:
    s.put_object("wheel-bucket", "k/v.txt", b"from the wheel")
    c = _native.NativeClient(dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region))
    assert [o["key"] for o in c.list("wheel-bucket")] == ["k/v.txt"]
    assert c.get("wheel-bucket", "k/v.txt") == b"from the wheel"
print("wheel ok", osstorchconnector.__version__)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_wheel_installs_and_works_without_go(tmp_path):
    if shutil.which("go") is None:
        pytest.skip("building the wheel needs Go")
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist)]
    if (
        shutil.which("uv")
        or subprocess.run([sys.executable, "-m", "uv", "--version"], capture_output=True).returncode == 0
    ):
        build.append("--installer=uv")
    res = subprocess.run(build + [str(REPO)], timeout=800, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    wheels = list(dist.glob("*.whl"))
    assert len(wheels) == 1
    name = wheels[0].name
    assert name.endswith("-py3-none-linux_x86_64.whl") or "-py3-none-" in name, name
    members = zipfile.ZipFile(wheels[0]).namelist()
    for need in (
        "osstorchconnector/_lib/libosstorch.so",
        "osstorchconnector/_lib/libosstorch_fork.so",
        "osstorchconnector/_bin/ossemu",
        "osstorchconnector/py.typed",
        "osstorchconnector/integrations/ultralytics.py",
        "osstorchconnector/integrations/mmdet.py",
    ):
        assert need in members, need

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = str(venv / "bin" / "python")
    # without dependencies (torch is not needed for this check), then run without Go on PATH; never with the
    # caller's PYTHONPATH: a source tree on it (with the egg-info the build leaves there) makes pip think the
    # wheel is installed already, and the smoke would import the source tree instead of the wheel
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheels[0])],
        check=True,
        timeout=300,
        env=dict(clean, PIP_DISABLE_PIP_VERSION_CHECK="1"),
    )
    env = dict(clean, PATH="/usr/bin:/bin")
    out = subprocess.run([py, "-c", SMOKE], capture_output=True, text=True, timeout=120, env=env, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("wheel ok")
