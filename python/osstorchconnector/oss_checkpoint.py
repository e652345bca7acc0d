"""OssCheckpoint: torch.save / torch.load straight to and from OSS."""
from __future__ import annotations

from typing import Any

from ._oss_bucket_iterable import parse_oss_uri
from ._oss_client import OssClient
from ._oss_connector import DataObject

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

    def __init__(self, endpoint: str, cred_path: str = "", config_path: str = "", cred_provider: Any = None,
                 region: str = "") -> None:
        if not endpoint:
            raise ValueError("endpoint must be non-empty")
        self._endpoint = endpoint
        self._client = OssClient(endpoint, cred_path or "", config_path or "", cred_provider=cred_provider, region=region)

    def reader(self, oss_uri: str) -> DataObject:
        """A read-only, seekable file object over the object."""
        bucket, key = parse_oss_uri(oss_uri)
        return self._client.get_object(bucket, key, type=1)

    def writer(self, oss_uri: str) -> DataObject:
        """A write-only file object; close() (or leaving ``with``) commits."""
        bucket, key = parse_oss_uri(oss_uri)
        if not key:
            raise ValueError(f"checkpoint URI {oss_uri!r} names no object")
        return self._client.put_object(bucket, key)
