"""DataObject: one object handed to a transform, a checkpoint reader or a
writer; and new_data_object. (Upstream's module of these is named
``_oss_connector``; ours of that name re-exports them.)"""

from __future__ import annotations

import errno as _errno
import io
import os
from typing import Any, Optional, Union

from .errors import OssInvalidArgumentError, error_for

__all__ = ["DataObject", "new_data_object"]

_Buffer = Union[bytes, bytearray, memoryview]


class DataObject:
    """A file-like view of one OSS object.

    Read mode holds the object's bytes (fetched by the dataset) or a native
    random-access reader (checkpoints); write mode streams to OSS and commits
    on close. ``err()`` is 0, or an errno (``ENOENT`` for a missing object)
    with ``error_msg()`` saying what failed.
    """

    __slots__ = (
        "key",
        "size",
        "label",
        "_data",
        "_pos",
        "_err",
        "_errmsg",
        "_reader",
        "_writer",
        "_closed",
        "_exc",
        "_shared_reader",
    )

    def __init__(
        self,
        key: str,
        size: int = 0,
        label: str = "",
        data: Optional[_Buffer] = None,
        *,
        err: int = 0,
        error_msg: str = "",
        reader: Any = None,
        writer: Any = None,
        exception: Optional[BaseException] = None,
    ) -> None:
        self.key = key
        self.size = int(size)
        self.label = label
        self._data = memoryview(data).cast("B") if data is not None else None
        self._pos = 0
        self._err = err
        self._errmsg = error_msg
        self._reader = reader
        self._writer = writer
        self._closed = False
        self._exc = exception
        self._shared_reader = False

    # ---- identity and state ----

    def __reduce__(self):
        if self._reader is not None or self._writer is not None:
            raise TypeError("an open checkpoint reader or writer cannot be pickled; pickle its URI instead")
        data = self._data.tobytes() if self._data is not None else None
        return (_rebuild, (self.key, self.size, self.label, data, self._err, self._errmsg, self._pos))

    def __repr__(self) -> str:
        state = "error %d" % self._err if self._err else ("write" if self._writer is not None else "read")
        return f"DataObject(key={self.key!r}, size={self.size}, label={self.label!r}, {state})"

    def err(self) -> int:
        return self._err

    def error_msg(self) -> str:
        return self._errmsg

    def exception(self) -> Optional[BaseException]:
        """The OssError behind err(), if any (not in upstream's API)."""
        return self._exc

    def copy(self) -> "DataObject":
        """An independent object over the same bytes, with its own position."""
        c = DataObject(
            self.key,
            self.size,
            self.label,
            err=self._err,
            error_msg=self._errmsg,
            reader=self._reader,
            exception=self._exc,
        )
        c._data = self._data
        c._shared_reader = True  # the original owns (and closes) the reader
        return c

    def seekable(self) -> bool:
        return self._writer is None

    def readable(self) -> bool:
        return self._writer is None

    def writable(self) -> bool:
        return self._writer is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_read(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed DataObject")
        if self._writer is not None:
            raise io.UnsupportedOperation("DataObject is write-only")
        if self._err:  # the failure behind it, as an OssError (also a RuntimeError, as upstream's)
            raise error_for(self._err, self._errmsg or os.strerror(self._err), self._exc)
        if self._data is None and self._reader is None:
            raise io.UnsupportedOperation(
                f"{self.key!r} is a descriptor without data; fetch it with OssClient.get_object"
            )

    def _length(self) -> int:
        if self._data is not None:
            return len(self._data)
        return self._reader.size

    # ---- reading ----

    def tell(self) -> int:
        if self._closed:
            raise ValueError("I/O operation on closed DataObject")
        return self._pos  # in write mode: the bytes written so far

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if not self._err:  # a failed object seeks as an empty one, as upstream's; reading it raises
            self._check_read()
        # as io.BytesIO: a negative absolute position is an error, a relative
        # seek before the start stops at 0
        if whence == os.SEEK_SET:
            if offset < 0:
                raise ValueError(f"negative seek value {offset}")
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = max(0, self._pos + offset)
        elif whence == os.SEEK_END:
            pos = max(0, (0 if self._err else self._length()) + offset)
        else:
            raise ValueError(f"invalid whence ({whence}, should be 0, 1 or 2)")
        self._pos = pos
        return pos

    def read(self, count: Optional[int] = -1) -> bytes:
        self._check_read()
        end = self._length()
        start = min(self._pos, end)
        stop = end if count is None or count < 0 else min(end, start + count)
        if stop <= start:
            return b""
        if self._data is not None:
            src = self._data.obj
            if start == 0 and type(src) is bytes and stop == len(src):
                out = src  # the whole object: the bytes it was fetched into, not a copy
            else:
                out = self._data[start:stop].tobytes()
        else:
            buf = bytearray(stop - start)
            n = self._reader.read_into(start, buf)
            out = bytes(buf[:n])
        self._pos = start + len(out)
        return out

    def readinto(self, buf) -> int:
        self._check_read()
        mv = memoryview(buf).cast("B")
        end = self._length()
        start = min(self._pos, end)
        n = min(len(mv), end - start)
        if n <= 0:
            return 0
        if self._data is not None:
            mv[:n] = self._data[start : start + n]
        else:
            n = self._reader.read_into(start, mv[:n])
        self._pos = start + n
        return n

    def readline(self, size: Optional[int] = -1) -> bytes:
        self._check_read()
        if self._data is None:  # reader-backed: read in steps until a newline
            out = bytearray()
            while size is None or size < 0 or len(out) < size:
                step = 8192 if size is None or size < 0 else min(8192, size - len(out))
                chunk = self.read(step)
                if not chunk:
                    break
                i = chunk.find(b"\n")
                if i >= 0:
                    out += chunk[: i + 1]
                    self._pos -= len(chunk) - i - 1
                    break
                out += chunk
            return bytes(out)
        end = len(self._data)
        start = self._pos
        if start >= end:
            return b""  # past the end the position stays where it is (as io.BytesIO)
        limit = end if size is None or size < 0 else min(end, start + size)
        i = bytes(self._data[start:limit]).find(b"\n")
        stop = limit if i < 0 else start + i + 1
        self._pos = stop
        return self._data[start:stop].tobytes()

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    # ---- writing ----

    def write(self, data) -> int:
        if self._closed:
            raise ValueError("write to closed DataObject")
        if self._writer is None:
            raise io.UnsupportedOperation("DataObject is read-only")
        try:
            n = self._writer.write(data)
        except Exception as e:
            self._exc = e  # the upload failed: __exit__ reports this, not what it caused
            raise
        self._pos += n  # a writer never seeks: the position is what was written
        return n

    def flush(self) -> int:
        if self._closed and self._writer is not None:
            raise ValueError("flush of closed DataObject")
        return 0

    def close(self) -> int:
        """Release the object; in write mode, commit it to OSS."""
        if self._closed:
            return 0
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        elif self._reader is not None and not self._shared_reader:
            self._reader.close()  # free its connections and chunk cache now, not at GC
        return 0

    def abort(self) -> None:
        """Write mode: discard the upload (nothing becomes visible)."""
        if not self._closed:
            self._closed = True
            if self._writer is not None:
                self._writer.abort()

    def __enter__(self) -> "DataObject":
        return self

    def __exit__(self, exc_type, exc_val, exc_tb) -> None:
        if exc_type is not None and self._writer is not None:
            self.abort()
            failed = self._exc
            if failed is not None and exc_val is not failed and exc_val.__context__ is failed:
                # torch.save, unwinding after write() raised, writes its zip end record anyway and
                # fails with its own RuntimeError ("unexpected pos ..."), which hides the cause
                raise failed from None
        else:
            self.close()


def _rebuild(key, size, label, data, err, errmsg, pos):
    obj = DataObject(key, size, label, data, err=err, error_msg=errmsg)
    obj._pos = pos
    return obj


def new_data_object(key: str, size: int = 0, label: str = "") -> DataObject:
    """A descriptor of an object to fetch (as input to OssClient's list_* calls,
    or returned by a dataset's get_dataset_objects callable): key is
    ``oss://bucket/key`` or ``/bucket/key``."""
    if not isinstance(key, str) or not key.startswith(("oss://", "/")):
        raise OssInvalidArgumentError(f"invalid oss key: {key}, should start with 'oss://' or '/'")
    return DataObject(key, size, label)


def error_object(key: str, label: str, exc: BaseException) -> DataObject:
    """A DataObject standing for an object that could not be fetched."""
    eno = getattr(exc, "errno", None) or _errno.EIO
    return DataObject(key, 0, label, err=eno, error_msg=str(exc), exception=exc)
