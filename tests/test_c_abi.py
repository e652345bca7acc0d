"""A C program compiled against include/osstorch.h and the packaged library:
list, read, and the error paths of the C ABI."""
import os
import shutil
import subprocess

import pytest

from osstorchconnector import _native

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_program_lists_reads_and_gets_errors(oss_module, tmp_path):
    oss_module.put_object("test-bucket", "c/hello.txt", b"hello from C")
    exe = tmp_path / "abi_smoke"
    libdir = str(_native.PRIMARY.parent)
    subprocess.run(["cc", "-Wall", "-Werror", "-o", str(exe), os.path.join(ROOT, "tests", "c", "abi_smoke.c"),
                    "-I", os.path.join(ROOT, "include"), "-L", libdir, "-l:libosstorch.so", f"-Wl,-rpath,{libdir}"],
                   check=True, timeout=120)
    out = subprocess.run([str(exe), oss_module.endpoint, oss_module.cred_path, oss_module.region, "test-bucket",
                          "c/hello.txt", "hello from C"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
