"""A stand-in for mmcv's compiled ops, for testing the MMDetection
integration where only ``mmcv-lite`` can be installed.

mmdet 3.x needs mmcv 2.x (< 2.2); PyPI has no mmcv wheel for current torch
(mmcv must be compiled against the torch it runs with), while ``mmcv-lite``
(the same package without the compiled ``mmcv._ext``) installs anywhere.
mmdet imports ``mmcv.ops`` at module level (``mmdet.datasets`` reaches
``mmcv.ops.roi_align`` through its mask structures, ``mmdet.models`` reaches
nms and more), which fails without ``mmcv._ext``. install() then puts a
module in place of ``mmcv.ops`` and each of its submodules whose every name
is a class that raises NotImplementedError when instantiated or called: the
imports succeed, and any code that really needs a compiled op fails loudly
instead of passing. Training RetinaNet on CPU needs none (its losses,
assigner and anchors are PyTorch; mmdet uses the compiled focal loss only
on CUDA); inference does (NMS), so the tests do not run it.

With a compiled mmcv installed, install() does nothing.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

MESSAGE = "{} is a compiled mmcv op: mmcv-lite has none (tests/support/mmcv_ops_standin.py)"


class _Ops(types.ModuleType):
    def __getattr__(self, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        name = f"{self.__name__}.{attr}"

        def unavailable(*args, **kwargs):
            raise NotImplementedError(MESSAGE.format(name))

        return type(attr, (), {"__new__": unavailable, "__call__": unavailable, "apply": staticmethod(unavailable)})


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):
        if name == "mmcv.ops" or name.startswith("mmcv.ops."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        return _Ops(spec.name)

    def exec_module(self, module):
        module.__path__ = []


def needed() -> bool:
    """Whether the installed mmcv lacks its compiled ops."""
    return importlib.util.find_spec("mmcv._ext") is None


def install() -> bool:
    """Put the stand-in in place if mmcv has no compiled ops (once per
    process); whether the stand-in is in use."""
    if not needed():
        return False
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    return True
