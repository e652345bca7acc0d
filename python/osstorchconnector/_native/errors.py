"""A failed call: the status an export returned and the JSON it wrote to
``char **err``, turned into the OssError subclass for its kind (the kind
table itself is osstorchconnector.errors.KINDS)."""

from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, NoReturn

from ..errors import error_from_details, kind_of_status
from .abi import OK
from .buffers import take
from .loader import lib


def raise_status(dll: ctypes.CDLL, status: int, err: ctypes.c_void_p) -> NoReturn:
    """Raise the exception for status, with the details the core wrote to err
    (the kind follows the status when the core wrote none)."""
    raw = take(dll, err)
    try:
        details: Dict[str, Any] = json.loads(raw) if raw else {}
    except ValueError:
        details = {"message": raw.decode(errors="replace")}
    if not details:
        details = {"message": f"core returned status {status}", "kind": kind_of_status(status)}
    raise error_from_details(details)


def call(name: str, *args) -> None:
    """Call a status-returning function whose last argument is char **err."""
    dll = lib()
    err = ctypes.c_void_p()
    st = getattr(dll, name)(*args, ctypes.byref(err))
    if st != OK:
        raise_status(dll, st, err)
