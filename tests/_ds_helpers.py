"""Module-level transforms and collates (picklable for spawn/forkserver workers)."""
import torch


def key_and_bytes(obj):
    return (obj.key, obj.read()) if obj is not None else None


def keep_list(batch):
    return batch


def with_worker(obj):
    info = torch.utils.data.get_worker_info()
    return (obj.key, info.id if info else -1)
