"""One listing per job (issue #16, item 5): distributed ranks that read one
prefix with shard_by_rank=True share one listing per epoch through the job's
rendezvous store (python/osstorchconnector/_job_listing.py). Under torchrun
with 4 ranks the local server sees one listing's requests per epoch, and
every object comes exactly once per epoch across ranks and workers; the
store protocol's edge cases (a lister that stops early or fails, chunks
too large for one store value) are tested with a store in this process."""

from __future__ import annotations

import json
import threading

import pytest
import torch.distributed as dist

import osstorchconnector
from osstorchconnector import _job_listing
from osstorchconnector._listing import Listing
from osstorchconnector.testing import LocalOssServer
from support.torchrun import torchrun

B = "ranks-bucket"
KEYS = 2500  # three list pages


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([B]) as s:
        s.fill(B, KEYS, "r/%05d", size=16)
        yield s


def lists(s) -> int:
    return sum(s.settled_stats()["requests"].get("ListObjectsV2", {}).values())


def run_ranks(srv, tmp_path, workers: int, shuffle: bool, epochs: int = 2):
    args = [srv.endpoint, srv.cred_path, srv.region, f"oss://{B}/r/", workers, 1 if shuffle else 0, epochs, tmp_path]
    torchrun("ddp_listing_worker.py", args, nproc=4, timeout=240)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(4)]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("workers,shuffle", [(2, False), (0, True)])
def test_four_ranks_list_once_per_epoch(srv, tmp_path, workers, shuffle):
    before = lists(srv)
    # a shuffled epoch lists concurrently (more requests, the same listing)
    osstorchconnector.OssClient(srv.endpoint, srv.cred_path, region=srv.region).list_entries(
        B, "r/", concurrently=shuffle
    )
    one_listing = lists(srv) - before
    assert one_listing >= 3  # several pages: the chunks really travel one by one
    before = lists(srv)
    per_rank = run_ranks(srv, tmp_path, workers, shuffle)
    assert lists(srv) - before == 2 * one_listing  # one listing per epoch for the whole job
    want = sorted(f"/{B}/r/{i:05d}" for i in range(KEYS))
    for epoch in range(2):
        got = [k for rank in per_rank for k in rank[epoch]]
        assert sorted(got) == want  # every object once across ranks and workers
    if shuffle:
        assert per_rank[0][0] != per_rank[0][1]  # epochs shuffled apart


# ---- the store protocol, in one process ----


@pytest.fixture
def store():
    server = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False)
    yield server


def job(store, rank, world=2, epoch=0):
    return _job_listing.JobListing("127.0.0.1", store.port, "osstorch/listing/test/src", rank, world, epoch)


def pages(n_pages, per_page=5, start=0):
    out = []
    for p in range(n_pages):
        first = start + p * per_page
        out.append(Listing.from_entries(("b", f"k{i:04d}", i) for i in range(first, first + per_page)))
    return out


class Producer:
    """A listing of pages, counting how often it was made."""

    def __init__(self, listing, fail_at=None):
        self.listing, self.fail_at, self.made = listing, fail_at, 0

    def __call__(self):
        self.made += 1
        for i, page in enumerate(self.listing):
            if i == self.fail_at:
                raise OSError("listing failed here")
            yield page


def run_pair(store, lead_take=None, producer=None, world=2, reader_epoch=0):
    """Rank 0 lists (taking lead_take chunks, all if None); the other
    ranks read. Returns rank 0's chunks and each reader's entries or error."""
    producer = producer or Producer(pages(4))
    lead_chunks = []
    g = _job_listing.chunks(job(store, 0, world), producer)
    try:
        for i, c in enumerate(g):
            lead_chunks.append(c)
            if lead_take is not None and i + 1 >= lead_take:
                break
    except OSError as e:
        lead_chunks.append(e)
    finally:
        g.close()
    results = {}

    def read(rank):
        try:
            chunks = _job_listing.chunks(job(store, rank, world, reader_epoch), producer)
            results[rank] = [e for c in chunks for e in c]
        except Exception as e:
            results[rank] = e

    threads = [threading.Thread(target=read, args=(r,)) for r in range(1, world)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return lead_chunks, results, producer


def test_readers_get_the_listers_chunks_and_delete_them(store):
    _, results, producer = run_pair(store, world=3)
    want = [e for p in pages(4) for e in p]
    assert results == {1: want, 2: want}
    assert producer.made == 1
    # only the counters are left: every chunk was deleted by its last reader
    left = [k for k in store.list_keys() if "/1/" in k and not k.endswith(("/n", "/claim"))]
    assert left == []


def test_a_lister_that_stops_early_hands_over(store):
    _, results, producer = run_pair(store, lead_take=2)
    assert results[1] == [e for p in pages(4) for e in p]  # the reader listed the rest itself
    assert producer.made == 2


def test_a_listing_error_reaches_the_readers(store):
    lead, results, _ = run_pair(store, producer=Producer(pages(4), fail_at=2))
    assert isinstance(lead[-1], OSError)
    assert isinstance(results[1], OSError) and "listing failed here" in str(results[1])


def test_a_chunk_too_large_for_one_store_value_is_split(store, monkeypatch):
    monkeypatch.setattr(_job_listing, "_MAX_VALUE", 200)
    _, results, _ = run_pair(store, producer=Producer(pages(2, per_page=40)))
    assert results[1] == [e for p in pages(2, per_page=40) for e in p]


def test_iterations_meet_by_their_number_and_old_ones_are_forgotten(store):
    for _ in range(3):
        _, results, _ = run_pair(store, lead_take=1)  # readers hand over: chunks 1.. never published
    assert len(results[1]) == 20
    # iteration 1's leftovers went when iteration 3 was claimed
    assert not [k for k in store.list_keys() if k.startswith("osstorch/listing/test/src/1/")]


def test_no_sharing_without_a_process_group(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29500")
    assert _job_listing.for_job("src", 0, 4, dist_up=False) is None
    assert _job_listing.for_job("src", 0, 1, dist_up=True) is None
    monkeypatch.setenv("OSSTORCH_JOB_LISTING", "0")
    assert _job_listing.for_job("src", 0, 4, dist_up=True) is None
    monkeypatch.delenv("OSSTORCH_JOB_LISTING")
    j = _job_listing.for_job("src", 1, 4, dist_up=True)
    assert (j.host, j.port, j.rank, j.world) == ("127.0.0.1", 29500, 1, 4)


def test_a_rank_in_another_epoch_lists_for_itself(store, caplog):
    # rank 0 is an iteration ahead (it peeked, say): its listing is not taken for this rank's epoch
    _, results, producer = run_pair(store, reader_epoch=1)
    assert results[1] == [e for p in pages(4) for e in p]
    assert producer.made == 2
    assert "a listing made for epoch 0" in caplog.text


def test_an_unreachable_store_is_tried_once(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(_job_listing, "_unreachable", set())
    tries = []
    real = dist.TCPStore

    def counted(*args, **kwargs):
        tries.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(dist, "TCPStore", counted)
    j = _job_listing.JobListing("127.0.0.1", port, "osstorch/listing/test/none", 1, 2)
    producer = Producer(pages(2))
    for _ in range(2):  # each time this rank lists for itself
        assert [e for c in _job_listing.chunks(j, producer) for e in c] == [e for p in pages(2) for e in p]
    assert len(tries) == 1  # the second iteration did not wait for another connection attempt


def test_a_whole_listing_is_published_in_chunks_that_join_back():
    """A shuffled epoch's rank lists the prefix whole (concurrently) and
    publishes it in runs the store takes; joined, they are the listing."""
    listing = Listing.from_entries([("b", f"k{i:03d}", i, "") for i in range(40)])
    chunks = list(_job_listing.in_chunks(listing, 16))
    assert [len(c) for c in chunks] == [16, 16, 8] and all(isinstance(c, Listing) for c in chunks)
    assert list(_job_listing.concat(chunks)) == list(listing)
    assert list(_job_listing.in_chunks(listing, 40)) == [listing]
