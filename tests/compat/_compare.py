"""Comparisons the compatibility tests share."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Dict, Optional


def digest(b: bytes) -> str:
    """As the snippets' digest()."""
    return hashlib.sha256(b).hexdigest()[:16]


def show(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, default=repr)[:1500]


def outcome_problem(ours: Dict[str, Any], up: Dict[str, Any], *, values: bool = False) -> Optional[str]:
    """Why ours does not behave as upstream did, or None. Where upstream
    raised, ours must raise too, be caught by `except RuntimeError` when
    upstream's is, have every class of upstream's MRO in its own (so every
    `except` clause that catches upstream's catches ours), and carry a
    message that does not start with ": ". Ours may be a RuntimeError where
    upstream's is only a ValueError: a bad URI is a ValueError at some of
    upstream's calls and a RuntimeError at others, and ours is both
    everywhere (README, "Errors"). Where upstream returned, ours must return
    (the same value, with values=True)."""
    if "raises" in up:
        if "raises" not in ours:
            return f"upstream raises {up['raises']}({up['msg']!r}); ours returned {show(ours.get('ok'))}"
        problems = []
        if up["runtime_error"] and not ours["runtime_error"]:
            problems.append(
                f"`except RuntimeError` {'catches' if up['runtime_error'] else 'does not catch'} "
                f"upstream's {up['raises']} but {'catches' if ours['runtime_error'] else 'not'} ours"
            )
        lacking = [c for c in up["mro"] if c not in ours["mro"] and c != "builtins.object"]
        if lacking:
            problems.append(f"ours ({' > '.join(ours['mro'])}) is not a {', '.join(lacking)}")
        if ours["msg"].startswith(": ") or not ours["msg"].strip():
            problems.append(f"ours has a malformed message {ours['msg']!r}")
        if problems:
            return (
                f"upstream raises {up['raises']}({up['msg']!r}); ours raises {ours['raises']}({ours['msg']!r}): "
                + "; ".join(problems)
            )
        return None
    if "raises" in ours:
        return f"upstream returns {show(up.get('ok'))}; ours raises {ours['raises']}({ours['msg']!r})"
    if values and ours.get("ok") != up.get("ok"):
        return f"upstream returns {show(up.get('ok'))}; ours {show(ours.get('ok'))}"
    return None


def expect(cond: Any, msg: str) -> None:
    """assert, with only the message in pytest's report (the values are in it)."""
    if not cond:
        import pytest

        pytest.fail(msg, pytrace=False)
