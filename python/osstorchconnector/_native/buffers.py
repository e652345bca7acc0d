"""Memory crossing the boundary: buffers the core allocated (copied into
Python, then freed with ost_free) and Python buffers the core reads from or
writes into in place (held so that they neither move nor go away during the
call)."""

from __future__ import annotations

import ctypes
from typing import Any, Optional, Tuple


def take(dll: ctypes.CDLL, p: ctypes.c_void_p, n: Optional[int] = None) -> bytes:
    """Copy a library-allocated buffer into Python and free it."""
    if not p.value:
        return b""
    try:
        return ctypes.string_at(p.value, n) if n is not None else ctypes.string_at(p.value)
    finally:
        dll.ost_free(p)


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer, to reach read-only buffers without copying them."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


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


def in_buffer(data) -> Tuple[Any, int, Any]:
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


def out_buffer(buf) -> Tuple[Any, int, Any]:
    """A pointer to a writable buffer the core fills in place."""
    mv = memoryview(buf).cast("B")
    if mv.readonly:
        raise TypeError("buffer must be writable")
    n = mv.nbytes
    if n == 0:
        return None, 0, None
    arr = (ctypes.c_char * n).from_buffer(mv)
    return ctypes.addressof(arr), n, arr
