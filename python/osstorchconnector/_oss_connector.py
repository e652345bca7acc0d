"""Upstream's module name for DataObject and new_data_object (its native
extension), kept importable for user code written against upstream; the
class lives in ``_data_object``."""

from ._data_object import DataObject, _rebuild, new_data_object  # noqa: F401  (_rebuild: pickles made before the move)

__all__ = ["DataObject", "new_data_object"]
