"""osstorchconnector: stream PyTorch training data and checkpoints from
Alibaba Cloud OSS, a drop-in replacement for Alibaba's package of the same
name with a Go core.

Nothing heavy happens at import: torch-dependent classes are imported on first
attribute access, and the Go core is loaded on first use (once per process,
fork-safe: see ``osstorchconnector._native``).
"""
from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__
from .errors import OssError

__all__ = ["__version__", "OssError"]

# name -> submodule that defines it, imported on first access (upstream's
# public names are added here as they land).
_LAZY = {}


def __getattr__(name: str) -> Any:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(mod, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
