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
from typing import Any, Dict, List, Optional

from .errors import OssInternalError, error_from_details

_PKG = pathlib.Path(__file__).resolve().parent
PRIMARY = _PKG / "_lib" / "libosstorch.so"
FORK_COPY = _PKG / "_lib" / "libosstorch_fork.so"

OK = 0
_u64 = ctypes.c_uint64
_charpp = ctypes.POINTER(ctypes.c_void_p)


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    lib.ost_version.restype = ctypes.c_char_p
    lib.ost_version.argtypes = []
    lib.ost_build_flavor.restype = ctypes.c_char_p
    lib.ost_build_flavor.argtypes = []
    lib.ost_free.restype = None
    lib.ost_free.argtypes = [ctypes.c_void_p]
    lib.ost_client_new.restype = ctypes.c_int32
    lib.ost_client_new.argtypes = [ctypes.c_char_p, ctypes.POINTER(_u64), _charpp]
    lib.ost_client_free.restype = ctypes.c_int32
    lib.ost_client_free.argtypes = [_u64]
    lib.ost_list.restype = ctypes.c_int32
    lib.ost_list.argtypes = [_u64, ctypes.c_char_p, ctypes.c_char_p, _charpp, ctypes.POINTER(ctypes.c_size_t), _charpp]
    lib.ost_get.restype = ctypes.c_int32
    lib.ost_get.argtypes = [_u64, ctypes.c_char_p, ctypes.c_char_p, _charpp, ctypes.POINTER(ctypes.c_size_t), _charpp]
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


def _free_client(pid: int, source: Optional[str], handle: int) -> None:
    # Only the process that created the handle may free it, and only while it
    # still uses the same library copy.
    if os.getpid() == pid and loaded_in_this_process() and _loader.source == source:
        _loader.get().ost_client_free(handle)


class NativeClient:
    """A client of the core. It holds only plain options, so it pickles, and it
    creates its native handle lazily in each process that uses it."""

    def __init__(self, options: Dict[str, str]) -> None:
        self._options = {k: v for k, v in options.items() if v}
        self._handle: Optional[int] = None
        self._pid: Optional[int] = None
        self._hlock = threading.Lock()

    def __getstate__(self):
        return {"_options": self._options}

    def __setstate__(self, state) -> None:
        self.__init__(state["_options"])

    def __repr__(self) -> str:
        return f"NativeClient(endpoint={self._options.get('endpoint')!r})"

    def _h(self) -> int:
        pid = os.getpid()
        if self._handle is not None and self._pid == pid:
            return self._handle
        with self._hlock:
            if self._handle is None or self._pid != pid:
                l = lib()
                out = _u64()
                err = ctypes.c_void_p()
                st = l.ost_client_new(json.dumps(self._options).encode(), ctypes.byref(out), ctypes.byref(err))
                if st != OK:
                    _raise(l, st, err)
                self._handle, self._pid = out.value, pid
                weakref.finalize(self, _free_client, pid, _loader.source, out.value)
        return self._handle

    def check(self) -> None:
        """Validate the options (endpoint, credentials) without any request."""
        self._h()

    def list(self, bucket: str, prefix: str = "") -> List[Dict[str, Any]]:
        h = self._h()
        l = lib()
        out, n, err = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p()
        st = l.ost_list(h, _encode(bucket, "bucket"), _encode(prefix, "prefix"), ctypes.byref(out), ctypes.byref(n), ctypes.byref(err))
        if st != OK:
            _raise(l, st, err)
        return json.loads(_take(l, out, n.value))

    def get(self, bucket: str, key: str) -> bytes:
        h = self._h()
        l = lib()
        out, n, err = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p()
        st = l.ost_get(h, _encode(bucket, "bucket"), _encode(key, "key"), ctypes.byref(out), ctypes.byref(n), ctypes.byref(err))
        if st != OK:
            _raise(l, st, err)
        return _take(l, out, n.value)
