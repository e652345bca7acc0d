"""Loading the Go core once per process, fork-safely.

A Go runtime does not survive fork(): a forked child that calls into the
runtime it inherited hangs on its first real call (docs/fork-safety.md says
why and how this was established). So:

* the library is loaded lazily, on first use, never at import;
* every entry point compares os.getpid() with the pid that loaded the library;
* a process that inherited a loaded library (a forked DataLoader worker)
  loads a *fresh copy* instead: first the byte-different sibling
  libosstorch_fork.so shipped in the package, then, if that one was already
  used by an ancestor, a copy in a memfd; it checks that the new handle is
  not one it inherited;
* handles created by another process are never used nor freed (handles.py).

If no fresh copy can be loaded, a RuntimeError tells the user to use
DataLoader(multiprocessing_context="spawn") or "forkserver".
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import sys
import threading
from typing import List, Optional

from ..errors import OssInternalError
from . import abi, credentials

_PKG = pathlib.Path(__file__).resolve().parent.parent
PRIMARY = _PKG / "_lib" / "libosstorch.so"
FORK_COPY = _PKG / "_lib" / "libosstorch_fork.so"


def _prepare(lib: ctypes.CDLL) -> ctypes.CDLL:
    abi.declare(lib)
    credentials.install(lib)
    return lib


class _Loader:
    """Loads the core once per process; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: Optional[ctypes.CDLL] = None
        self._pid: Optional[int] = None
        self.source: Optional[str] = None  # what was loaded in this process: a path or "memfd"
        self._used_paths: set = set()  # library files dlopen'ed here or in an ancestor
        self._dead_handles: set = set()  # dlopen handles inherited from ancestors

    def _after_fork_in_child(self) -> None:
        # The parent's lock may have been held by a thread that does not exist here.
        self._lock = threading.Lock()

    @property
    def pid(self) -> Optional[int]:
        return self._pid

    def loaded_here(self) -> bool:
        return self._lib is not None and self._pid == os.getpid()

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
                "(building from source needs Go: `pip install .` in a checkout)"
            )
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
            return _prepare(lib)
        lib = self._load_memfd(errors)
        if lib is not None:
            return lib
        raise RuntimeError(
            "osstorchconnector cannot start its Go core in this forked process ("
            + "; ".join(errors)
            + '). Use a DataLoader with multiprocessing_context="spawn" '
            'or multiprocessing_context="forkserver".'
        )

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
        return _prepare(lib)


_loader = _Loader()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_loader._after_fork_in_child)


def lib() -> ctypes.CDLL:
    """The core library for this process."""
    return _loader.get()


def loaded_in_this_process() -> bool:
    return _loader.loaded_here()


def source() -> Optional[str]:
    """Which copy this process loaded, without loading one (None before
    the first call)."""
    return _loader.source


def library_source() -> Optional[str]:
    """Which copy of the library this process uses (for tests and diagnostics)."""
    lib()
    return _loader.source
