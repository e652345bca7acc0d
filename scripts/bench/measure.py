"""Memory sampling inside a measurement process (imported by the *_run.py
modules under either virtualenv: standard library only)."""

from __future__ import annotations

import os
import threading


def rss(pid: int = 0) -> int:
    """Resident set size of pid (this process by default), in bytes."""
    try:
        with open(f"/proc/{pid or os.getpid()}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu() -> float:
    """CPU seconds of this process and its reaped children (DataLoader
    workers, once joined)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def proc_cpu(pid: int) -> float:
    """CPU seconds another process has used so far (the server)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def children(pid: int) -> list:
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return kids


def private_dirty(pid: int) -> int:
    """Bytes a process has written to since it was forked (its own
    allocations and the pages it copied from its parent), from
    smaps_rollup; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class WorkerMemory:
    """The private memory of each DataLoader worker, the last time it was
    seen alive: sampled every `period` seconds (smaps_rollup walks the page
    tables, so not as often as RSS), and once more by sample() — call it
    after the last batch and before the iterator is dropped, while the
    workers still exist."""

    def __init__(self, period: float = 0.25) -> None:
        self.period = period
        self.last: dict = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "WorkerMemory":
        self._t.start()
        return self

    def sample(self) -> None:
        for pid in children(os.getpid()):
            v = private_dirty(pid)
            if v:
                self.last[pid] = v

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self.sample()

    def stop(self) -> dict:
        """{"mean": bytes, "max": bytes, "workers": n} over the workers seen."""
        self._stop.set()
        self._t.join()
        vals = list(self.last.values())
        return {"mean": sum(vals) / len(vals) if vals else 0, "max": max(vals, default=0), "workers": len(vals)}


class MemorySampler:
    """Peak growth of this process and its children (DataLoader workers):
    for each process, RSS minus its RSS when first seen (this process: when
    start() is called), summed over processes. A forked worker starts out
    mapping its parent's pages, so its growth is what it allocates.
    reset() starts a new phase from the current RSS."""

    def __init__(self, period: float = 0.01, tree: bool = True) -> None:
        self.period, self.tree = period, tree
        self.peak_growth = self.peak_total = 0
        self._base: dict = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "MemorySampler":
        self._base[os.getpid()] = rss()
        self._t.start()
        return self

    def reset(self) -> None:
        with self._lock:
            self._base = {os.getpid(): rss()}
            self.peak_growth = self.peak_total = 0

    def _sample(self) -> None:
        with self._lock:
            growth = total = 0
            me = os.getpid()
            for pid in [me] + (children(me) if self.tree else []):
                r = rss(pid)
                if not r:
                    continue
                base = self._base.setdefault(pid, r)
                growth += max(0, r - base)
                total += r
            self.peak_growth = max(self.peak_growth, growth)
            self.peak_total = max(self.peak_total, total)

    def _run(self) -> None:
        while not self._stop.wait(self.period):
            self._sample()

    def stop(self) -> None:
        self._stop.set()
        self._t.join()
        self._sample()
