"""The node-local cache (cache_path / cache_bytes, datasetConfig.cachePath /
cacheBytes; docs/cache.md): epoch 2 of a prefix or a tar that fits makes no GET,
corrupt and stale entries are never served, the budget holds with several
processes filling one cache, and nothing is cached without the settings."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import time

import pytest

from osstorchconnector import OssIterableDataset, OssMapDataset, generate_tar_archive
from osstorchconnector.testing import LocalOssServer
from support.loaders import list_loader
from support.transforms import key_and_bytes

B = "cache-bucket"
N = 60


def body(i: int, version: int = 0) -> bytes:
    return (f"{version}:{i}:".encode() * 200)[: 500 + 13 * i]


@pytest.fixture
def srv():
    with LocalOssServer([B]) as s:
        for i in range(N):
            s.put_object(B, f"d/{i:03d}.bin", body(i))
        yield s


def kw(s, cache=None, budget=1 << 20, **extra):
    out = dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, transform=key_and_bytes, **extra)
    if cache is not None:
        out.update(cache_path=str(cache), cache_bytes=budget)
    return out


def gets(s) -> int:
    return sum(s.settled_stats()["requests"].get("GetObject", {}).values())


def entry_files(cache):
    return [p for p in cache.glob("??/*") if not p.name.startswith(".tmp-")]


def usage(cache) -> int:
    """The bytes of the cache's files (the lock file aside), counted under
    the cache's lock: writers reserve, rename and evict under it, so the
    count is what the directory held at one moment (a walk without it may
    count an evicted entry and its successor both)."""
    lock = cache / "lock"
    if not lock.exists():
        return 0
    with open(lock, "rb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            n = 0
            for p in cache.glob("??/*"):
                try:
                    n += p.stat().st_size
                except FileNotFoundError:  # a corrupt or stale entry dropped outside the lock
                    pass
            return n
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def epoch(loader):
    return {k: v for b in loader for k, v in b}


def expected(version=0, n=N):
    return {f"/{B}/d/{i:03d}.bin": body(i, version) for i in range(n)}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind,workers", [("iterable", 2), ("map", 2), ("iterable", 0)])
def test_epoch_two_of_a_prefix_that_fits_makes_no_get(srv, tmp_path, kind, workers):
    cls = OssIterableDataset if kind == "iterable" else OssMapDataset
    ds = cls.from_prefix(f"oss://{B}/d/", **kw(srv, tmp_path / "cache"))
    dl = list_loader(ds, workers, 8)
    before = gets(srv)
    assert epoch(dl) == expected()
    assert gets(srv) - before == N
    st = ds.stats()
    assert (st["cache_hits"], st["cache_misses"]) == (0, N)
    srv.reset_stats()
    assert epoch(dl) == expected()
    assert gets(srv) == 0  # nor HEADs: the listing's ETags validate the entries
    assert sum(srv.settled_stats()["requests"].get("HeadObject", {}).values()) == 0
    st = ds.stats()
    assert st["cache_hits"] == N and st["cache_hit_bytes"] == sum(len(b) for b in expected().values())
    assert len(entry_files(tmp_path / "cache")) == N


def reset(s):
    """Zero the server's counters once what came before is counted (a response
    is counted when its handler returns, which may be after the client read it)."""
    s.settled_stats()
    s.reset_stats()


def tar_shard(s, tmp_path, version=0, n=N):
    """d/NNN.bin (body(i, version)) packed into oss://B/shard.tar with its
    index; returns the members by their names in the tar."""
    src = tmp_path / f"src{version}"
    for i in range(n):
        (src / "d").mkdir(parents=True, exist_ok=True)
        (src / "d" / f"{i:03d}.bin").write_bytes(body(i, version))
    assert (
        generate_tar_archive(
            s.endpoint, s.cred_path, "", f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", str(src), region=s.region
        )
        == 0
    )
    return {f"{src}/d/{i:03d}.bin": body(i, version) for i in range(n)}


def tar_dataset(s, kind, cache):
    uris = (f"oss://{B}/shard.tar", f"oss://{B}/shard.idx")
    if kind == "map":
        return OssMapDataset.from_tar(*uris, **kw(s, cache))
    return OssIterableDataset.from_tar(*uris, shuffle=True, shuffle_chunk_size=7, **kw(s, cache))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind,workers", [("iterable", 2), ("map", 2), ("iterable", 0)])
def test_epoch_two_of_a_tar_that_fits_makes_no_get(srv, tmp_path, kind, workers):
    want = tar_shard(srv, tmp_path)
    ds = tar_dataset(srv, kind, tmp_path / "cache")
    dl = list_loader(ds, workers, 8)
    reset(srv)
    assert epoch(dl) == want
    assert gets(srv) > 0
    first = ds.stats()
    assert first["cache_misses"] >= N
    reset(srv)
    assert epoch(dl) == want  # iterable: another shuffled order of the chunks
    # nor the index and its checksum file, which workers read when they open the tar
    assert gets(srv) == 0
    st = ds.stats()
    assert st["cache_hits"] - first["cache_hits"] >= N
    assert st["cache_hit_bytes"] - first["cache_hit_bytes"] >= sum(len(b) for b in want.values())
    assert len(entry_files(tmp_path / "cache")) == N + 2  # a member each, the index, its checksum file


@pytest.mark.timeout(300)
def test_a_tar_overwritten_or_damaged_in_the_cache_is_never_served(srv, tmp_path):
    cache = tmp_path / "cache"
    want = tar_shard(srv, tmp_path)
    assert epoch(list_loader(tar_dataset(srv, "map", cache), 0, 8)) == want
    members = [p for p in entry_files(cache) if b"shard.tar\x00" in p.read_bytes()]
    assert len(members) == N
    for p in members[:5]:
        raw = bytearray(p.read_bytes())
        raw[-1] ^= 0x01  # one flipped bit in a member's bytes
        p.write_bytes(bytes(raw))
    ds = tar_dataset(srv, "map", cache)
    reset(srv)
    assert epoch(list_loader(ds, 0, 8)) == want
    assert 0 < gets(srv) <= 5
    assert ds.stats()["cache_corrupt"] == 5
    # a new tar of the same layout (the same sizes: the entries have the same names), a new ETag
    new = tar_shard(srv, tmp_path, version=1)
    ds = tar_dataset(srv, "map", cache)
    assert epoch(list_loader(ds, 0, 8)) == new
    assert ds.stats()["cache_stale"] >= N
    reset(srv)
    assert epoch(list_loader(ds, 0, 8)) == new
    assert gets(srv) == 0


@pytest.mark.timeout(300)
def test_off_by_default(srv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv))
    dl = list_loader(ds, 2, 8)
    epoch(dl)
    before = gets(srv)
    assert epoch(dl) == expected()
    assert gets(srv) - before == N
    st = ds.stats()
    assert st["cache_hits"] == st["cache_misses"] == 0
    assert list(tmp_path.iterdir()) == []  # nothing written anywhere we can see


@pytest.mark.timeout(300)
def test_a_corrupt_entry_is_dropped_and_fetched_again(srv, tmp_path):
    cache = tmp_path / "cache"
    ds = OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache))
    dl = list_loader(ds, 2, 8)
    epoch(dl)
    files = entry_files(cache)
    for p in files[: N // 2]:
        raw = bytearray(p.read_bytes())
        raw[-1] ^= 0x01  # one flipped bit in the body
        p.write_bytes(bytes(raw))
    for p in files[N // 2 : N // 2 + 5]:
        p.write_bytes(p.read_bytes()[:-3])  # truncated
    srv.reset_stats()
    assert epoch(dl) == expected()  # never a corrupt byte
    assert gets(srv) == N // 2 + 5
    assert ds.stats()["cache_corrupt"] == N // 2
    srv.reset_stats()
    assert epoch(dl) == expected()
    assert gets(srv) == 0  # fetched again and kept again


@pytest.mark.timeout(300)
def test_an_overwritten_object_is_never_served_from_the_cache(srv, tmp_path):
    cache = tmp_path / "cache"
    it = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache))
    assert epoch(list_loader(it, 2, 8)) == expected()
    for i in range(0, N, 3):  # new content, most of it of another size
        srv.put_object(B, f"d/{i:03d}.bin", body(i, 1) if i % 2 else body(i + 1, 1))
    new = expected()
    for i in range(0, N, 3):
        new[f"/{B}/d/{i:03d}.bin"] = body(i, 1) if i % 2 else body(i + 1, 1)
    # an iterable dataset lists every epoch: the new ETags
    srv.reset_stats()
    assert epoch(list_loader(it, 2, 8)) == new
    assert gets(srv) == len(range(0, N, 3))
    # a key list (no listing): each entry is checked with a HEAD
    objs = OssIterableDataset.from_objects([f"oss://{B}/d/{i:03d}.bin" for i in range(N)], **kw(srv, cache))
    for i in range(0, N, 3):
        srv.put_object(B, f"d/{i:03d}.bin", body(i, 2))
        new[f"/{B}/d/{i:03d}.bin"] = body(i, 2)
    assert epoch(list_loader(objs, 2, 8)) == new
    # a map dataset made after the change lists it
    for i in range(1, N, 5):
        srv.put_object(B, f"d/{i:03d}.bin", body(i, 3))
        new[f"/{B}/d/{i:03d}.bin"] = body(i, 3)
    assert epoch(list_loader(OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache)), 0, 8)) == new


@pytest.mark.timeout(300)
def test_disk_usage_stays_within_the_budget(srv, tmp_path):
    cache, budget = tmp_path / "cache", 12_000
    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache, budget))
    for _ in range(2):
        for batch in list_loader(ds, 2, 4):
            assert {k: v for k, v in batch}.items() <= expected().items()
            assert usage(cache) <= budget
    assert usage(cache) <= budget
    assert 0 < len(entry_files(cache)) < N


def _fill(endpoint, cred_path, region, cache, budget, rounds, out):
    """One process of the concurrent-writers test: reads every object
    `rounds` times through the shared cache, checking each."""
    ds = OssMapDataset.from_prefix(
        f"oss://{B}/d/",
        endpoint=endpoint,
        cred_path=cred_path,
        region=region,
        transform=key_and_bytes,
        cache_path=cache,
        cache_bytes=budget,
    )
    want = expected()
    bad = 0
    for r in range(rounds):
        order = list(range(N))[r % 7 :] + list(range(N))[: r % 7]
        for start in range(0, N, 6):
            for k, v in ds.__getitems__(order[start : start + 6]):
                bad += want[k] != v
    st = ds.stats()
    with open(out, "w") as f:
        json.dump({"bad": bad, "hits": st["cache_hits"], "misses": st["cache_misses"]}, f)


@pytest.mark.timeout(300)
def test_several_processes_fill_one_cache(srv, tmp_path):
    cache, budget = tmp_path / "cache", 20_000
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_fill,
            args=(srv.endpoint, srv.cred_path, srv.region, str(cache), budget, 4, str(tmp_path / f"out{i}.json")),
        )
        for i in range(4)
    ]
    for p in procs:
        p.start()
    peak = 0
    while any(p.is_alive() for p in procs):
        if cache.exists():
            peak = max(peak, usage(cache))
        time.sleep(0.01)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    results = [json.loads((tmp_path / f"out{i}.json").read_text()) for i in range(4)]
    assert all(r["bad"] == 0 for r in results)
    assert sum(r["hits"] for r in results) > 0
    assert peak <= budget and usage(cache) <= budget


def test_bad_settings_are_clear_errors(srv, tmp_path):
    with pytest.raises(ValueError, match="cache_bytes"):
        OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, tmp_path, budget=-1))
    with pytest.raises(ValueError, match="cache_bytes"):
        OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache_bytes="10GB"))
    with pytest.raises(ValueError, match="cache_path"):
        OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache_bytes=1000))
    with pytest.raises(ValueError, match="cache_bytes"):
        OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, cache_path=str(tmp_path)))
    a_file = tmp_path / "file"
    a_file.write_bytes(b"x")
    with pytest.raises(OSError, match="cachePath") as e:
        OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, a_file / "sub"))
    assert isinstance(e.value, ValueError)
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        with pytest.raises(OSError, match="cachePath"):
            OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, ro))
    # config.json's settings, the same checks
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"datasetConfig": {"cachePath": str(tmp_path / "c2"), "cacheBytes": 100000}}))
    ds = OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, config_path=str(cfg)))
    assert ds[3] == (f"/{B}/d/003.bin", body(3))
    assert len(entry_files(tmp_path / "c2")) == 1
    cfg.write_text(json.dumps({"datasetConfig": {"cacheBytes": -3}}))
    with pytest.raises(ValueError, match="datasetConfig.cacheBytes"):
        OssMapDataset.from_prefix(f"oss://{B}/d/", **kw(srv, config_path=str(cfg)))
