"""The order of an iterable dataset's epoch when it is shuffled: a
permutation that is a pure function of (listing, seed, epoch), made before
the epoch is split into shares, so every worker and rank agrees on it however
many there are (docs/shuffle.md)."""

from __future__ import annotations

import hashlib
from typing import Sequence, TypeVar

import torch

from ._listing import Listing

T = TypeVar("T")


def epoch_seed(seed: int, epoch: int) -> int:
    """One 63-bit generator seed from (seed, epoch): hashed, so that nearby
    seeds and epochs give unrelated orders."""
    digest = hashlib.blake2b(f"{int(seed)}/{int(epoch)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's order of n positions (torch's CPU generator: the same for
    the same torch version on any machine)."""
    g = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    return torch.randperm(n, generator=g)


def in_epoch_order(items: Sequence[T], seed: int, epoch: int) -> Sequence[T]:
    """items in the epoch's shuffled order; a Listing stays a Listing."""
    order = permutation(len(items), seed, epoch).tolist()
    if isinstance(items, Listing):
        return items.take(order)
    return [items[i] for i in order]
