"""One rank of the 2-rank DCP test (tests/checkpoint/test_dcp.py), run under torchrun:

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/support/dcp_worker.py \
        ENDPOINT CRED_PATH REGION CHECKPOINT_URI

Every rank saves into the same checkpoint: its shard of a DTensor, values
only it has, and values all ranks share. Then every rank loads the DTensor
resharded to a full replica (bytes from both ranks' files) and the other
rank's values as well as its own. Exits non-zero on any mismatch.
"""

import datetime
import sys

import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Replicate, Shard, distribute_tensor

from osstorchconnector import OssDCPFileSystem

ROWS, COLS = 64, 8


def own_values(rank):
    g = torch.Generator().manual_seed(1000 + rank)
    return {"t": torch.randn(5, 3, generator=g), "step": 100 + rank, "name": f"rank-{rank}"}


def empty_values():
    return {"t": torch.zeros(5, 3), "step": -1, "name": ""}


def check_values(got, rank):
    want = own_values(rank)
    assert torch.equal(got["t"], want["t"]), f"rank{rank}.t differs"
    assert got["step"] == want["step"] and got["name"] == want["name"], got


def main():
    endpoint, cred_path, region, uri = sys.argv[1:5]
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=90))
    rank, world = dist.get_rank(), dist.get_world_size()
    other = (rank + 1) % world
    mesh = init_device_mesh("cpu", (world,))
    full = torch.arange(ROWS * COLS, dtype=torch.float32).reshape(ROWS, COLS) / 7  # the same on every rank

    fs = OssDCPFileSystem(endpoint, cred_path, region=region)
    state = {
        "model": {"weight": distribute_tensor(full, mesh, [Shard(0)])},
        f"rank{rank}": own_values(rank),
        "common": {"lr": 0.25, "bias": torch.ones(4)},
    }
    local_rows = state["model"]["weight"].to_local().shape[0]
    assert local_rows == ROWS // world, local_rows  # really sharded: each rank holds only its rows
    dcp.save(state, storage_writer=fs.writer(uri))

    out = {
        "model": {"weight": distribute_tensor(torch.zeros(ROWS, COLS), mesh, [Replicate()])},
        f"rank{rank}": empty_values(),
        f"rank{other}": empty_values(),
        "common": {"lr": 0.0, "bias": torch.zeros(4)},
    }
    dcp.load(out, storage_reader=fs.reader(uri))
    assert torch.equal(out["model"]["weight"].to_local(), full), "resharded weight differs"
    check_values(out[f"rank{rank}"], rank)
    check_values(out[f"rank{other}"], other)
    assert out["common"]["lr"] == 0.25 and torch.equal(out["common"]["bias"], torch.ones(4)), out["common"]

    # and back into the layout it was saved in
    sharded = {"model": {"weight": distribute_tensor(torch.zeros(ROWS, COLS), mesh, [Shard(0)])}}
    dcp.load(sharded, storage_reader=fs.reader(uri))
    assert torch.equal(sharded["model"]["weight"].to_local(), full.chunk(world)[rank]), "shard differs"

    dist.barrier()
    print(f"DCP_WORKER_OK rank={rank} world={world}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
