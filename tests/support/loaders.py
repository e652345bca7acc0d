"""The DataLoader the dataset suites build: batches kept as lists, the
start method only where there are workers, and a timeout so that a stuck
worker fails the test instead of hanging it."""

from torch.utils.data import DataLoader

from support.transforms import keep_list


def list_loader(ds, workers, batch, method="fork", cls=DataLoader, **extra):
    """cls(ds, ...) (DataLoader, or e.g. torchdata's StatefulDataLoader)."""
    return cls(
        ds,
        batch_size=batch,
        num_workers=workers,
        collate_fn=keep_list,
        multiprocessing_context=method if workers else None,
        timeout=120 if workers else 0,
        **extra,
    )
