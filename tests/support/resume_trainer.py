"""A training loop that saves its StatefulDataLoader state after every batch
and can be killed at any time; run again with --resume it goes on from the
last saved state (tests/datasets/test_resume.py).

    python resume_trainer.py STATE_DIR ENDPOINT CRED REGION URI WORKERS SHUFFLE METHOD [--resume]

Each saved state (STATE_DIR/state.pt, replaced atomically) holds the loader's
state_dict and the keys delivered up to it. With --resume the loop loads it,
reads the rest of the epoch and writes every key it delivered to
STATE_DIR/rest.json.
"""

import json
import os
import sys
import time

import torch
from torchdata.stateful_dataloader import StatefulDataLoader

from osstorchconnector import OssIterableDataset
from support.transforms import keep_list, key_only


def main() -> None:
    state_dir, endpoint, cred, region, uri, workers, shuffle, method = sys.argv[1:9]
    resume = "--resume" in sys.argv[9:]
    workers = int(workers)
    kw = dict(endpoint=endpoint, cred_path=cred, region=region, transform=key_only)
    if uri.endswith(".tar"):
        ds = OssIterableDataset.from_tar(
            uri, uri[:-4] + ".idx", shuffle=shuffle == "1", seed=4, shuffle_chunk_size=16, **kw
        )
    else:
        ds = OssIterableDataset.from_prefix(uri, shuffle=shuffle == "1", seed=4, **kw)
    loader = StatefulDataLoader(
        ds, batch_size=8, num_workers=workers, collate_fn=keep_list, multiprocessing_context=method if workers else None
    )
    path = os.path.join(state_dir, "state.pt")
    delivered = []
    if resume:
        saved = torch.load(path, weights_only=False)
        loader.load_state_dict(saved["loader"])
        rest = [k for batch in loader for k in batch]
        with open(os.path.join(state_dir, "rest.json"), "w") as f:
            json.dump(rest, f)
        return
    for batch in loader:
        delivered.extend(batch)
        tmp = path + ".tmp"
        torch.save({"loader": loader.state_dict(), "delivered": list(delivered)}, tmp)
        os.replace(tmp, path)
        time.sleep(0.02)  # a training step: the test kills the process somewhere in the epoch


if __name__ == "__main__":
    main()
