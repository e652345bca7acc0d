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


def _compile(tmp_path, name):
    exe = tmp_path / name
    libdir = str(_native.PRIMARY.parent)
    subprocess.run(["cc", "-Wall", "-Werror", "-g", "-o", str(exe), os.path.join(ROOT, "tests", "c", f"{name}.c"),
                    "-I", os.path.join(ROOT, "include"), "-L", libdir, "-l:libosstorch.so", f"-Wl,-rpath,{libdir}"],
                   check=True, timeout=120)
    return exe


def _leak_args(srv, tmp_path, bucket):
    import tarfile
    src = tmp_path / "members"
    src.mkdir()
    for i in range(3):
        (src / f"m{i}.bin").write_bytes(os.urandom(3000 + i))
    tar = tmp_path / "a.tar"
    with tarfile.open(tar, "w") as t:
        t.add(src, arcname="members")
    srv.create_bucket(bucket)
    return [srv.endpoint, srv.cred_path, srv.region, bucket, str(tar)]


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_abi_call_patterns_leave_no_handles_or_goroutines(oss_module, tmp_path):
    exe = _compile(tmp_path, "abi_leak")
    out = subprocess.run([str(exe), *_leak_args(oss_module, tmp_path, "leak-a"), "30"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().endswith("ok")
    assert out.stdout.count("iterations") == 6


def _valgrind_summary(text):
    import re
    found = {}
    for kind in ("definitely lost", "indirectly lost", "possibly lost", "still reachable"):
        m = re.search(kind + r": ([\d,]+) bytes in ([\d,]+) blocks", text)
        found[kind] = int(m.group(1).replace(",", "")) if m else 0
    assert "LEAK SUMMARY" in text or "All heap blocks were freed" in text, text[-3000:]
    return found


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("valgrind") is None, reason="needs cc and valgrind")
def test_c_abi_under_valgrind_loses_nothing_per_call(oss_module, tmp_path):
    """Every call pattern once, then five times, under valgrind's leak
    checker: nothing lost, and what is still allocated at exit does not grow
    with the number of calls (the Go runtime's per-thread memory is
    suppressed: the scheduler starts threads as it likes)."""
    exe = _compile(tmp_path, "abi_leak")
    args = _leak_args(oss_module, tmp_path, "leak-b")
    supp = os.path.join(ROOT, "tests", "c", "go-runtime.supp")
    sums = []
    for n in ("1", "5"):
        out = subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=all", f"--suppressions={supp}",
                              str(exe), *args, n], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr[-3000:]
        sums.append(_valgrind_summary(out.stderr))
    for s in sums:
        assert s["definitely lost"] == 0 and s["indirectly lost"] == 0 and s["possibly lost"] == 0, sums
    assert sums[0]["still reachable"] == sums[1]["still reachable"], sums
