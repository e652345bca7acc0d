"""A C program compiled against include/osstorch.h and the packaged library:
list, read, and the error paths of the C ABI."""

import ctypes
import json
import os
import shutil
import struct
import subprocess

import pytest

from osstorchconnector import _native
from support.paths import INCLUDE

C_SOURCES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c")


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_c_program_lists_reads_and_gets_errors(oss_module, tmp_path):
    oss_module.put_object("test-bucket", "c/hello.txt", b"hello from C")
    exe = tmp_path / "abi_smoke"
    libdir = str(_native.PRIMARY.parent)
    subprocess.run(
        [
            "cc",
            "-Wall",
            "-Werror",
            "-o",
            str(exe),
            os.path.join(C_SOURCES, "abi_smoke.c"),
            "-I",
            str(INCLUDE),
            "-L",
            libdir,
            "-l:libosstorch.so",
            f"-Wl,-rpath,{libdir}",
        ],
        check=True,
        timeout=120,
    )
    out = subprocess.run(
        [
            str(exe),
            oss_module.endpoint,
            oss_module.cred_path,
            oss_module.region,
            "test-bucket",
            "c/hello.txt",
            "hello from C",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _compile(tmp_path, name):
    exe = tmp_path / name
    libdir = str(_native.PRIMARY.parent)
    subprocess.run(
        [
            "cc",
            "-Wall",
            "-Werror",
            "-g",
            "-o",
            str(exe),
            os.path.join(C_SOURCES, f"{name}.c"),
            "-I",
            str(INCLUDE),
            "-L",
            libdir,
            "-l:libosstorch.so",
            f"-Wl,-rpath,{libdir}",
        ],
        check=True,
        timeout=120,
    )
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
    out = subprocess.run(
        [str(exe), *_leak_args(oss_module, tmp_path, "leak-a"), "30"], capture_output=True, text=True, timeout=300
    )
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
    supp = os.path.join(C_SOURCES, "go-runtime.supp")
    sums = []
    for n in ("1", "5"):
        out = subprocess.run(
            ["valgrind", "--leak-check=full", "--show-leak-kinds=all", f"--suppressions={supp}", str(exe), *args, n],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stdout + out.stderr[-3000:]
        sums.append(_valgrind_summary(out.stderr))
    for s in sums:
        assert s["definitely lost"] == 0 and s["indirectly lost"] == 0 and s["possibly lost"] == 0, sums
    assert sums[0]["still reachable"] == sums[1]["still reachable"], sums


# ---- packed batches, through ctypes (layouts in include/osstorch.h) ----

_u64p = ctypes.POINTER(ctypes.c_uint64)
_vpp = ctypes.POINTER(ctypes.c_void_p)


def _packed_lib():
    """A ctypes view of the packaged library with the packed exports declared
    from the header's signatures, and libc's free (which a forked child uses
    instead of ost_free)."""
    dll = ctypes.CDLL(str(_native.PRIMARY))
    sz, i32, vp = ctypes.c_size_t, ctypes.c_int32, ctypes.c_void_p
    for name, args in {
        "ost_client_new": [ctypes.c_char_p, _u64p, _vpp],
        "ost_client_free": [ctypes.c_uint64],
        "ost_prefetch_open": [ctypes.c_uint64, ctypes.c_char_p, _u64p, _vpp],
        "ost_prefetch_next_batch": [ctypes.c_uint64, i32, _vpp, ctypes.POINTER(sz), ctypes.POINTER(i32), _vpp],
        "ost_prefetch_close": [ctypes.c_uint64],
        "ost_batch_get_packed": [ctypes.c_uint64, vp, sz, _vpp, ctypes.POINTER(sz), _vpp],
    }.items():
        getattr(dll, name).argtypes, getattr(dll, name).restype = args, i32
    dll.ost_free.argtypes, dll.ost_free.restype = [vp], None
    libc = ctypes.CDLL(None)
    libc.free.argtypes, libc.free.restype = [vp], None
    return dll, libc


def _decode_and_free(dll, libc, batch, n):
    """Decode a packed results buffer into (index, bucket, key, body or error
    dict) tuples, freeing every body with libc's free and the buffer with
    ost_free."""
    raw = ctypes.string_at(batch, n)
    magic, count = struct.unpack_from("<II", raw, 0)
    assert magic == 0x3142534F and raw[:4] == b"OSB1"
    at = 8 + 40 * count
    out = []
    for i in range(count):
        index, ptr, blen, bl, kl, el, flags = struct.unpack_from("<QQQIIII", raw, 8 + 40 * i)
        bucket, key, err = (
            raw[at : at + bl].decode(),
            raw[at + bl : at + bl + kl].decode(),
            raw[at + bl + kl : at + bl + kl + el],
        )
        at += bl + kl + el
        if el:
            assert flags == 1 and ptr == 0 and blen == 0
            out.append((index, bucket, key, json.loads(err)))
            continue
        assert flags == 0 and (ptr == 0) == (blen == 0)
        body = ctypes.string_at(ptr, blen) if blen else b""
        libc.free(ptr)
        out.append((index, bucket, key, body))
    assert at == len(raw)
    dll.ost_free(batch)
    return out


def _packed_client(dll, srv):
    h, err = ctypes.c_uint64(), ctypes.c_void_p()
    opts = json.dumps({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region}).encode()
    assert dll.ost_client_new(opts, ctypes.byref(h), ctypes.byref(err)) == 0
    return h.value


def test_prefetch_next_batch_hands_over_packed_records_and_bodies(oss_module):
    want = {f"pk/{i:03d}": os.urandom(100 + 37 * i) for i in range(40)}
    want["pk/zz-empty"] = b""
    for k, v in want.items():
        oss_module.put_object("test-bucket", k, v)
    dll, libc = _packed_lib()
    client = _packed_client(dll, oss_module)
    try:
        p, err = ctypes.c_uint64(), ctypes.c_void_p()
        opts = json.dumps({"bucket": "test-bucket", "prefix": "pk/", "concurrency": 8}).encode()
        assert dll.ost_prefetch_open(client, opts, ctypes.byref(p), ctypes.byref(err)) == 0
        keys = sorted(want)
        got, sizes = {}, []
        batch, n, done = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int32()
        while True:
            assert (
                dll.ost_prefetch_next_batch(
                    p.value, 5, ctypes.byref(batch), ctypes.byref(n), ctypes.byref(done), ctypes.byref(err)
                )
                == 0
            )
            if done.value:
                break
            recs = _decode_and_free(dll, libc, batch, n.value)
            assert 1 <= len(recs) <= 5
            sizes.append(len(recs))
            for index, bucket, key, body in recs:
                assert bucket == "test-bucket" and keys[index] == key and key not in got
                got[key] = body
        assert got == want
        # invalid max_items is a clear error, not a hang
        assert (
            dll.ost_prefetch_next_batch(
                p.value, 0, ctypes.byref(batch), ctypes.byref(n), ctypes.byref(done), ctypes.byref(err)
            )
            == 2
        )
        assert json.loads(ctypes.string_at(err.value))["kind"] == "invalid"
        dll.ost_free(err)
        assert dll.ost_prefetch_close(p.value) == 0
    finally:
        dll.ost_client_free(client)


def test_batch_get_packed_answers_each_item_in_order(oss_module):
    oss_module.put_object("test-bucket", "pb/a", b"alpha")
    oss_module.put_object("test-bucket", "pb/b", b"bravo!")
    items = [("test-bucket", "pb/a", 5), ("test-bucket", "pb/missing", 0), ("test-bucket", "pb/b", 0)]
    head = struct.pack("<II", 0x3149534F, len(items))
    recs = b"".join(struct.pack("<IIq", len(b), len(k), s) for b, k, s in items)
    strings = b"".join(b.encode() + k.encode() for b, k, _ in items)
    buf = ctypes.create_string_buffer(head + recs + strings, len(head + recs + strings))
    dll, libc = _packed_lib()
    client = _packed_client(dll, oss_module)
    try:
        batch, n, err = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p()
        assert (
            dll.ost_batch_get_packed(client, buf, len(buf), ctypes.byref(batch), ctypes.byref(n), ctypes.byref(err))
            == 0
        )
        out = _decode_and_free(dll, libc, batch, n.value)
        assert [(i, b, k) for i, b, k, _ in out] == [
            (0, "test-bucket", "pb/a"),
            (1, "test-bucket", "pb/missing"),
            (2, "test-bucket", "pb/b"),
        ]
        assert out[0][3] == b"alpha" and out[2][3] == b"bravo!"
        assert out[1][3]["kind"] == "not_found"
        # a damaged items buffer is refused with details
        assert (
            dll.ost_batch_get_packed(client, buf, len(buf) - 1, ctypes.byref(batch), ctypes.byref(n), ctypes.byref(err))
            == 2
        )
        assert "items" in json.loads(ctypes.string_at(err.value))["message"]
        dll.ost_free(err)
    finally:
        dll.ost_client_free(client)
