"""OssSafetensor: safetensors files straight from and to OSS.

The format (https://github.com/huggingface/safetensors): an 8-byte
little-endian header length N, N bytes of JSON
``{name: {"dtype", "shape", "data_offsets": [start, end]}, "__metadata__": {str: str}}``,
then the tensors' raw bytes, offsets relative to the end of the header. The
``safetensors`` package is not needed: the dtype table is ours.
"""

from __future__ import annotations

import ctypes
import json
import math
import struct
import threading
from typing import Any, Dict, List, Optional, Union

import torch

from ._data_object import DataObject
from ._oss_client import OssClient, parse_oss_uri

__all__ = ["OssSafetensor", "oss_safe_open", "oss_safe_slice"]

# safetensors dtype name -> torch dtype, for every name torch has (float8 and
# unsigned types depend on the torch version).
_NAMES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "C64": "complex64",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U64": "uint64",
    "U32": "uint32",
    "U16": "uint16",
    "U8": "uint8",
    "BOOL": "bool",
    "F8_E4M3": "float8_e4m3fn",
    "F8_E4M3FNUZ": "float8_e4m3fnuz",
    "F8_E5M2": "float8_e5m2",
    "F8_E5M2FNUZ": "float8_e5m2fnuz",
}
_DTYPES = {name: getattr(torch, t) for name, t in _NAMES.items() if hasattr(torch, t)}
_DTYPE_NAMES = {dt: name for name, dt in _DTYPES.items()}

# Header sanity limit (as the safetensors library): a corrupt length must not
# make us allocate gigabytes.
_MAX_HEADER = 100 * 1024 * 1024


def _itemsize(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype).element_size()  # dtype.itemsize needs torch 2.1


def _tensor_memory(t: torch.Tensor) -> ctypes.Array:
    """The bytes of a contiguous CPU tensor as a writable ctypes buffer (no
    copy): DataObject.readinto fills it and write() sends it as it is."""
    return (ctypes.c_char * (t.numel() * t.element_size())).from_address(t.data_ptr())


class oss_safe_slice:
    """A tensor of an open file, read on indexing (``safe_open.get_slice``).

    Upstream raises NotImplementedError here. Ours reads only the rows an
    int or slice on the first dimension selects (one ranged read), then
    applies the rest of the index in torch; any other index (``...`` first,
    tensors, ``None``) reads the whole tensor and indexes it.
    """

    def __init__(self, f: "oss_safe_open", name: str) -> None:
        self._f = f
        self._dtype_name, self._dtype, self._shape, self._start = f._info(name)

    def get_shape(self) -> List[int]:
        return list(self._shape)

    def get_dtype(self) -> str:
        """The safetensors dtype name ("F32", "BF16", ...), as the library."""
        return self._dtype_name

    def __getitem__(self, index: Any) -> torch.Tensor:
        idx = index if isinstance(index, tuple) else (index,)
        first = idx[0] if idx else None
        fast = self._shape and (isinstance(first, slice) or (isinstance(first, int) and not isinstance(first, bool)))
        if not fast or (isinstance(first, slice) and first.step is not None and first.step <= 0):
            return self._f._to_device(self._f._read(self._start, self._shape, self._dtype)[index].contiguous())
        rows = range(self._shape[0])[first]  # IndexError for an int out of range, as torch
        if isinstance(rows, int):
            lo, hi, local = rows, rows + 1, 0
        elif len(rows) == 0:
            lo, hi, local = 0, 0, slice(None)
        else:
            lo, hi, local = rows[0], rows[-1] + 1, slice(None, None, rows.step)
        row_bytes = math.prod(self._shape[1:]) * _itemsize(self._dtype)
        part = self._f._read(self._start + lo * row_bytes, [hi - lo, *self._shape[1:]], self._dtype)
        return self._f._to_device(part[(local,) + idx[1:]].contiguous())


class oss_safe_open:
    """An open safetensors object, as ``safetensors.safe_open``.

    The header is read once, here; each tensor is then one seek + readinto
    straight into the tensor's memory (the core's parallel ranged reader, with
    read-ahead for tensors read in offset order). Tensors are read into CPU
    memory and then moved to ``device``, so any torch device works (upstream
    reads into the device pointer, which works only for "cpu").
    """

    def __init__(self, obj: DataObject, device: Union[str, int] = "cpu") -> None:
        self._object = obj
        self._device = torch.device(device)
        self._lock = threading.Lock()  # seek + readinto must not interleave across threads
        head = obj.read(8)
        if len(head) != 8:
            raise ValueError(f"{obj.key}: not a safetensors object (shorter than 8 bytes)")
        hlen = struct.unpack("<Q", head)[0]
        if hlen > min(_MAX_HEADER, obj.size - 8):
            raise ValueError(f"{obj.key}: not a safetensors object (header length {hlen}, object size {obj.size})")
        try:
            header = json.loads(obj.read(hlen).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"{obj.key}: not a safetensors object (header: {e})") from None
        if not isinstance(header, dict):
            raise ValueError(f"{obj.key}: not a safetensors object (header is not a JSON object)")
        self._metadata = header.pop("__metadata__", None) or {}
        self._header = header
        self._data_start = 8 + hlen

    def __enter__(self) -> "oss_safe_open":
        return self

    def __exit__(self, _exc_type, _exc_value, _traceback) -> None:  # upstream's parameter names
        # upstream closes only when no exception was raised; we always do
        self._object.close()

    def keys(self) -> List[str]:
        """The tensor names, in header order."""
        return list(self._header)

    def offset_keys(self) -> List[str]:
        """The tensor names in file order: reading in this order is
        sequential, which the reader's read-ahead serves best."""
        return sorted(self._header, key=lambda k: self._header[k]["data_offsets"][0])

    def metadata(self) -> Dict[str, str]:
        """The ``__metadata__`` of the header ({} when there is none, as upstream)."""
        return self._metadata

    def get_tensor(self, name: str) -> torch.Tensor:
        _, dtype, shape, start = self._info(name)
        return self._to_device(self._read(start, shape, dtype))

    def get_slice(self, name: str) -> oss_safe_slice:
        """A lazily read tensor: ``f.get_slice(name)[a:b]`` reads rows a..b only."""
        return oss_safe_slice(self, name)

    # ---- internals ----

    def _info(self, name: str):
        """(dtype name, torch dtype, shape, absolute start) of a tensor, checked
        against the object so that a corrupt header cannot write past memory."""
        if name not in self._header:
            raise KeyError(f"{self._object.key}: no tensor named {name!r}")
        try:
            meta = self._header[name]
            dtype_name, shape, (start, end) = (
                meta["dtype"],
                [int(d) for d in meta["shape"]],
                map(int, meta["data_offsets"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{self._object.key}: bad header entry for {name!r}: {e!r}") from None
        dtype = _DTYPES.get(dtype_name)
        if dtype is None:
            raise ValueError(
                f"{self._object.key}: tensor {name!r} has dtype {dtype_name!r}, which this torch does not support"
            )
        nbytes = math.prod(shape) * _itemsize(dtype)
        if (
            min(shape, default=0) < 0
            or not 0 <= start <= end <= self._object.size - self._data_start
            or end - start != nbytes
        ):
            raise ValueError(
                f"{self._object.key}: tensor {name!r}: data_offsets {[start, end]} do not fit "
                f"{dtype_name}{shape} in an object of {self._object.size} bytes"
            )
        return dtype_name, dtype, shape, self._data_start + start

    def _read(self, offset: int, shape: List[int], dtype: torch.dtype) -> torch.Tensor:
        """A CPU tensor filled from the object's bytes at offset."""
        t = torch.empty(shape, dtype=dtype)
        buf = _tensor_memory(t)
        if len(buf):
            with self._lock:
                self._object.seek(offset)
                n = self._object.readinto(buf)
            if n != len(buf):
                raise OSError(f"{self._object.key}: short read at {offset}: {n} of {len(buf)} bytes")
        return t

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        return t if self._device.type == "cpu" else t.to(self._device)


class OssSafetensor:
    """safetensors' ``safe_open`` / ``load_file`` / ``save_file`` on OSS URIs.

        st = OssSafetensor(endpoint, cred_path=...)
        st.save_file(model.state_dict(), "oss://bucket/model.safetensors", metadata={"format": "pt"})
        state = st.load_file("oss://bucket/model.safetensors", device="cuda:0")
        with st.safe_open("oss://bucket/model.safetensors") as f:
            w = f.get_tensor("fc.weight")

    Files written here are read by the safetensors library and the other way
    round. Saving streams a multipart upload; an error while saving aborts it,
    so nothing becomes visible.
    """

    def __init__(
        self, endpoint: str, cred_path: str = "", config_path: str = "", cred_provider: Any = None, region: str = ""
    ) -> None:
        self._endpoint = endpoint
        if not endpoint:  # as upstream's (datasets alone read local files with an empty endpoint)
            raise ValueError("endpoint must be non-empty")
        self._client = OssClient(endpoint, cred_path, config_path, cred_provider=cred_provider, region=region)

    def safe_open(self, oss_uri: str, device: Union[str, int] = "cpu") -> oss_safe_open:
        """Open an object for reading (FileNotFoundError if it does not exist)."""
        bucket, key = parse_oss_uri(oss_uri)
        obj = self._client.get_object(bucket, key, type=1)
        try:
            return oss_safe_open(obj, device=device)
        except BaseException:
            obj.close()
            raise

    def load_file(self, oss_uri: str, device: Union[str, int] = "cpu") -> Dict[str, torch.Tensor]:
        """Every tensor of the object, read in file order; keys in file order (as upstream)."""
        with self.safe_open(oss_uri, device=device) as f:
            return {k: f.get_tensor(k) for k in f.offset_keys()}

    def save_file(
        self, tensors: Dict[str, torch.Tensor], oss_uri: str, metadata: Optional[Dict[str, str]] = None
    ) -> None:
        """Write tensors (dense, contiguous) and optional str->str metadata."""
        bucket, key = parse_oss_uri(oss_uri)
        if not key:
            raise ValueError(f"safetensors URI {oss_uri!r} names no object")
        with self._client.put_object(bucket, key) as obj:  # an exception aborts the upload
            self.do_save_safetensor(tensors, obj, metadata)

    def do_save_safetensor(
        self, tensors: Dict[str, torch.Tensor], obj: DataObject, metadata: Optional[Dict[str, str]] = None
    ) -> None:
        """Write the safetensors bytes to a writable file object: the header,
        then each tensor's bytes in dict order. Everything is checked before
        the first byte is written."""
        header: Dict[str, Any] = {}
        cpu: List[torch.Tensor] = []
        offset = 0
        for name, t in tensors.items():
            if not isinstance(name, str) or name == "__metadata__":
                raise TypeError(f"tensor names must be strings other than '__metadata__', got {name!r}")
            if not isinstance(t, torch.Tensor) or t.layout != torch.strided:
                raise ValueError(
                    f"You are trying to save a sparse or non-tensor value: `{name}`, which safetensors "
                    "does not support; make it a dense tensor (`.to_dense()`) first."
                )
            if not t.is_contiguous():
                raise ValueError(
                    f"You are trying to save a non contiguous tensor: `{name}`, which is not allowed; "
                    "call `.contiguous()` on it before saving."
                )
            dtype_name = _DTYPE_NAMES.get(t.dtype)
            if dtype_name is None:
                raise ValueError(f"tensor `{name}` has dtype {t.dtype}, which safetensors does not define")
            # bytes in CPU memory (upstream reads device pointers), conj/neg views resolved
            t = t.detach().cpu().resolve_conj().resolve_neg()
            nbytes = t.numel() * t.element_size()
            header[name] = {"dtype": dtype_name, "shape": list(t.shape), "data_offsets": [offset, offset + nbytes]}
            cpu.append(t)
            offset += nbytes
        if metadata:
            if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
            ):
                raise TypeError("Metadata keys and values must be strings.")
            header["__metadata__"] = metadata
        raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
        raw += b" " * (-len(raw) % 8)  # as the library: the data section starts 8-byte aligned
        obj.write(struct.pack("<Q", len(raw)) + raw)
        for t in cpu:
            if t.numel():
                obj.write(memoryview(_tensor_memory(t)))
