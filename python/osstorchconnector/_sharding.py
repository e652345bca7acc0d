"""Which objects a DataLoader worker (and distributed rank) reads: the one
rule, used for listed objects and for a tar's chunks alike.

Position i of an epoch's sequence belongs to share ``(i // block) % total``,
where share = worker_id * world_size + rank and total = world_size *
num_workers. block is 1 unless the dataset was given a batch_size: then the
shares take whole batches in turn, global batch g going to rank g % world
and, within a rank, to its workers in turn, which is what a DataLoader
(taking one batch from each worker in turn) needs to deliver the epoch's
order for any number of workers and ranks (docs/shuffle.md).
(The core applies the same rule, with block 1, when it shards a listing it
streams itself, for upstream's ``*_with_preload`` calls on a client whose
``_id``/``_total`` user code set.)
"""

from __future__ import annotations

from typing import Sequence, TypeVar

from ._listing import Listing

T = TypeVar("T")


def share_of(items: Sequence[T], share: int, total: int, block: int = 1) -> Sequence[T]:
    """The items at the positions that belong to share of total, in order;
    a Listing stays a (compact) Listing."""
    if not 0 <= share < total:
        raise ValueError(f"share {share} is not within {total}")
    if block < 1:
        raise ValueError(f"block must be at least 1, got {block}")
    if total == 1:
        return items
    return share_in(items, 0, share, total, block)


def share_in(items: Sequence[T], start: int, share: int, total: int, block: int = 1) -> Sequence[T]:
    """share_of for a run of an epoch's sequence that begins at position
    start (a page of a listing handed out as it arrives): the items of the
    run whose positions belong to share, in order."""
    n = len(items)
    if block == 1:
        first = (share - start) % total
        if not isinstance(items, Listing):
            return list(items[first::total])
        positions: Sequence[int] = range(first, n, total)
    else:
        cycle = total * block  # one block for each share, in turn
        b = start - start % cycle + share * block  # the share's block in the cycle that holds start
        if b + block <= start:
            b += cycle
        positions = [
            i - start for s in range(b, start + n, cycle) for i in range(max(s, start), min(s + block, start + n))
        ]
    if isinstance(items, Listing):
        return items.take(positions)
    return [items[i] for i in positions]
