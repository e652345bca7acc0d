"""stats(): what a dataset's DataLoader workers did, summed in the main
process; OssClient.stats() and OssCheckpoint.stats() for their own work."""

from __future__ import annotations

import logging
import time

import pytest
from torch.utils.data import DataLoader

from osstorchconnector import OssCheckpoint, OssClient, OssIterableDataset, OssMapDataset
from osstorchconnector.testing import LocalOssServer
from support.transforms import keep_list, key_only

B = "stats-bucket"
N = 150
SIZE = 700


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([B]) as s:
        for i in range(N):
            s.put_object(B, f"d/{i:04d}.bin", bytes([i % 256]) * SIZE)
        yield s


def kw(s, **extra):
    return dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, transform=key_only, **extra)


def server_gets(srv):
    return sum(srv.settled_stats()["requests"].get("GetObject", {}).values())


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "workers,method,persistent", [(0, None, False), (2, "fork", False), (3, "spawn", False), (2, "fork", True)]
)
def test_iterable_stats_sum_the_workers_over_epochs(srv, workers, method, persistent):
    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv))
    dl = DataLoader(
        ds,
        batch_size=16,
        num_workers=workers,
        collate_fn=keep_list,
        multiprocessing_context=method,
        persistent_workers=persistent,
    )
    gets = server_gets(srv)
    for _ in range(2):
        assert sum(len(b) for b in dl) == N
    st = ds.stats()
    assert st["objects"] == 2 * N and st["bytes"] == 2 * N * SIZE
    assert st["gets"] == server_gets(srv) - gets == 2 * N
    assert st["lists"] >= 2 and st["bytes_in"] >= 2 * N * SIZE and st["retries"] == 0 and st["errors"] == {}
    assert 0 < st["first_byte_p50_ms"] <= st["first_byte_p99_ms"] and st["busy_seconds"] > 0


@pytest.mark.timeout(300)
def test_map_stats_and_errors_by_kind(srv):
    ds = OssMapDataset.from_objects([f"oss://{B}/d/{i:04d}.bin" for i in range(40)] + [f"oss://{B}/gone"], **kw(srv))
    dl = DataLoader(ds, batch_size=8, num_workers=2, collate_fn=keep_list, multiprocessing_context="fork")
    got = [k for b in dl for k in b]
    assert len(got) == 41 and got[-1] is None  # the missing object: transform(None), as upstream's __getitems__
    st = ds.stats()
    assert st["objects"] == 41 and st["gets"] == 41 and st["errors"] == {"not_found": 1}


def test_client_and_checkpoint_stats(srv):
    client = OssClient(srv.endpoint, srv.cred_path, region=srv.region)
    assert client.stats()["gets"] == 0
    assert client.get_object(B, "d/0001.bin").read() == bytes([1]) * SIZE
    st = client.stats()
    assert st["gets"] == 1 and st["bytes_in"] == SIZE and "objects" not in st
    ckpt = OssCheckpoint(srv.endpoint, cred_path=srv.cred_path, region=srv.region)
    ckpt.save({"x": 1}, f"oss://{B}/ck.pt")
    assert ckpt.load(f"oss://{B}/ck.pt") == {"x": 1}
    st = ckpt.stats()
    assert st["other_requests"] >= 1 and st["bytes_out"] > 0 and st["gets"] >= 1


def test_log_stats_logs_periodically_until_stopped(srv, caplog):
    ds = OssIterableDataset.from_prefix(f"oss://{B}/d/", **kw(srv))
    assert len(list(ds)) == N
    caplog.set_level(logging.INFO, logger="osstorchconnector.stats")
    hook = ds.log_stats(every=0.05)
    time.sleep(0.3)
    hook.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "osstorchconnector.stats"]
    assert len(lines) >= 2 and f"'objects': {N}" in lines[0]
    with pytest.raises(ValueError):
        ds.log_stats(every=0)
