"""The C ABI of libosstorch.so as ctypes sees it: one signature per export,
written as include/osstorch.h declares it, and the argument encoding every
call shares.

Every status-returning function takes ``char **err`` last; everything the
core returns through an out-parameter is malloc'd and released with
``ost_free`` (see buffers.take).
"""

from __future__ import annotations

import ctypes

OK = 0  # OST_OK; the other statuses and their kinds are in osstorchconnector.errors.KINDS

u64 = ctypes.c_uint64
i32 = ctypes.c_int32
i64 = ctypes.c_int64
size = ctypes.c_size_t
charpp = ctypes.POINTER(ctypes.c_void_p)  # char **: read back as a c_void_p so that ost_free gets the pointer
_cp = ctypes.c_char_p
_vp = ctypes.c_void_p
_P = ctypes.POINTER

# name -> (restype, argtypes), as in include/osstorch.h
SIGNATURES = {
    "ost_version": (_cp, []),
    "ost_build_flavor": (_cp, []),
    "ost_free": (None, [_vp]),
    "ost_runtime_stats": (_vp, []),
    "ost_client_new": (i32, [_cp, _P(u64), charpp]),
    "ost_client_free": (i32, [u64]),
    "ost_client_config": (i32, [u64, charpp, charpp]),
    "ost_client_stats": (i32, [u64, charpp, charpp]),
    "ost_list": (i32, [u64, _cp, _cp, charpp, _P(size), charpp]),
    "ost_list_packed": (i32, [u64, _cp, _cp, i32, charpp, _P(size), charpp]),
    "ost_batch_get_packed": (i32, [u64, _vp, size, charpp, _P(size), charpp]),
    "ost_prefetch_next_batch": (i32, [u64, i32, charpp, _P(size), _P(i32), charpp]),
    "ost_tar_read_packed": (i32, [u64, _P(ctypes.c_int64), size, charpp, _P(size), charpp]),
    "ost_get": (i32, [u64, _cp, _cp, charpp, _P(size), charpp]),
    "ost_stat": (i32, [u64, _cp, _cp, charpp, charpp]),
    "ost_has_prefix": (i32, [u64, _cp, _cp, _P(i32), charpp]),
    "ost_remove": (i32, [u64, _cp, _cp, charpp]),
    "ost_rename": (i32, [u64, _cp, _cp, _cp, _cp, charpp]),
    "ost_put": (i32, [u64, _cp, _cp, _vp, size, charpp]),
    "ost_read_range": (i32, [u64, _cp, _cp, i64, _vp, size, _P(size), charpp]),
    "ost_reader_open": (i32, [u64, _cp, _cp, _P(u64), _P(i64), charpp]),
    "ost_reader_read_at": (i32, [u64, i64, _vp, size, _P(size), charpp]),
    "ost_reader_close": (i32, [u64]),
    "ost_prefetch_open": (i32, [u64, _cp, _P(u64), charpp]),
    "ost_prefetch_add": (i32, [u64, _vp, size, charpp]),
    "ost_prefetch_end": (i32, [u64, charpp]),
    "ost_prefetch_close": (i32, [u64]),
    "ost_lister_open": (i32, [u64, _cp, _cp, _P(u64), charpp]),
    "ost_lister_next": (i32, [u64, i32, charpp, _P(size), _P(i32), charpp]),
    "ost_lister_close": (i32, [u64]),
    "ost_writer_open": (i32, [u64, _cp, _cp, _cp, _P(u64), charpp]),
    "ost_writer_write": (i32, [u64, _vp, size, charpp]),
    "ost_writer_close": (i32, [u64, charpp]),
    "ost_writer_abort": (i32, [u64]),
    "ost_set_credentials_callback": (i32, [_vp]),
    "ost_parse_uri": (i32, [_cp, charpp, charpp, charpp]),
    "ost_tar_index_build": (i32, [u64, _cp, _cp, charpp, _P(size), charpp, _P(size), charpp]),
    "ost_tar_open": (i32, [u64, _cp, _cp, _cp, _cp, _P(u64), charpp, charpp]),
    "ost_tar_close": (i32, [u64]),
    "ost_tar_index_from_file": (i32, [_cp, charpp, _P(size), charpp, _P(size), charpp]),
}


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Give every export of a freshly loaded copy its signature (ctypes
    would otherwise pass Python ints as C ints and truncate handles)."""
    for name, (res, args) in SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def encode(s: str, what: str) -> bytes:
    """A str argument as the NUL-terminated bytes the core takes; a clear
    error (not a truncated string) for a wrong type or an embedded NUL."""
    if not isinstance(s, str):
        raise TypeError(f"{what} must be a str, not {type(s).__name__}")
    if "\x00" in s:
        raise ValueError(f"{what} must not contain NUL characters")
    return s.encode()
