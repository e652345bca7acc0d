"""The one sharding rule, and each DataLoader worker receiving only its
share of the epoch's listing."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osstorchconnector import _shared_listing
from osstorchconnector._listing import Listing
from osstorchconnector._sharding import share_of


@given(st.integers(0, 50), st.integers(1, 7))
def test_shares_partition_the_sequence_by_position(n, total):
    items = [("b", f"k{i}", i, "") for i in range(n)]
    shares = [share_of(items, s, total) for s in range(total)]
    assert sorted(sum((list(x) for x in shares), [])) == sorted(items)
    for s, part in enumerate(shares):
        assert list(part) == [items[i] for i in range(n) if i % total == s]
        assert list(share_of(Listing.from_entries(items), s, total)) == list(part)
    with pytest.raises(ValueError):
        share_of(items, total, total)


def _worker(key, w, n, out, calls):
    def produce():
        calls.put(os.getpid())
        return [f"k{i}" for i in range(n)]

    out.put((w, _shared_listing.shared(key, 3, produce, worker_id=w, split=lambda v, i: share_of(v, i, 3))))


def test_each_worker_receives_only_its_part(tmp_path, monkeypatch):
    monkeypatch.setenv("OSSTORCH_SHARE_DIR", str(tmp_path))
    ctx = multiprocessing.get_context("fork")
    out, calls = ctx.Queue(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=("t1", w, 10, out, calls)) for w in range(3)]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(60)
    assert got == {w: [f"k{i}" for i in range(w, 10, 3)] for w in range(3)}
    assert calls.qsize() == 1  # listed once
    assert os.listdir(tmp_path) == []  # the last worker removed every file, parts included
