"""Per-sample accounting of a case, and what the runner collects for the
secret scan (exception texts, reprs)."""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Sequence

from .data import digest, payload


class Tally:
    """Per-sample accounting of one case. A sample is named "e<epoch>:<name>"."""

    def __init__(self) -> None:
        self.expected: Dict[str, str] = {}
        self.seen: Counter = Counter()
        self.corrupt = 0
        self.errored: set = set()
        self.unattributed = 0  # errors that name no sample (e.g. a failed ranged read of a tar run)
        self.unclear: List[str] = []
        self.unexpected = 0
        self.partial = 0
        self.violations: List[str] = []
        self.notes: List[str] = []
        self.first_error = ""
        self.last_error = ""
        self.error_types: Counter = Counter()
        self.worker_signals = 0  # errors saying a DataLoader worker died by a signal
        self.epoch = 0

    def expect(self, names: Iterable[str], digests: Optional[Dict[str, str]] = None, epoch: int = None) -> None:
        ep = self.epoch if epoch is None else epoch
        for n in names:
            self.expected[f"e{ep}:{n}"] = digests[n] if digests else digest(payload(n))

    def deliver(self, name: str, dig: str) -> None:
        k = f"e{self.epoch}:{name}"
        if k not in self.expected:
            self.unexpected += 1
            self.violations.append(f"delivered {name!r}, which is not in the data set")
            return
        self.seen[k] += 1
        if dig != self.expected[k]:
            self.corrupt += 1
            self.violations.append(f"corrupt bytes accepted for {name}")

    def error(self, exc: Any, names: Sequence[str] = (), *, clear: Optional[bool] = None, rest: bool = False) -> None:
        """A surfaced error: for `names`, for every sample not yet delivered
        this epoch (rest=True: the epoch was aborted), or for no known sample."""
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        TEXTS.append(text)
        if len(self.error_types) + self.unattributed + len(self.errored) < 20:  # into the runner log at once
            print(f"[surfaced] {text[-2000:]}", file=sys.stderr, flush=True)
        if not isinstance(exc, str):
            TEXTS.append(repr(exc))
            self.error_types[type(exc).__name__] += 1
        if not self.first_error:
            self.first_error = one_line(text)
        self.last_error = text[-600:]
        if "killed by signal" in text:
            self.worker_signals += 1
        if clear is None:
            clear = bool(text.strip())
        if not clear:
            self.unclear.append(one_line(text))
        if rest:
            pre = f"e{self.epoch}:"
            for k in self.expected:
                if k.startswith(pre) and not self.seen[k]:
                    self.errored.add(k)
        elif names:
            for n in names:
                self.errored.add(f"e{self.epoch}:{n}")
        else:
            self.unattributed += 1

    def violate(self, msg: str) -> None:
        self.violations.append(msg)

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def summary(self) -> Dict[str, Any]:
        delivered = sum(1 for k, c in self.seen.items() if c)
        dup = sum(c - 1 for c in self.seen.values() if c > 1)
        lost = [k for k in self.expected if not self.seen[k] and k not in self.errored]
        errors = len(self.errored - {k for k, c in self.seen.items() if c}) + self.unattributed
        return {
            "samples": len(self.expected),
            "delivered": delivered - self.corrupt,
            "corrupt": self.corrupt,
            "errors": errors,
            "errored_samples": len(self.errored),
            "unattributed": self.unattributed,
            "lost": len(lost),
            "lost_names": lost[:5],
            "dup": dup,
            "partial": self.partial,
            "unexpected": self.unexpected,
            "unclear": self.unclear[:3],
            "violations": self.violations[:10],
            "notes": self.notes,
            "first_error": self.first_error,
            "error_types": dict(self.error_types),
            "worker_signals": self.worker_signals,
        }


def one_line(text: str, limit: int = 160) -> str:
    """The most telling line of an error text (DataLoader re-raises carry a traceback)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    for ln in reversed(lines):  # the innermost exception line
        if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", ln):
            return ln[:limit]
    return (lines[0] if lines else "")[:limit]


# Everything the runner collected for the secret scan (sent to the parent with each case's result).
TEXTS: List[str] = []


def probe(*objs: Any) -> None:
    """Keep str() and repr() of objects the suite created."""
    for o in objs:
        try:
            TEXTS.append(repr(o))
            TEXTS.append(str(o))
        except Exception as e:  # a failing repr is itself worth scanning
            TEXTS.append(f"repr failed: {type(e).__name__}: {e}")
