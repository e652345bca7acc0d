"""Native handles: opaque numbers the core hands out for readers, writers,
prefetchers, tars and clients.

A handle belongs to the process that created it and to the copy of the
library that process loaded (loader.py): in another process the number means
nothing, or worse, something else. So every use checks the pid, and the
finalizer frees a handle only in its own process and only while that process
still uses the same library copy; a forked child never touches its parent's
handles (they die with the parent's runtime).
"""

from __future__ import annotations

import collections
import ctypes
import os
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import packed
from .abi import OK
from .buffers import in_buffer, out_buffer, take
from .errors import call, raise_status
from .loader import _loader, lib, loaded_in_this_process


class Handle:
    """A native handle owned by the process that created it (see the module
    docstring). Subclasses name the export that frees it in _free_fn."""

    _free_fn = ""

    def __init__(self, handle: int) -> None:
        self._handle = handle
        self._pid = os.getpid()
        self._fin = weakref.finalize(self, _free_handle, self._free_fn, self._pid, _loader.source, handle)

    def _h(self) -> int:
        if self._handle is None:
            raise ValueError(f"{type(self).__name__} is closed")
        if self._pid != os.getpid():
            raise RuntimeError(
                f"{type(self).__name__} was opened in another process (pid {self._pid}); open it again here"
            )
        return self._handle

    def _owned(self) -> bool:
        """Open, and opened in this process."""
        return self._handle is not None and self._pid == os.getpid()

    def _release(self) -> None:
        self._fin.detach()
        self._handle = None

    def close(self) -> None:
        """Free the handle (once; in another process only forget it)."""
        if self._owned():
            getattr(lib(), self._free_fn)(self._handle)
        self._release()


def _free_handle(fn: str, pid: int, source: Optional[str], handle: int) -> None:
    if os.getpid() == pid and loaded_in_this_process() and _loader.source == source:
        getattr(_loader.get(), fn)(handle)


class NativeReader(Handle):
    """Random-access reader over one object (see ost_reader_* in osstorch.h)."""

    _free_fn = "ost_reader_close"

    def __init__(self, handle: int, size: int) -> None:
        super().__init__(handle)
        self.size = size

    def read_into(self, offset: int, buf) -> int:
        ptr, n, keep = out_buffer(buf)
        got = ctypes.c_size_t()
        call("ost_reader_read_at", self._h(), offset, ptr, n, ctypes.byref(got))
        del keep
        return got.value


class NativePrefetcher(Handle):
    """Iterator of (index, bucket, key, bytes or OssError) for a sharded
    listing or key list, in completion order; it takes every object already
    fetched per call into the core (ost_prefetch_next_batch)."""

    _free_fn = "ost_prefetch_close"
    _BATCH = 64  # objects taken per call at most: bounds what one call copies

    def __init__(self, handle: int) -> None:
        super().__init__(handle)
        self._ready: collections.deque = collections.deque()

    def __iter__(self):
        return self

    def __next__(self) -> packed.Result:
        if self._ready:
            return self._ready.popleft()
        if self._handle is None:
            raise StopIteration
        dll = lib()
        batch, n, done, err = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int32(), ctypes.c_void_p()
        st = dll.ost_prefetch_next_batch(
            self._h(), self._BATCH, ctypes.byref(batch), ctypes.byref(n), ctypes.byref(done), ctypes.byref(err)
        )
        if st != OK:
            self.close()
            raise_status(dll, st, err)
        if done.value:
            self.close()
            raise StopIteration
        self._ready.extend(packed_results(dll, batch, n))
        return self._ready.popleft()

    def add(self, items: Sequence[Dict[str, Any]]) -> None:
        """Queue items ({"bucket", "key", "size", "etag"?}, as batch_get
        takes) on a streamed prefetch; safe from another thread while this
        one waits in __next__."""
        buf = packed.encode_items([(it["bucket"], it["key"], it.get("size", 0), it.get("etag", "")) for it in items])
        call("ost_prefetch_add", self._h(), buf, len(buf))

    def end(self) -> None:
        """No more items will be added to this streamed prefetch."""
        call("ost_prefetch_end", self._h())


class NativeLister(Handle):
    """A listing made in the background, handed over as it arrives (see
    ost_lister_* in osstorch.h)."""

    _free_fn = "ost_lister_close"

    def __init__(self, handle: int, bucket: str) -> None:
        super().__init__(handle)
        self.bucket = bucket

    def next_listing(self, max_keys: int):
        """A Listing of the objects listed since the last call (waiting for
        at least one), or None at the end."""
        from .._listing import Listing

        out, n, done = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int32()
        call("ost_lister_next", self._h(), max_keys, ctypes.byref(out), ctypes.byref(n), ctypes.byref(done))
        if done.value:
            return None
        return Listing.from_packed(self.bucket, take(lib(), out, n.value))


class NativeWriter(Handle):
    """Streaming writer (see ost_writer_* in osstorch.h)."""

    _free_fn = "ost_writer_abort"

    def write(self, data) -> int:
        ptr, n, keep = in_buffer(data)
        if n:
            call("ost_writer_write", self._h(), ptr, n)
        del keep
        return n

    def close(self) -> None:
        """Commit. On error the upload was aborted and nothing is visible."""
        h = self._h()
        self._release()
        call("ost_writer_close", h)

    def abort(self) -> None:
        # released before the call: a handle the core has seen aborted is never aborted again
        if self._owned():
            h = self._handle
            self._release()
            lib().ost_writer_abort(h)
        else:
            self._release()


def packed_results(dll: ctypes.CDLL, batch: ctypes.c_void_p, n: ctypes.c_size_t) -> List[packed.Result]:
    """Decode a packed results buffer the core returned, and free it."""
    try:
        return packed.decode_results(batch.value, n.value)
    finally:
        dll.ost_free(batch)


def packed_call(fn: str, *args) -> List[packed.Result]:
    """Call an export that answers with a packed results buffer."""
    batch, n = ctypes.c_void_p(), ctypes.c_size_t()
    call(fn, *args, ctypes.byref(batch), ctypes.byref(n))
    return packed_results(lib(), batch, n)


class NativeTar(Handle):
    """A tar archive opened through its index (see ost_tar_* in osstorch.h)."""

    _free_fn = "ost_tar_close"

    def __init__(self, handle: int, members: List[Dict[str, Any]]) -> None:
        super().__init__(handle)
        self.members = members

    def read(self, indices: List[int]) -> List[Tuple[str, Union[bytes, Exception]]]:
        """Per position: the member's name ("" if it failed before its
        headers were read) and its bytes or the OssError it failed with."""
        positions = (ctypes.c_int64 * len(indices))(*[int(i) for i in indices])
        return [(key, r) for _, _, key, r in packed_call("ost_tar_read_packed", self._h(), positions, len(indices))]


class ClientHandle(Handle):
    _free_fn = "ost_client_free"
