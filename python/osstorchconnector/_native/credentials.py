"""cred_provider: the core asks Python for credentials through a callback.

A client made with a cred_provider passes the core a token; when the core
needs credentials (first use, or before the current ones expire) it calls
back with that token and a buffer, and gets the provider's answer as JSON.
"""

from __future__ import annotations

import ctypes
import json
import threading
from typing import Any, Dict, Optional

from . import abi

_CRED_FN = ctypes.CFUNCTYPE(abi.i32, abi.u64, ctypes.c_void_p, abi.size, ctypes.POINTER(abi.size))
_providers: Dict[int, Any] = {}
_providers_lock = threading.Lock()
_next_token = [0]


def register_provider(provider: Any) -> int:
    """Keep provider reachable from the core; returns its token."""
    with _providers_lock:
        _next_token[0] += 1
        _providers[_next_token[0]] = provider
        return _next_token[0]


def _credentials_json(provider: Any) -> bytes:
    """Ask an oss2-style provider (get_credentials() returning an object with
    get_access_key_id()/... or access_key_id/... attributes, or a dict)."""
    cred = provider.get_credentials() if hasattr(provider, "get_credentials") else provider()

    def field(getter: str, attr: str, key: str) -> Optional[str]:
        if isinstance(cred, dict):
            return cred.get(key)
        if hasattr(cred, getter):
            return getattr(cred, getter)()
        return getattr(cred, attr, None)

    out = {
        "AccessKeyId": field("get_access_key_id", "access_key_id", "AccessKeyId") or "",
        "AccessKeySecret": field("get_access_key_secret", "access_key_secret", "AccessKeySecret") or "",
    }
    token = field("get_security_token", "security_token", "SecurityToken")
    if token:
        out["SecurityToken"] = token
    exp = field("get_expiration", "expiration", "Expiration")
    if exp:
        out["Expiration"] = exp if isinstance(exp, str) else exp.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(out).encode()


def _credentials_callback(token: int, buf: int, cap: int, length) -> int:
    try:
        provider = _providers.get(token)
        if provider is None:
            raw, rc = json.dumps({"error": f"no cred_provider registered for token {token}"}).encode(), 1
        else:
            raw, rc = _credentials_json(provider), 0
    except Exception as e:  # never let an exception cross into Go; its text is the provider's, not a secret of ours
        raw, rc = json.dumps({"error": f"cred_provider raised {type(e).__name__}: {e}"}).encode(), 1
    length[0] = len(raw)
    if len(raw) > cap:
        return 2
    ctypes.memmove(buf, raw, len(raw))
    return rc


_CRED_CALLBACK = _CRED_FN(_credentials_callback)  # kept alive for the life of the process


def install(lib: ctypes.CDLL) -> None:
    """Point a freshly loaded copy of the core at the callback (each copy,
    e.g. a forked worker's, has its own runtime and needs it again)."""
    lib.ost_set_credentials_callback(ctypes.cast(_CRED_CALLBACK, ctypes.c_void_p))
