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
from osstorchconnector._sharding import share_in, share_of


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


@given(st.integers(0, 40), st.integers(1, 5), st.integers(1, 4), st.lists(st.integers(1, 9), max_size=8))
def test_a_run_of_the_sequence_splits_as_the_whole_does(n, total, block, cuts):
    items = [("b", f"k{i}", i, "") for i in range(n)]
    listing = Listing.from_entries(items)
    for s in range(total):
        got, start = [], 0
        for c in [*cuts, n]:  # runs of the given lengths, then the rest
            end = min(n, start + c)
            got += list(share_in(listing[start:end], start, s, total, block))
            start = end
        assert got == list(share_of(items, s, total, block))


def _stream_worker(key, w, pages, out, calls):
    def chunks():
        calls.put(os.getpid())
        start = 0
        for p in pages:
            yield [("b", f"k{i}", i, "") for i in range(start, start + p)]
            start += p

    parts = _shared_listing.streamed(key, 3, w, chunks, lambda c, start, i: share_in(c, start, i, 3, 2))
    out.put((w, [list(p) for p in parts]))


def test_a_streamed_listing_reaches_each_worker_page_by_page(tmp_path, monkeypatch):
    monkeypatch.setenv("OSSTORCH_SHARE_DIR", str(tmp_path))
    ctx = multiprocessing.get_context("fork")
    out, calls = ctx.Queue(), ctx.Queue()
    pages = [5, 1, 12, 7]
    procs = [ctx.Process(target=_stream_worker, args=("s1", w, pages, out, calls)) for w in range(3)]
    for p in procs:
        p.start()
    got = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(60)
    everything = [("b", f"k{i}", i, "") for i in range(sum(pages))]
    for w in range(3):
        assert sum(got[w], []) == list(share_of(everything, w, 3, 2))
        assert len(got[w]) > 1  # in pieces, as the pages came
    assert calls.qsize() == 1  # listed once
    assert os.listdir(tmp_path) == []


def test_a_streamed_listing_error_reaches_the_other_workers(tmp_path, monkeypatch):
    monkeypatch.setenv("OSSTORCH_SHARE_DIR", str(tmp_path))

    def chunks():
        yield [("b", "k0", 0, ""), ("b", "k1", 1, "")]
        raise PermissionError("listing refused")

    lead = _shared_listing.streamed("e1", 2, 0, chunks, lambda c, start, i: share_in(c, start, i, 2))
    assert list(next(lead)) == [("b", "k0", 0, "")]
    with pytest.raises(PermissionError):
        next(lead)
    follow = _shared_listing.streamed("e1", 2, 1, chunks, lambda c, start, i: share_in(c, start, i, 2))
    assert list(next(follow)) == [("b", "k1", 1, "")]  # what was listed before the error
    with pytest.raises(PermissionError, match="listing refused"):
        next(follow)
    assert os.listdir(tmp_path) == []


def test_a_follower_does_not_wait_for_a_dead_leader(tmp_path, monkeypatch):
    monkeypatch.setenv("OSSTORCH_SHARE_DIR", str(tmp_path))
    gone = multiprocessing.get_context("fork").Process(target=lambda: None)
    gone.start()
    gone.join()
    (tmp_path / "osstorch-d1.lock").write_text(str(gone.pid))
    follow = _shared_listing.streamed("d1", 2, 1, lambda: iter(()), lambda c, start, i: c)
    with pytest.raises(RuntimeError, match="died"):
        next(follow)
