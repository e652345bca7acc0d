"""What every snippet shares (imported by name: it sits beside them, and a
script's own folder is first on sys.path). The same text runs under
upstream's interpreter and ours; only the environment differs."""

import hashlib
import json
import os
import sys

C = json.loads(os.environ["OSSTORCH_COMPAT"])
SIDE = C["side"]  # "ours" or "upstream"
EP = C["endpoint"]  # http://127.0.0.1:PORT (ours) or http://oss-local.test:PORT (upstream)
CRED = C["cred_path"]
CFG = C["config_path"]
REGION = C["region"]
B = C["bucket"]
TMP = C["tmp"]
ARGS = C["args"]
KW = dict(cred_path=CRED, config_path=CFG, region=REGION)
MARK = "@@COMPAT@@ "


def emit(name, value):
    """Report one result (JSON; anything else as its repr)."""
    sys.stdout.write(MARK + json.dumps({"name": name, "value": value}, default=repr) + "\n")
    sys.stdout.flush()


def exc_info(e):
    t = type(e)
    return {
        "raises": t.__name__,
        "mro": [f"{c.__module__}.{c.__qualname__}" for c in t.__mro__],
        "runtime_error": isinstance(e, RuntimeError),
        "msg": str(e),
    }


def outcome(fn):
    """{"ok": fn()} or {"raises": class name, "mro": [...], "runtime_error": bool, "msg": str}."""
    try:
        return {"ok": fn()}
    except BaseException as e:  # noqa: B902 - every outcome is a result here
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return exc_info(e)


def check(name, fn):
    emit(name, outcome(fn))


def digest(b):
    if b is None:
        return None
    return hashlib.sha256(bytes(b)).hexdigest()[:16]


def describe(o, read=True):
    """(key, size, label, digest of the bytes) of a DataObject; None for None."""
    if o is None:
        return None
    return [o.key, o.size, o.label, digest(o.read()) if read else None]
