"""NativeClient, the core's client as Python sees it, and the few calls that
need no client (URI parsing, indexing a local tar, version and runtime
statistics)."""

from __future__ import annotations

import ctypes
import json
import os
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

from . import abi, packed
from .abi import encode
from .buffers import in_buffer, out_buffer, take
from .credentials import register_provider
from .errors import call
from .handles import (
    ClientHandle,
    NativeLister,
    NativePrefetcher,
    NativeReader,
    NativeTar,
    NativeWriter,
    packed_call,
)
from .loader import lib


def version() -> str:
    return lib().ost_version().decode()


def build_flavor() -> str:
    return lib().ost_build_flavor().decode()


def runtime_stats() -> dict:
    """The core's goroutines, Go heap and live handles (for soak runs and
    leak checks)."""
    dll = lib()
    return json.loads(take(dll, ctypes.c_void_p(dll.ost_runtime_stats())))


def parse_uri(uri: str) -> Tuple[str, str]:
    """(bucket, key) of an oss:// or /bucket/key URI (ValueError otherwise)."""
    b, k = ctypes.c_void_p(), ctypes.c_void_p()
    call("ost_parse_uri", encode(uri, "uri"), ctypes.byref(b), ctypes.byref(k))
    dll = lib()
    return take(dll, b).decode(), take(dll, k).decode()


def _two_buffers(fn: str, *args) -> Tuple[bytes, bytes]:
    out, n, out2, n2 = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_void_p(), ctypes.c_size_t()
    call(fn, *args, ctypes.byref(out), ctypes.byref(n), ctypes.byref(out2), ctypes.byref(n2))
    dll = lib()
    return take(dll, out, n.value), take(dll, out2, n2.value)


def tar_index_from_file(path: str) -> Tuple[bytes, bytes]:
    """The index of a local tar file: (upstream's encoding, our checksum file)."""
    return _two_buffers("ost_tar_index_from_file", encode(os.fspath(path), "path"))


class NativeClient:
    """A client of the core. It holds only plain options, so it pickles, and it
    creates its native handle lazily in each process that uses it."""

    def __init__(self, options: Dict[str, Any], cred_provider: Any = None) -> None:
        self._options = {k: v for k, v in options.items() if v not in (None, "")}
        self._cred_provider = cred_provider
        self._client: Optional[ClientHandle] = None
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
                out = abi.u64()
                opts = dict(self._options)
                if self._cred_provider is not None:
                    opts["cred_provider_token"] = register_provider(self._cred_provider)
                call("ost_client_new", json.dumps(opts).encode(), ctypes.byref(out))
                self._client = ClientHandle(out.value)
        return self._client._handle

    def check(self) -> None:
        """Validate the options (endpoint, credentials, config) without any request."""
        self._h()

    def config(self) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        call("ost_client_config", self._h(), ctypes.byref(out))
        return json.loads(take(lib(), out))

    def stats(self) -> Dict[str, Any]:
        """What this client has done (ost_client_stats): counters that only grow."""
        out = ctypes.c_void_p()
        call("ost_client_stats", self._h(), ctypes.byref(out))
        return json.loads(take(lib(), out))

    def list(self, bucket: str, prefix: str = "") -> List[Dict[str, Any]]:
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        call(
            "ost_list",
            self._h(),
            encode(bucket, "bucket"),
            encode(prefix, "prefix"),
            ctypes.byref(out),
            ctypes.byref(n),
        )
        return json.loads(take(lib(), out, n.value))

    def list_packed(self, bucket: str, prefix: str = "", concurrently: bool = False):
        """Every object under prefix as a compact Listing (see _listing.py);
        concurrently: OST_LIST_CONCURRENTLY (include/osstorch.h)."""
        from .._listing import Listing

        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        call(
            "ost_list_packed",
            self._h(),
            encode(bucket, "bucket"),
            encode(prefix, "prefix"),
            1 if concurrently else 0,
            ctypes.byref(out),
            ctypes.byref(n),
        )
        return Listing.from_packed(bucket, take(lib(), out, n.value))

    def lister(self, bucket: str, prefix: str = "") -> NativeLister:
        """The listing of prefix, started in the background and handed over
        as it arrives (NativeLister.next_listing)."""
        out = abi.u64()
        call("ost_lister_open", self._h(), encode(bucket, "bucket"), encode(prefix, "prefix"), ctypes.byref(out))
        return NativeLister(out.value, bucket)

    def get(self, bucket: str, key: str) -> bytes:
        out, n = ctypes.c_void_p(), ctypes.c_size_t()
        call("ost_get", self._h(), encode(bucket, "bucket"), encode(key, "key"), ctypes.byref(out), ctypes.byref(n))
        return take(lib(), out, n.value)

    def stat(self, bucket: str, key: str) -> Dict[str, Any]:
        out = ctypes.c_void_p()
        call("ost_stat", self._h(), encode(bucket, "bucket"), encode(key, "key"), ctypes.byref(out))
        return json.loads(take(lib(), out))

    def has_prefix(self, bucket: str, prefix: str) -> bool:
        """Whether any object's key starts with prefix (one request)."""
        found = abi.i32()
        call("ost_has_prefix", self._h(), encode(bucket, "bucket"), encode(prefix, "prefix"), ctypes.byref(found))
        return bool(found.value)

    def remove(self, bucket: str, key: str) -> None:
        call("ost_remove", self._h(), encode(bucket, "bucket"), encode(key, "key"))

    def rename(self, bucket: str, key: str, new_bucket: str, new_key: str) -> None:
        call(
            "ost_rename",
            self._h(),
            encode(bucket, "bucket"),
            encode(key, "key"),
            encode(new_bucket, "new_bucket"),
            encode(new_key, "new_key"),
        )

    def put(self, bucket: str, key: str, data) -> None:
        ptr, n, keep = in_buffer(data)
        call("ost_put", self._h(), encode(bucket, "bucket"), encode(key, "key"), ptr, n)
        del keep

    def read_range(self, bucket: str, key: str, offset: int, buf) -> int:
        """Read into buf from offset; returns the bytes read (short only at the end)."""
        if offset < 0:
            raise ValueError("offset must not be negative")
        ptr, n, keep = out_buffer(buf)
        got = ctypes.c_size_t()
        call(
            "ost_read_range", self._h(), encode(bucket, "bucket"), encode(key, "key"), offset, ptr, n, ctypes.byref(got)
        )
        del keep
        return got.value

    def open_reader(self, bucket: str, key: str) -> NativeReader:
        out, size = abi.u64(), ctypes.c_int64()
        call(
            "ost_reader_open",
            self._h(),
            encode(bucket, "bucket"),
            encode(key, "key"),
            ctypes.byref(out),
            ctypes.byref(size),
        )
        return NativeReader(out.value, size.value)

    def batch_get(self, items: List[Dict[str, Any]]) -> List[Union[bytes, Exception]]:
        """Fetch items concurrently; per item, its bytes or the OssError it failed with."""
        buf = packed.encode_items([(it["bucket"], it["key"], it.get("size", 0), it.get("etag", "")) for it in items])
        return [r for _, _, _, r in packed_call("ost_batch_get_packed", self._h(), buf, len(buf))]

    def tar_index_build(self, bucket: str, key: str) -> Tuple[bytes, bytes]:
        """Stream a tar object once and return its index: (upstream's
        encoding, our checksum file to store beside it)."""
        return _two_buffers("ost_tar_index_build", self._h(), encode(bucket, "bucket"), encode(key, "key"))

    def open_tar(self, bucket: str, key: str, index_bucket: str, index_key: str) -> NativeTar:
        """Open bucket/key through the index object index_bucket/index_key."""
        out, members = abi.u64(), ctypes.c_void_p()
        call(
            "ost_tar_open",
            self._h(),
            encode(bucket, "bucket"),
            encode(key, "key"),
            encode(index_bucket, "bucket"),
            encode(index_key, "key"),
            ctypes.byref(out),
            ctypes.byref(members),
        )
        return NativeTar(out.value, json.loads(take(lib(), members)))

    def prefetch(self, **options: Any) -> NativePrefetcher:
        out = abi.u64()
        call("ost_prefetch_open", self._h(), json.dumps(options).encode(), ctypes.byref(out))
        return NativePrefetcher(out.value)

    def open_writer(self, bucket: str, key: str, **options: Any) -> NativeWriter:
        out = abi.u64()
        opts = json.dumps(options).encode() if options else None
        call("ost_writer_open", self._h(), encode(bucket, "bucket"), encode(key, "key"), opts, ctypes.byref(out))
        return NativeWriter(out.value)
