"""Transforms and collates the dataset and tar tests hand to datasets and
DataLoaders. They live at module level so that spawn and forkserver
workers can unpickle them."""

import torch


def key_and_bytes(obj):
    return (obj.key, obj.read()) if obj is not None else None


def keep_list(batch):
    return batch


def with_worker(obj):
    info = torch.utils.data.get_worker_info()
    return (obj.key, info.id if info else -1)


def no_collate(sample):
    return sample


def key_and_bytes_refusing_3_and_21(obj):
    """key_and_bytes, but the transform itself raises for d/003.bin and d/021.bin."""
    if obj is not None and obj.key.endswith(("/003.bin", "/021.bin")):
        raise ValueError(f"transform refuses {obj.key}")
    return key_and_bytes(obj)


def key_and_read(obj):
    """(key, bytes), as the usual transform: fails if handed None."""
    return obj.key, obj.read()


def key_bytes_label(obj):
    return obj.key, obj.read(), obj.label


def name_and_bytes(obj):
    """(key, bytes) of a tar member."""
    return (obj.key, obj.read())


def key_only(obj):
    return obj.key if obj is not None else None
