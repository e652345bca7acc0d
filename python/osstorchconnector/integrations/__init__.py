"""Training frameworks reading their data from OSS, with upstream's names:

* Ultralytics YOLO (``pip install 'osstorchconnector[ultralytics]'``):
  ``make_oss_trainer`` and ``OSSYOLODataset`` (``.ultralytics``);
* MMDetection (``pip install 'osstorchconnector[mmdet]'``, with an ``mmcv``
  built for your torch): ``OSSDetDataset``, ``OSSLoadImageFromFile`` and
  ``get_oss_ann_path`` (``.mmdet``).

Each framework is imported when one of its names is first used, never by
``import osstorchconnector``. Without the framework the names still resolve
(``from osstorchconnector import *`` must work on every install, as the
package's ``__all__`` lists them), to stand-ins that raise ImportError, naming
what is missing and how to install it, when called or subclassed.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Tuple

__all__ = ["OSSYOLODataset", "make_oss_trainer", "get_oss_ann_path", "OSSDetDataset", "OSSLoadImageFromFile"]

# name -> (module that defines it, the framework it needs, the extra that installs it)
_WHERE: Dict[str, Tuple[str, str, str]] = {
    "OSSYOLODataset": (".ultralytics", "ultralytics", "ultralytics"),
    "make_oss_trainer": (".ultralytics", "ultralytics", "ultralytics"),
    "OSSDetDataset": (".mmdet", "mmdet", "mmdet"),
    "OSSLoadImageFromFile": (".mmdet", "mmdet", "mmdet"),
    # a path computation: it needs no framework (see _mmdet_paths)
    "get_oss_ann_path": ("._mmdet_paths", "", ""),
}


def resolve(name: str) -> Any:
    """The integration object `name`, or its stand-in when its framework
    cannot be imported (the package's __getattr__ calls this too)."""
    mod, framework, extra = _WHERE[name]
    try:
        module = importlib.import_module(mod, __name__)
    except (ImportError, AssertionError) as e:  # mmdet asserts at import that it supports the installed mmcv
        if not framework:
            raise
        return _unavailable(name, framework, extra, e)
    value = getattr(module, name)
    globals()[name] = value  # only a real object is kept: a later install or import fixes a stand-in
    return value


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return resolve(name)


def __dir__():
    return sorted(set(globals()) | set(_WHERE))


def _unavailable(name: str, framework: str, extra: str, cause: Exception) -> Any:
    """A class standing for `name`: calling it, or defining a subclass of it,
    raises ImportError with the reason the import failed."""
    message = (
        f"osstorchconnector.{name} needs {framework}, which could not be imported ({cause}); "
        f"install it with: pip install 'osstorchconnector[{extra}]'"
    )
    if framework == "mmdet":
        message += " (and an mmcv built for your torch, see the README's 'Framework integrations')"

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise ImportError(message) from cause

    return type(
        name,
        (),
        {
            "__doc__": message,
            "__module__": __name__,
            "__new__": staticmethod(fail),
            "__init_subclass__": classmethod(fail),
            "__repr__": lambda self: f"<unavailable {name}>",
        },
    )
