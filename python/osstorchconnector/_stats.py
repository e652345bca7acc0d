"""Stats from Python: what a dataset's DataLoader workers (and the process
that made it) have done, summed, read in the main process.

Each process's core client counts its requests, bytes, retries, failures by
kind, first-byte latency (a histogram) and busy time (ost_client_stats). A
dataset publishes its process's counters, with the samples and bytes it
delivered, into a slot of its own in shared memory now and then (every
PUBLISH_EVERY samples, and when a share ends): one C call and a few hundred
stores, nothing per sample. The main process sums the slots. A worker that
does not persist leaves its counters in its slot; the next process to use
that slot adds them to the slot's finished part before writing its own, so
totals cover the finished epochs and the current one.

Numbers read while workers run may be a publish behind (and a slot being
written may mix two publishes): they are counters for a person or a
dashboard, not for accounting.
"""

from __future__ import annotations

import logging
import math
import multiprocessing.sharedctypes
import os
import threading
from typing import Any, Callable, Dict, List, Optional

from ._worker_slots import WorkerSlots, slot_index

PUBLISH_EVERY = 64  # samples between two publishes of a worker

ERROR_KINDS = ("not_found", "access_denied", "throttled", "server", "client", "timeout", "network")
LATENCY_BUCKETS = 128  # as the core's: four per power of two of microseconds
_COUNTERS = (
    "objects",
    "bytes",
    "gets",
    "lists",
    "other_requests",
    "bytes_in",
    "bytes_out",
    "retries",
    "busy_seconds",
    # the node-local cache (docs/cache.md): objects and tar members served from it, looked for and fetched,
    # bytes served, and of the misses those whose entry was stale or corrupt
    "cache_hits",
    "cache_misses",
    "cache_hit_bytes",
    "cache_stale",
    "cache_corrupt",
)
_FIELDS = len(_COUNTERS) + len(ERROR_KINDS) + LATENCY_BUCKETS
_SLOTS = 65  # see _worker_slots.slot_index
_STRIDE = 1 + 2 * _FIELDS  # pid, then the current process's values, then the finished ones


def flatten(raw: Dict[str, Any], objects: int, nbytes: int) -> List[float]:
    """A core stats dict (ost_client_stats) and the samples delivered, as the
    slot's field order."""
    values = [float(objects), float(nbytes)]
    values += [float(raw.get(k, 0)) for k in _COUNTERS[2:]]
    errors = raw.get("errors") or {}
    values += [float(errors.get(k, 0)) for k in ERROR_KINDS]
    hist = raw.get("first_byte_hist") or []
    values += [float(hist[i]) if i < len(hist) else 0.0 for i in range(LATENCY_BUCKETS)]
    return values


def summary(values: List[float]) -> Dict[str, Any]:
    """The fields as a user reads them: counts, errors by kind, busy time,
    first-byte latency percentiles (ms, within the histogram's ~19%)."""
    n = len(_COUNTERS)
    out: Dict[str, Any] = {k: (values[i] if k == "busy_seconds" else int(values[i])) for i, k in enumerate(_COUNTERS)}
    out["errors"] = {k: int(values[n + i]) for i, k in enumerate(ERROR_KINDS) if values[n + i]}
    hist = values[n + len(ERROR_KINDS) :]
    out["first_byte_p50_ms"] = _percentile(hist, 0.50)
    out["first_byte_p99_ms"] = _percentile(hist, 0.99)
    return out


def _percentile(hist: List[float], q: float) -> Optional[float]:
    total = sum(hist)
    if total <= 0:
        return None
    seen = 0.0
    for i, c in enumerate(hist):
        seen += c
        if seen >= q * total:
            return round(math.pow(2.0, (i + 1) / 4) / 1000.0, 3)  # the bucket's upper bound, in ms
    return None


class SharedStats(WorkerSlots):
    """The slots (see _worker_slots). Pickled other than to a starting
    worker it keeps the totals as they were."""

    def __init__(self) -> None:
        self._slots = multiprocessing.sharedctypes.RawArray("d", _SLOTS * _STRIDE)
        self._frozen: Optional[List[float]] = None

    def publish(self, worker_id: Optional[int], values: List[float]) -> None:
        if self._slots is None:
            return
        base = slot_index(worker_id, _SLOTS) * _STRIDE
        slots, pid = self._slots, float(os.getpid())
        if slots[base] != pid:  # another process used this slot before: its values are finished
            for i in range(_FIELDS):
                slots[base + 1 + _FIELDS + i] += slots[base + 1 + i]
                slots[base + 1 + i] = 0.0
            slots[base] = pid
        slots[base + 1 : base + 1 + _FIELDS] = values

    def totals(self) -> List[float]:
        if self._slots is None:
            return list(self._frozen or [0.0] * _FIELDS)
        out = [0.0] * _FIELDS
        slots = self._slots
        for s in range(_SLOTS):
            base = s * _STRIDE
            if not slots[base]:
                continue
            for i in range(_FIELDS):
                out[i] += slots[base + 1 + i] + slots[base + 1 + _FIELDS + i]
        return out

    def frozen_state(self) -> dict:
        return {"_slots": None, "_frozen": self.totals()}


class StatsLogger:
    """A daemon thread that logs a stats() dict every `every` seconds until
    stop() (or the process ends)."""

    def __init__(self, read: Callable[[], Dict[str, Any]], every: float, logger: logging.Logger, name: str) -> None:
        if every <= 0:
            raise ValueError(f"every must be a positive number of seconds, got {every!r}")
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(read, every, logger, name), name="osstorch-stats", daemon=True
        )
        self._thread.start()

    def _run(self, read, every, logger, name) -> None:
        while not self._stop.wait(every):
            try:
                logger.info("%s stats: %s", name, read())
            except Exception as e:  # a stats hook must never take training down
                logger.warning("%s stats: could not read them: %s", name, e)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
