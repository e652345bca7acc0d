"""One rank of the one-listing-per-job test (tests/datasets/test_job_listing.py),
run under torchrun:

    python -m torch.distributed.run --standalone --nproc-per-node 4 tests/support/ddp_listing_worker.py \
        ENDPOINT CRED_PATH REGION URI WORKERS SHUFFLE EPOCHS OUT_DIR

Every rank joins a gloo process group, as a DDP job does, then reads EPOCHS
epochs of an OssIterableDataset over URI with shard_by_rank=True and
WORKERS DataLoader workers, and writes the keys it got in each epoch to
OUT_DIR/rank<r>.json.
"""

import json
import os
import sys

import torch.distributed as dist
from torch.utils.data import DataLoader

from osstorchconnector import OssIterableDataset


def key_only(obj):
    return obj.key


def keep(batch):
    return batch


def main() -> None:
    endpoint, cred_path, region, uri, workers, shuffle, epochs, out = sys.argv[1:9]
    workers, epochs, shuffle = int(workers), int(epochs), shuffle == "1"
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    ds = OssIterableDataset.from_prefix(
        uri,
        endpoint=endpoint,
        cred_path=cred_path,
        region=region,
        transform=key_only,
        shard_by_rank=True,
        shuffle=shuffle,
        seed=7 if shuffle else None,
    )
    dl = DataLoader(
        ds,
        batch_size=32,
        num_workers=workers,
        collate_fn=keep,
        timeout=120 if workers else 0,
        multiprocessing_context="spawn" if workers and rank % 2 else None,  # both start methods in one job
    )
    got = []
    for epoch in range(epochs):
        ds.set_epoch(epoch)
        got.append([k for batch in dl for k in batch])
        dist.barrier()
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(got, f)
    dist.destroy_process_group()
    print(f"DDP_LISTING_OK rank={rank}", flush=True)


if __name__ == "__main__":
    main()
