"""OssCheckpoint: torch.save / torch.load straight to and from OSS."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Dict

from ._data_object import DataObject
from ._oss_client import OssClient, parse_oss_uri

__all__ = ["OssCheckpoint"]


class OssCheckpoint:
    """Readers and writers of checkpoint objects.

        ckpt = OssCheckpoint(endpoint, cred_path=...)
        with ckpt.writer("oss://bucket/ckpt.pt") as f:
            torch.save(model.state_dict(), f)      # committed on close
        with ckpt.reader("oss://bucket/ckpt.pt") as f:
            state = torch.load(f)

    Reads are parallel ranged GETs straight into torch's buffers (no
    userfaultfd, no root); writes stream as a multipart upload with bounded
    memory. An exception inside ``with ckpt.writer(...)`` aborts the upload:
    nothing becomes visible.
    """

    def __init__(
        self, endpoint: str, cred_path: str = "", config_path: str = "", cred_provider: Any = None, region: str = ""
    ) -> None:
        self._endpoint = endpoint
        if not endpoint:  # as upstream's (datasets alone read local files with an empty endpoint)
            raise ValueError("endpoint must be non-empty")
        self._client = OssClient(endpoint, cred_path, config_path, cred_provider=cred_provider, region=region)
        self._executor = None
        self._lock = threading.Lock()

    def stats(self) -> Dict[str, Any]:
        """What this checkpoint object's client has done in this process
        (OssClient.stats): requests, bytes, retries, failures by kind,
        busy time, first-byte latency."""
        return self._client.stats()

    def reader(self, oss_uri: str) -> DataObject:
        """A read-only, seekable file object over the object."""
        bucket, key = parse_oss_uri(oss_uri)
        return self._client.get_object(bucket, key, type=1)

    def writer(self, oss_uri: str) -> DataObject:
        """A write-only file object; close() (or leaving ``with``) commits."""
        return self._client.put_object(*_object_uri(oss_uri))

    def save(self, obj: Any, oss_uri: str) -> None:
        """torch.save(obj) to oss_uri (committed when this returns)."""
        import torch

        with self.writer(oss_uri) as f:
            torch.save(obj, f)

    def load(self, oss_uri: str, **torch_load_kwargs: Any) -> Any:
        """torch.load from oss_uri."""
        import torch

        with self.reader(oss_uri) as f:
            return torch.load(f, **torch_load_kwargs)

    def async_save(self, obj: Any, oss_uri: str) -> "concurrent.futures.Future[None]":
        """Save in the background (not in upstream).

        Tensors are copied to CPU memory now, so training may go on changing
        the originals; the upload then streams in a background thread with
        the writer's bounded memory. Returns a Future: ``.result()`` waits and
        raises what the save raised; ``.done()`` polls. Saves are uploaded one
        after another, in call order.
        """
        _object_uri(oss_uri)  # fail fast on a bad URI, before copying anything
        snapshot = _snapshot(obj)
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="oss-async-save"
                )
            return self._executor.submit(self.save, snapshot, oss_uri)


def _object_uri(oss_uri: str):
    bucket, key = parse_oss_uri(oss_uri)
    if not key:
        raise ValueError(f"checkpoint URI {oss_uri!r} names no object")
    return bucket, key


def _snapshot(obj: Any) -> Any:
    """A copy of obj in which every tensor is a CPU copy of the original."""
    import torch

    def copy(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return x.detach().to("cpu", copy=True)
        if isinstance(x, dict):
            return (
                type(x)((k, copy(v)) for k, v in x.items())
                if type(x) is not dict
                else {k: copy(v) for k, v in x.items()}
            )
        if isinstance(x, (list, tuple)) and not hasattr(x, "_fields"):
            return type(x)(copy(v) for v in x)
        return x

    return copy(obj)
