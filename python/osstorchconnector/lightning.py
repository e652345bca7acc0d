"""A Lightning CheckpointIO that saves to and loads from OSS (not in upstream).

    from osstorchconnector.lightning import OssLightningCheckpoint
    trainer = Trainer(plugins=[OssLightningCheckpoint(endpoint, cred_path=...)],
                      default_root_dir="oss://bucket/runs/exp1")

Needs the ``lightning`` (or ``pytorch_lightning``) package; importing this
module without it raises ImportError.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

try:
    from lightning.pytorch.plugins.io import CheckpointIO
except ImportError:  # the older package name
    from pytorch_lightning.plugins.io import CheckpointIO  # type: ignore[no-redef]

from ._oss_client import parse_oss_uri
from .oss_checkpoint import OssCheckpoint

__all__ = ["OssLightningCheckpoint"]


class OssLightningCheckpoint(CheckpointIO):
    """Lightning checkpoints as OSS objects: ``path`` is an ``oss://`` URI."""

    def __init__(
        self, endpoint: str, cred_path: str = "", config_path: str = "", cred_provider: Any = None, region: str = ""
    ) -> None:
        super().__init__()
        self._ckpt = OssCheckpoint(
            endpoint, cred_path=cred_path, config_path=config_path, cred_provider=cred_provider, region=region
        )

    @staticmethod
    def _uri(path: Any) -> str:
        p = str(path)
        return "oss://" + p[len("oss:/") :] if p.startswith("oss:/") and not p.startswith("oss://") else p

    def save_checkpoint(self, checkpoint: Dict[str, Any], path: Any, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        self._ckpt.save(checkpoint, self._uri(path))

    def load_checkpoint(
        self, path: Any, map_location: Optional[Any] = None, weights_only: Optional[bool] = None
    ) -> Dict[str, Any]:
        kwargs: Dict[str, Any] = {"map_location": map_location}
        if weights_only is not None:
            kwargs["weights_only"] = weights_only
        return self._ckpt.load(self._uri(path), **kwargs)

    def remove_checkpoint(self, path: Any) -> None:
        bucket, key = parse_oss_uri(self._uri(path))
        self._ckpt._client.remove_object(bucket, key)
