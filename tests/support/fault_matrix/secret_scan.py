"""The secret scan: every file the run left (logs, audit lines, runner
output, servers' logs, exception texts and reprs) searched for every
secret in every form it could take."""

from __future__ import annotations

import json
import os
import urllib.parse
from collections import Counter
from typing import Dict, List

from .settings import SECRETS


def secret_forms(secret: str) -> List[str]:
    """The secret as it could appear in output: raw, URL-encoded, JSON-escaped."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        secret.replace("/", "\\/"),
    }
    return sorted(f for f in forms if f)


def scan_text(text: str, secrets_: Dict[str, str] = None) -> List[str]:
    found = []
    for label, secret in (secrets_ or SECRETS).items():
        for form in secret_forms(secret):
            i = text.find(form)
            if i >= 0:
                found.append(f"{label} ({form!r}) at ...{text[max(0, i - 60) : i + len(form) + 20]!r}")
    return found


def scan_for_secrets(art: str, secrets_: Dict[str, str] = None) -> Dict[str, List[str]]:
    """Every file under the artifacts directory (logs, audit lines, runner
    stdout/stderr, servers' logs, the collected exception texts and reprs),
    except the credentials/config files the cases wrote on purpose."""
    hits: Dict[str, List[str]] = {}
    for root, _, files in os.walk(art):
        if _under_work(art, root):  # credentials files written by the cases themselves
            continue
        for fn in files:
            p = os.path.join(root, fn)
            with open(p, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
            found = scan_text(text, secrets_)
            if found:
                hits[os.path.relpath(p, art)] = found[:5]
    return hits


def _under_work(art: str, root: str) -> bool:
    rel = os.path.relpath(root, art)
    return rel == "work" or rel.startswith("work" + os.path.sep)


def scanned_volume(art: str) -> Dict[str, int]:
    """How much was scanned (so the scan is known not to be vacuous)."""
    out: Dict[str, int] = Counter()
    for root, _, files in os.walk(art):
        if _under_work(art, root):
            continue
        for fn in files:
            p = os.path.join(root, fn)
            kind = (
                "connector log"
                if fn == "connector.log"
                else "audit log"
                if fn == "audit.log"
                else "exception texts and reprs"
                if fn == "texts.jsonl"
                else "runner stdout/stderr"
                if fn.startswith("runner-")
                else "server logs"
            )
            out[kind] += os.path.getsize(p)
    return dict(out)
