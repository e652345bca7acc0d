"""Seeded shuffle of iterable datasets: the epoch's order is a pure function
of (listing, seed, epoch), and with the DataLoader's batch_size the loader
delivers that order for any number of workers and ranks."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from osstorchconnector import OssIterableDataset
from osstorchconnector._epoch_order import in_epoch_order
from osstorchconnector._listing import Listing
from osstorchconnector._sharding import share_of
from osstorchconnector.testing import LocalOssServer
from support.loaders import list_loader
from support.transforms import keep_list, key_only

B = "shuffle-bucket"
N = 203  # not a multiple of the batch size: the last batch is short


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([B]) as s:
        for i in range(N):
            s.put_object(B, f"d/{i:04d}.bin", hashlib.md5(str(i).encode()).digest())
        yield s


def kw(s, **extra):
    return dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, transform=key_only, **extra)


ALL = [f"/{B}/d/{i:04d}.bin" for i in range(N)]


def loader_order(ds, workers, batch, method="fork"):
    return [k for b in list_loader(ds, workers, batch, method) for k in b]


@given(st.integers(0, 60), st.integers(1, 5), st.integers(1, 9))
def test_block_shares_partition_and_interleave_back_to_the_sequence(n, total, block):
    items = [("b", f"k{i}", i, "") for i in range(n)]
    shares = [list(share_of(items, s, total, block)) for s in range(total)]
    assert [list(share_of(Listing.from_entries(items), s, total, block)) for s in range(total)] == shares
    # taking one block from each share in turn (what DataLoader does with batches) gives the sequence back
    cursors, merged = [0] * total, []
    for b in range((n + block - 1) // block):
        s = b % total
        merged += shares[s][cursors[s] : cursors[s] + block]
        cursors[s] += block
    assert merged == items


@given(st.integers(0, 300), st.integers(0, 2**40), st.integers(0, 5))
def test_epoch_order_is_a_permutation_and_a_pure_function(n, seed, epoch):
    items = list(range(n))
    a = in_epoch_order(items, seed, epoch)
    assert sorted(a) == items and a == in_epoch_order(items, seed, epoch)
    listing = Listing.from_entries([("b", f"k{i}", i, "") for i in items])
    assert [e[2] for e in in_epoch_order(listing, seed, epoch)] == a


@pytest.mark.timeout(300)
@pytest.mark.parametrize("source", ["prefix", "objects"])
def test_the_order_is_the_same_for_any_number_of_workers(srv, source):
    def dataset(**extra):
        if source == "prefix":
            return OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, **extra))
        return OssIterableDataset.from_objects([f"oss://{B}{k[len(B) + 1 :]}" for k in ALL], **kw(srv, **extra))

    orders = {w: loader_order(dataset(shuffle=True, seed=11, batch_size=8), w, 8) for w in (0, 2, 4)}
    assert orders[0] == orders[2] == orders[4]
    assert sorted(orders[0]) == ALL and orders[0] != ALL
    assert loader_order(dataset(shuffle=True, seed=11, batch_size=8), 3, 8, "spawn") == orders[0]
    assert loader_order(dataset(shuffle=True, seed=12, batch_size=8), 0, 8) != orders[0]


@pytest.mark.timeout(300)
def test_each_epoch_has_its_own_order_and_set_epoch_picks_one(srv):
    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, shuffle=True, seed=5, batch_size=16))
    dl = DataLoader(ds, batch_size=16, num_workers=2, collate_fn=keep_list, multiprocessing_context="fork")
    e0 = [k for b in dl for k in b]
    e1 = [k for b in dl for k in b]
    assert sorted(e0) == sorted(e1) == ALL and e0 != e1
    ds.set_epoch(1)
    assert loader_order(ds, 0, 16) == e1
    ds.set_epoch(0)
    assert loader_order(ds, 4, 16) == e0
    with pytest.raises(ValueError, match="epoch"):
        ds.set_epoch(-1)
    # workers that persist count epochs on their own, and set_epoch reaches them too
    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, shuffle=True, seed=5, batch_size=16))
    dl = DataLoader(
        ds, batch_size=16, num_workers=2, collate_fn=keep_list, multiprocessing_context="fork", persistent_workers=True
    )
    assert [[k for b in dl for k in b] for _ in range(2)] == [e0, e1]
    ds.set_epoch(0)
    assert [k for b in dl for k in b] == e0


@pytest.mark.timeout(300)
def test_ranks_take_batches_in_turn(srv, monkeypatch):
    """Ranks (RANK / WORLD_SIZE, as torchrun sets them) take whole batches in
    turn: global batch g is rank g % world's; interleaved, they are the
    one-process order, and each key comes once."""
    one = loader_order(
        OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, shuffle=True, seed=3, batch_size=8)), 0, 8
    )
    world, per_rank = 3, []
    for rank in range(world):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", str(world))
        ds = OssIterableDataset.from_prefix(
            f"oss://{B}/d/", **kw(srv, shuffle=True, seed=3, batch_size=8, shard_by_rank=True)
        )
        dl = DataLoader(ds, batch_size=8, num_workers=2, collate_fn=keep_list, multiprocessing_context="fork")
        per_rank.append(list(dl))
    merged = [k for g in range(sum(map(len, per_rank))) for k in per_rank[g % world][g // world]]
    assert merged == one

    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, shuffle=True, batch_size=8, shard_by_rank=True))
    with pytest.raises(ValueError, match="seed"):
        next(iter(ds))


@pytest.mark.timeout(300)
def test_without_shuffle_nothing_changes_and_bad_arguments_are_refused(srv):
    plain = loader_order(OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv)), 2, 8)
    assert sorted(plain) == ALL
    # batch_size alone: the listing's order, delivered as the one-process order
    ordered = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, batch_size=8))
    assert loader_order(ordered, 4, 8) == ALL
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, batch_size=bad))
    with pytest.raises(ValueError, match="seed"):
        OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, shuffle=True, seed="7"))


@pytest.mark.timeout(300)
def test_a_shuffled_epoch_lists_its_prefix_concurrently(tmp_path):
    """A shuffled epoch fetches nothing before its listing is whole, so the
    core lists the prefix as concurrent key ranges (FastList) rather than
    waiting one round trip per page; config.json's enableFastList: false
    still means sequential pages, and an epoch in listing order streams its
    pages as before."""
    n = 4500  # five pages
    with LocalOssServer([B]) as s:
        for i in range(n):
            s.put_object(B, f"big/{i:06d}.bin", b"x")
        s.set_faults(latency_ms=20, ops=["ListObjectsV2"])  # what runs in parallel shows
        off = tmp_path / "off.json"
        off.write_text('{"datasetConfig": {"enableFastList": false}}')

        def epoch(config_path="", **extra):
            s.reset_stats()
            ds = OssIterableDataset.from_prefix(f"oss://{B}/big/", config_path=str(config_path), **kw(s, **extra))
            keys = [k for b in list_loader(ds, 2, 100) for k in b]
            assert sorted(keys) == [f"/{B}/big/{i:06d}.bin" for i in range(n)]
            return s.stats()["peak_by_op"]["ListObjectsV2"]

        assert epoch(shuffle=True, seed=3) >= 4
        assert epoch(off, shuffle=True, seed=3) == 1
        assert epoch() == 1
