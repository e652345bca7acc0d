"""The one door to the Go core (libosstorch.so), via ctypes.

Fork safety (see the design note in the repository, design/fork-safety.md):
a Go runtime does not survive fork(). A forked child that calls into the
runtime it inherited hangs on its first real call. So:

* the library is loaded lazily, on first use, never at import;
* every entry point compares os.getpid() with the pid that loaded the library;
* a process that inherited a loaded library (a forked DataLoader worker)
  loads a *fresh copy* instead: first the byte-different sibling
  libosstorch_fork.so shipped in the package, then, if that one was already
  used by an ancestor, a copy in a memfd; it checks that the new handle is
  not one it inherited;
* handles created by another process are never used nor freed.

If no fresh copy can be loaded, a RuntimeError tells the user to use
DataLoader(multiprocessing_context="spawn") or "forkserver".
"""
from __future__ import annotations

import ctypes
import json
import os
import pathlib
import sys
import threading
import weakref
from typing import Any, Dict, List, Optional, Tuple, Union

from .errors import OssInternalError, error_from_details

_PKG = pathlib.Path(__file__).resolve().parent
PRIMARY = _PKG / "_lib" / "libosstorch.so"
FORK_COPY = _PKG / "_lib" / "libosstorch_fork.so"

OK = 0
_u64 = ctypes.c_uint64
_charpp = ctypes.POINTER(ctypes.c_void_p)


_c = ctypes
_sz = ctypes.c_size_t
_i32 = ctypes.c_int32
_i64 = ctypes.c_int64
_cp = ctypes.c_char_p
_vp = ctypes.c_void_p
_P = ctypes.POINTER

# name -> (restype, argtypes), as in include/osstorch.h
_SIGNATURES = {
    "ost_version": (_cp, []),
    "ost_build_flavor": (_cp, []),
    "ost_free": (None, [_vp]),
    "ost_runtime_stats": (_vp, []),
    "ost_client_new": (_i32, [_cp, _P(_u64), _charpp]),
    "ost_client_free": (_i32, [_u64]),
    "ost_client_config": (_i32, [_u64, _charpp, _charpp]),
    "ost_list": (_i32, [_u64, _cp, _cp, _charpp, _P(_sz), _charpp]),
    "ost_list_packed": (_i32, [_u64, _cp, _cp, _charpp, _P(_sz), _charpp]),
    "ost_get": (_i32, [_u64, _cp, _cp, _charpp, _P(_sz), _charpp]),
    "ost_stat": (_i32, [_u64, _cp, _cp, _charpp, _charpp]),
    "ost_has_prefix": (_i32, [_u64, _cp, _cp, _P(_i32), _charpp]),
    "ost_remove": (_i32, [_u64, _cp, _cp, _charpp]),
    "ost_rename": (_i32, [_u64, _cp, _cp, _cp, _cp, _charpp]),
    "ost_put": (_i32, [_u64, _cp, _cp, _vp, _sz, _charpp]),
    "ost_read_range": (_i32, [_u64, _cp, _cp, _i64, _vp, _sz, _P(_sz), _charpp]),
    "ost_reader_open": (_i32, [_u64, _cp, _cp, _P(_u64), _P(_i64), _charpp]),
    "ost_reader_read_at": (_i32, [_u64, _i64, _vp, _sz, _P(_sz), _charpp]),
    "ost_reader_close": (_i32, [_u64]),
    "ost_batch_get": (_i32, [_u64, _cp, _charpp, _P(_sz), _charpp, _charpp]),
    "ost_prefetch_open": (_i32, [_u64, _cp, _P(_u64), _charpp]),
    "ost_prefetch_next": (_i32, [_u64, _charpp, _charpp, _P(_sz), _P(_i32), _charpp]),
    "ost_prefetch_close": (_i32, [_u64]),
    "ost_writer_open": (_i32, [_u64, _cp, _cp, _cp, _P(_u64), _charpp]),
    "ost_writer_write": (_i32, [_u64, _vp, _sz, _charpp]),
    "ost_writer_close": (_i32, [_u64, _charpp]),
    "ost_writer_abort": (_i32, [_u64]),
    "ost_set_credentials_callback": (_i32, [_vp]),
    "ost_parse_uri": (_i32, [_cp, _charpp, _charpp, _charpp]),
    "ost_tar_index_build": (_i32, [_u64, _cp, _cp, _charpp, _P(_sz), _charpp, _P(_sz), _charpp]),
    "ost_tar_open": (_i32, [_u64, _cp, _cp, _cp, _cp, _P(_u64), _charpp, _charpp]),
    "ost_tar_read": (_i32, [_u64, _cp, _charpp, _P(_sz), _charpp, _charpp]),
    "ost_tar_close": (_i32, [_u64]),
    "ost_tar_index_from_file": (_i32, [_cp, _charpp, _P(_sz), _charpp, _P(_sz), _charpp]),
}

# ---- cred_provider: credentials asked for by the core through a callback ----

_CRED_FN = ctypes.CFUNCTYPE(_i32, _u64, ctypes.c_void_p, _sz, _P(_sz))
_providers: Dict[int, Any] = {}
_providers_lock = threading.Lock()
_next_token = [0]


def register_provider(provider: Any) -> int:
    """Keep provider reachable from the core; returns its token."""
    with _providers_lock:
        _next_token[0] += 1
        _providers[_next_token[0]] = provider
        return _next_token[0]


def _credentials_json(provider: Any) -> bytes:
    """Ask an oss2-style provider (get_credentials() returning an object with
    get_access_key_id()/... or access_key_id/... attributes, or a dict)."""
    cred = provider.get_credentials() if hasattr(provider, "get_credentials") else provider()

    def field(getter: str, attr: str, key: str) -> Optional[str]:
        if isinstance(cred, dict):
            return cred.get(key)
        if hasattr(cred, getter):
            return getattr(cred, getter)()
        return getattr(cred, attr, None)

    out = {"AccessKeyId": field("get_access_key_id", "access_key_id", "AccessKeyId") or "",
           "AccessKeySecret": field("get_access_key_secret", "access_key_secret", "AccessKeySecret") or ""}
    token = field("get_security_token", "security_token", "SecurityToken")
    if token:
        out["SecurityToken"] = token
    exp = field("get_expiration", "expiration", "Expiration")
    if exp:
        out["Expiration"] = exp if isinstance(exp, str) else exp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(out).encode()


def _credentials_callback(token: int, buf: int, cap: int, length) -> int:
    try:
        provider = _providers.get(token)
        if provider is None:
            raw, rc = json.dumps({"error": f"no cred_provider registered for token {token}"}).encode(), 1
        else:
            raw, rc = _credentials_json(provider), 0
    except Exception as e:  # never let an exception cross into Go; its text is the provider's, not a secret of ours
        raw, rc = json.dumps({"error": f"cred_provider raised {type(e).__name__}: {e}"}).encode(), 1
    length[0] = len(raw)
    if len(raw) > cap:
        return 2
    ctypes.memmove(buf, raw, len(raw))
    return rc


_CRED_CALLBACK = _CRED_FN(_credentials_callback)  # kept alive for the life of the process


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    for name, (res, args) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    lib.ost_set_credentials_callback(ctypes.cast(_CRED_CALLBACK, ctypes.c_void_p))
    return lib


class _Loader:
    """Loads the core once per process; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: Optional[ctypes.CDLL] = None
        self._pid: Optional[int] = None
        self.source: Optional[str] = None  # what was loaded in this process: a path or "memfd"
        self._used_paths: set = set()      # library files dlopen'ed here or in an ancestor
        self._dead_handles: set = set()    # dlopen handles inherited from ancestors

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here.
        self._lock = threading.Lock()

    @property
    def pid(self) -> Optional[int]:
        return self._pid

    def get(self) -> ctypes.CDLL:
        lib = self._lib
        if lib is not None and self._pid == os.getpid():
            return lib
        with self._lock:
            if self._lib is not None and self._pid == os.getpid():
                return self._lib
            if self._lib is not None:  # inherited across fork: that runtime is dead here
                self._dead_handles.add(self._lib._handle)
                self._lib = None
            self._lib = self._load_fresh()
            self._pid = os.getpid()
            return self._lib

    def _load_fresh(self) -> ctypes.CDLL:
        if not PRIMARY.exists():
            raise OssInternalError(
                f"the osstorchconnector core is missing ({PRIMARY}); reinstall the package "
                "(building from source needs Go: `pip install .` in a checkout)")
        errors: List[str] = []
        for path in (PRIMARY, FORK_COPY):
            if str(path) in self._used_paths or not path.exists():
                continue
            try:
                lib = ctypes.CDLL(str(path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
            except OSError as e:
                errors.append(f"{path.name}: {e}")
                continue
            self._used_paths.add(str(path))
            if lib._handle in self._dead_handles:  # the loader deduplicated it (same inode)
                errors.append(f"{path.name}: dlopen returned an inherited handle")
                continue
            self.source = str(path)
            return _declare(lib)
        lib = self._load_memfd(errors)
        if lib is not None:
            return lib
        raise RuntimeError(
            "osstorchconnector cannot start its Go core in this forked process ("
            + "; ".join(errors) + "). Use a DataLoader with multiprocessing_context=\"spawn\" "
            "or multiprocessing_context=\"forkserver\".")

    def _load_memfd(self, errors: List[str]) -> Optional[ctypes.CDLL]:
        if not hasattr(os, "memfd_create") or not sys.platform.startswith("linux"):
            errors.append("memfd_create is not available on this platform")
            return None
        try:
            fd = os.memfd_create("libosstorch", 0)
        except OSError as e:
            errors.append(f"memfd_create: {e}")
            return None
        try:
            with open(PRIMARY, "rb") as src:
                size = os.fstat(src.fileno()).st_size
                offset = 0
                while offset < size:
                    sent = os.sendfile(fd, src.fileno(), offset, size - offset)
                    if sent == 0:
                        break
                    offset += sent
            lib = ctypes.CDLL(f"/proc/self/fd/{fd}", mode=os.RTLD_NOW | os.RTLD_LOCAL)
        except OSError as e:
            errors.append(f"memfd copy: {e}")
            return None
        finally:
            os.close(fd)
        if lib._handle in self._dead_handles:
            errors.append("memfd copy: dlopen returned an inherited handle")
            return None
        self.source = "memfd"
        return _declare(lib)


_loader = _Loader()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_loader._after_fork_in_child)


def lib() -> ctypes.CDLL:
    """The core library for this process."""
    return _loader.get()


def loaded_in_this_process() -> bool:
    return _loader._lib is not None and _loader.pid == os.getpid()


def library_source() -> Optional[str]:
    """Which copy of the library this process uses (for tests and diagnostics)."""
    lib()
    return _loader.source


def version() -> str:
    return lib().ost_version().decode()


def build_flavor() -> str:
    return lib().ost_build_flavor().decode()


def runtime_stats() -> dict:
    """The core's goroutines, Go heap and live handles (for soak runs and
    leak checks)."""
    l = lib()
    return json.loads(_take(l, ctypes.c_void_p(l.ost_runtime_stats())))


def _take(l: ctypes.CDLL, p: ctypes.c_void_p, n: Optional[int] = None) -> bytes:
    """Copy a library-allocated buffer into Python and free it."""
    if not p.value:
        return b""
    try:
        return ctypes.string_at(p.value, n) if n is not None else ctypes.string_at(p.value)
    finally:
        l.ost_free(p)


def _raise(l: ctypes.CDLL, status: int, err: ctypes.c_void_p) -> None:
    raw = _take(l, err)
    try:
        details: Dict[str, Any] = json.loads(raw) if raw else {}
    except ValueError:
        details = {"message": raw.decode(errors="replace")}
    if not details:
        details = {"message": f"core returned status {status}", "kind": "internal"}
    raise error_from_details(details)


def _encode(s: str, what: str) -> bytes:
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, not {type(s).__name__}")
    if "\x00" in s:
        raise ValueError(f"{what} must not contain NUL characters")
    return s.encode()


def _call(name: str, *args) -> None:
    """Call a status-returning function whose last argument is char **err."""
    l = lib()
    err = ctypes.c_void_p()
    st = getattr(l, name)(*args, ctypes.byref(err))
    if st != OK:
        _raise(l, st, err)


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer, to reach read-only buffers without copying them."""
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


_PyObject_GetBuffer = ctypes.pythonapi.PyObject_GetBuffer
_PyObject_GetBuffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_PyObject_GetBuffer.restype = ctypes.c_int
_PyBuffer_Release = ctypes.pythonapi.PyBuffer_Release
_PyBuffer_Release.argtypes = [ctypes.POINTER(_PyBuffer)]
_PyBuffer_Release.restype = None


class _PinnedBuffer:
    """A contiguous buffer held (and so kept alive and unmoved) until released."""

    def __init__(self, obj) -> None:
        self._view = _PyBuffer()
        if _PyObject_GetBuffer(obj, ctypes.byref(self._view), 0) != 0:  # PyBUF_SIMPLE: contiguous bytes
            raise BufferError("could not get a contiguous buffer")
        self.address, self.size = self._view.buf, self._view.len

    def __del__(self) -> None:
        if getattr(self, "_view", None) is not None and self._view.buf is not None:
            _PyBuffer_Release(ctypes.byref(self._view))
            self._view.buf = None


def _in_buffer(data) -> Tuple[Any, int, Any]:
    """A pointer to readable bytes, its length, and what must stay alive during
    the call. No copy: torch.save hands over read-only memoryviews of whole
    tensors, and copying them would double the memory of a checkpoint save."""
    if isinstance(data, bytes):
        return ctypes.cast(ctypes.c_char_p(data), ctypes.c_void_p), len(data), data
    mv = memoryview(data)
    if not mv.c_contiguous:
        b = mv.tobytes()  # rare: a strided view must be gathered anyway
        return ctypes.cast(ctypes.c_char_p(b), ctypes.c_void_p), len(b), b
    if mv.nbytes == 0:
        return None, 0, None
    pinned = _PinnedBuffer(mv)
    return pinned.address, pinned.size, pinned


def _out_buffer(buf) -> Tuple[Any, int, Any]:
    """A pointer to a writable buffer the core fills in place."""
    mv = memoryview(buf).cast("B")
    if mv.readonly:
        raise TypeError("buffer must be writable")
    n = mv.nbytes
    if n == 0:
        return None, 0, None
    arr = (ctypes.c_char * n).from_buffer(mv)
    return ctypes.addressof(arr), n, arr


def parse_uri(uri: str) -> Tuple[str, str]:
    """(bucket, key) of an oss:// or /bucket/key URI (ValueError otherwise)."""
    b, k = ctypes.c_void_p(), ctypes.c_void_p()
    _call("ost_parse_uri", _encode(uri, "uri"), ctypes.byref(b), ctypes.byref(k))
    l = lib()
    return _take(l, b).decode(), _take(l, k).decode()


def _two_buffers(fn: str, *args) -> Tuple[bytes, bytes]:
    out, n, out2, n2 = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p(), ctypes.c_size_t()
    _call(fn, *args, ctypes.byref(out), ctypes.byref(n), ctypes.byref(out2), ctypes.byref(n2))
    l = lib()
    return _take(l, out, n.value), _take(l, out2, n2.value)


def tar_index_from_file(path: str) -> Tuple[bytes, bytes]:
    """The index of a local tar file: (upstream's encoding, our checksum file)."""
    return _two_buffers("ost_tar_index_from_file", _encode(os.fspath(path), "path"))


class _Handle:
    """A native handle owned by the process that created it. The finalizer
    frees it only in that process and only while it uses the same library
    copy: a forked child must never touch its parent's handles."""

    _free_fn = ""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        self._pid = os.getpid()
        self._fin = weakref.finalize(self, _free_handle, self._free_fn, self._pid, _loader.source, handle)

    def _h(self) -> int:
        if self._handle is None:
            raise ValueError(f"{type(self).__name__} is closed")
        if self._pid != os.getpid():
            raise RuntimeError(f"{type(self).__name__} was opened in another process (pid {self._pid}); open it again here")
        return self._handle

    def _release(self) -> None:
        self._fin.detach()
        self._handle = None


def _free_handle(fn: str, pid: int, source: Optional[str], handle: int) -> None:
    if os.getpid() == pid and loaded_in_this_process() and _loader.source == source:
        getattr(_loader.get(), fn)(handle)


class NativeReader(_Handle):
    """Random-access reader over one object (see ost_reader_* in osstorch.h)."""

    _free_fn = "ost_reader_close"

    def __init__(self, handle: int, size: int) -> None:
        super().__init__(handle)
        self.size = size

    def read_into(self, offset: int, buf) -> int:
        ptr, n, keep = _out_buffer(buf)
        got = ctypes.c_size_t()
        _call("ost_reader_read_at", self._h(), offset, ptr, n, ctypes.byref(got))
        del keep
        return got.value

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            lib().ost_reader_close(self._handle)
        self._release()


class NativePrefetcher(_Handle):
    """Iterator of (meta, data) for a sharded listing or key list; meta has
    index, bucket, key, size and, for a failed object, error (an OssError)."""

    _free_fn = "ost_prefetch_close"

    def __iter__(self):
        return self

    def __next__(self) -> Tuple[Dict[str, Any], bytes]:
        if self._handle is None:
            raise StopIteration
        l = lib()
        meta, data, n, done = ctypes.c_void_p(), ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int32()
        err = ctypes.c_void_p()
        st = l.ost_prefetch_next(self._h(), ctypes.byref(meta), ctypes.byref(data), ctypes.byref(n), ctypes.byref(done), ctypes.byref(err))
        if st != OK:
            self.close()
            _raise(l, st, err)
        if done.value:
            self.close()
            raise StopIteration
        payload = _take(l, data, n.value)
        m = json.loads(_take(l, meta))
        if "error" in m:
            m["error"] = error_from_details(m["error"])
        return m, payload

    def close(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            lib().ost_prefetch_close(self._handle)
        self._release()


class NativeWriter(_Handle):
    """Streaming writer (see ost_writer_* in osstorch.h)."""

    _free_fn = "ost_writer_abort"

    def write(self, data) -> int:
        ptr, n, keep = _in_buffer(data)
        if n:
            _call("ost_writer_write", self._h(), ptr, n)
        del keep
        return n

    def close(self) -> None:
        """Commit. On error the upload was aborted and nothing is visible."""
        h = self._h()
        self._release()
        _call("ost_writer_close", h)

    def abort(self) -> None:
        if self._handle is not None and self._pid == os.getpid():
            h = self._handle
            self._release()
            lib().ost_writer_abort(h)
        else:
            self._release()


class NativeClient:
    """A client of the core. It holds only plain options, so it pickles, and it
    creates its native handle lazily in each process that uses it."""

    def __init__(self, options: Dict[str, Any], cred_provider: Any = None) -> None:
        self._options = {k: v for k, v in options.items() if v not in (None, "")}
        self._cred_provider = cred_provider
        self._client: Optional[_ClientHandle] = None
        self._hlock = threading.Lock()

    def __getstate__(self):
        return {"_options": self._options, "_cred_provider": self._cred_provider}

    def __setstate__(self, state) -> None:
        self.__init__(state["_options"], state.get("_cred_provider"))

    def __repr__(self) -> str:
        return f"NativeClient(endpoint={self._options.get('endpoint')!r})"

    def _h(self) -> int:
        c = self._client
        if c is not None and c._pid == os.getpid():
            return c._handle
        with self._hlock:
            if self._client is None or self._client._pid != os.getpid():
                out = _u64()
                opts = dict(self._options)
                if self._cred_provider is not None:
                    opts["cred_provider_token"] = register_provider(self._cred_provider)
                _call("ost_client_new", json.dumps(opts).encode(), ctypes.byref(out))
                self._client = _ClientHandle(out.value)
        return self._client._handle

    def check(self) -> None:
        """Validate the options (endpoint, credentials, config) without any request."""
        self._h()

    def config(self) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        _call("ost_client_config", self._h(), ctypes.byref(out))
        return json.loads(_take(lib(), out))

    def list(self, bucket: str, prefix: str = "") -> List[Dict[str, Any]]:
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        _call("ost_list", self._h(), _encode(bucket, "bucket"), _encode(prefix, "prefix"), ctypes.byref(out), ctypes.byref(n))
        return json.loads(_take(lib(), out, n.value))

    def list_packed(self, bucket: str, prefix: str = ""):
        """Every object under prefix as a compact Listing (see _listing.py)."""
        from ._listing import Listing
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        _call("ost_list_packed", self._h(), _encode(bucket, "bucket"), _encode(prefix, "prefix"), ctypes.byref(out), ctypes.byref(n))
        return Listing.from_packed(bucket, _take(lib(), out, n.value))

    def get(self, bucket: str, key: str) -> bytes:
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        _call("ost_get", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), ctypes.byref(out), ctypes.byref(n))
        return _take(lib(), out, n.value)

    def stat(self, bucket: str, key: str) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        _call("ost_stat", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), ctypes.byref(out))
        return json.loads(_take(lib(), out))

    def has_prefix(self, bucket: str, prefix: str) -> bool:
        """Whether any object's key starts with prefix (one request)."""
        found = _i32()
        _call("ost_has_prefix", self._h(), _encode(bucket, "bucket"), _encode(prefix, "prefix"), ctypes.byref(found))
        return bool(found.value)

    def remove(self, bucket: str, key: str) -> None:
        _call("ost_remove", self._h(), _encode(bucket, "bucket"), _encode(key, "key"))

    def rename(self, bucket: str, key: str, new_bucket: str, new_key: str) -> None:
        _call("ost_rename", self._h(), _encode(bucket, "bucket"), _encode(key, "key"),
              _encode(new_bucket, "new_bucket"), _encode(new_key, "new_key"))

    def put(self, bucket: str, key: str, data) -> None:
        ptr, n, keep = _in_buffer(data)
        _call("ost_put", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), ptr, n)
        del keep

    def read_range(self, bucket: str, key: str, offset: int, buf) -> int:
        """Read into buf from offset; returns the bytes read (short only at the end)."""
        if offset < 0:
            raise ValueError("offset must not be negative")
        ptr, n, keep = _out_buffer(buf)
        got = ctypes.c_size_t()
        _call("ost_read_range", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), offset, ptr, n, ctypes.byref(got))
        del keep
        return got.value

    def open_reader(self, bucket: str, key: str) -> NativeReader:
        out, size = _u64(), ctypes.c_int64()
        _call("ost_reader_open", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), ctypes.byref(out), ctypes.byref(size))
        return NativeReader(out.value, size.value)

    def batch_get(self, items: List[Dict[str, Any]]) -> List[Union[bytes, Exception]]:
        """Fetch items concurrently; per item, its bytes or the OssError it failed with."""
        return _packed_results("ost_batch_get", self._h(), json.dumps(list(items)).encode())

    def tar_index_build(self, bucket: str, key: str) -> Tuple[bytes, bytes]:
        """Stream a tar object once and return its index: (upstream's
        encoding, our checksum file to store beside it)."""
        return _two_buffers("ost_tar_index_build", self._h(), _encode(bucket, "bucket"), _encode(key, "key"))

    def open_tar(self, bucket: str, key: str, index_bucket: str, index_key: str) -> "NativeTar":
        """Open bucket/key through the index object index_bucket/index_key."""
        out, members = _u64(), ctypes.c_void_p()
        _call("ost_tar_open", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), _encode(index_bucket, "bucket"),
              _encode(index_key, "key"), ctypes.byref(out), ctypes.byref(members))
        return NativeTar(out.value, json.loads(_take(lib(), members)))

    def prefetch(self, **options: Any) -> NativePrefetcher:
        out = _u64()
        _call("ost_prefetch_open", self._h(), json.dumps(options).encode(), ctypes.byref(out))
        return NativePrefetcher(out.value)

    def open_writer(self, bucket: str, key: str, **options: Any) -> NativeWriter:
        out = _u64()
        opts = json.dumps(options).encode() if options else None
        _call("ost_writer_open", self._h(), _encode(bucket, "bucket"), _encode(key, "key"), opts, ctypes.byref(out))
        return NativeWriter(out.value)


def _packed_entries(fn: str, *args) -> List[Tuple[Dict[str, Any], Union[bytes, Exception]]]:
    """Unpack the (data, index) pair of ost_batch_get and ost_tar_read: per
    item, its index entry and its bytes or the OssError it failed with."""
    l = lib()
    data, n, index = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p()
    _call(fn, *args, ctypes.byref(data), ctypes.byref(n), ctypes.byref(index))
    try:
        out: List[Tuple[Dict[str, Any], Union[bytes, Exception]]] = []
        for e in json.loads(_take(l, index)):
            if "error" in e:
                out.append((e, error_from_details(e["error"])))
            else:
                out.append((e, ctypes.string_at(data.value + e["offset"], e["size"]) if e["size"] else b""))
        return out
    finally:
        l.ost_free(data)


def _packed_results(fn: str, *args) -> List[Union[bytes, Exception]]:
    return [r for _, r in _packed_entries(fn, *args)]


class NativeTar(_Handle):
    """A tar archive opened through its index (see ost_tar_* in osstorch.h)."""

    _free_fn = "ost_tar_close"

    def __init__(self, handle: int, members: List[Dict[str, Any]]) -> None:
        super().__init__(handle)
        self.members = members

    def read(self, indices: List[int]) -> List[Tuple[str, Union[bytes, Exception]]]:
        """Per position: the member's name ("" if it failed before its
        headers were read) and its bytes or the OssError it failed with."""
        entries = _packed_entries("ost_tar_read", self._h(), json.dumps([int(i) for i in indices]).encode())
        return [(e.get("name", ""), r) for e, r in entries]


class _ClientHandle(_Handle):
    _free_fn = "ost_client_free"
