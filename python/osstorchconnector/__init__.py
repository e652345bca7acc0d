"""osstorchconnector: stream PyTorch training data and checkpoints from
Alibaba Cloud OSS, a drop-in replacement for Alibaba's package of the same
name with a Go core.

Nothing heavy happens at import: torch-dependent classes are imported on first
attribute access, and the Go core is loaded on first use (once per process,
fork-safe: see ``osstorchconnector._native``).
"""

import importlib as _importlib  # private names only: dir(osstorchconnector) shows the API

from ._version import __version__
from .errors import OssError

__all__ = [
    "OssCheckpoint",
    "OssSafetensor",
    "OssClient",
    "new_data_object",
    "imagenet_manifest_parser",
    "generate_tar_archive",
    "OssIterableDataset",
    "OssMapDataset",
    "DataObject",
    "OssError",
    "__version__",
    "OssDCPFileSystem",
    "OssFileSystem",
    "OssStorageReader",
    "OssStorageWriter",
    # framework integrations (upstream's newest names): resolved on first use, see .integrations
    "OSSYOLODataset",
    "make_oss_trainer",
    "OSSDetDataset",
    "OSSLoadImageFromFile",
    "get_oss_ann_path",
]

# name -> submodule that defines it, imported on first access: importing the
# package costs nothing, and names that need torch import it only when used.
_LAZY = {
    "OssMapDataset": ".oss_map_dataset",
    "OssIterableDataset": ".oss_iterable_dataset",
    "OssCheckpoint": ".oss_checkpoint",
    "OssSafetensor": ".oss_safetensor",
    "OssClient": "._oss_client",
    "DataObject": "._data_object",
    "new_data_object": "._data_object",
    "imagenet_manifest_parser": "._sources",
    "generate_tar_archive": "._tar_archive",
    "OssDCPFileSystem": ".oss_dcp_filesystem",
    "OssFileSystem": ".oss_dcp_filesystem",
    "OssStorageReader": ".oss_dcp_filesystem",
    "OssStorageWriter": ".oss_dcp_filesystem",
    # resolved by .integrations: each imports its framework (ultralytics, mmdet) only then, and without the
    # framework gives a stand-in that raises ImportError when used, so `from osstorchconnector import *` works
    "OSSYOLODataset": ".integrations",
    "make_oss_trainer": ".integrations",
    "OSSDetDataset": ".integrations",
    "OSSLoadImageFromFile": ".integrations",
    "get_oss_ann_path": ".integrations",
}


def __getattr__(name: str) -> object:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = _importlib.import_module(mod, __name__)
    if mod == ".integrations":
        return module.resolve(name)  # not kept here: a stand-in must not outlive a later install
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
