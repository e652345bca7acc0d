"""Which objects a DataLoader worker (and distributed rank) reads: the one
rule, used for listed objects and for a tar's chunks alike.

Position i of an epoch's sequence belongs to share ``i % total``, where
share = rank * num_workers + worker_id and total = world_size * num_workers.
(The core applies the same rule when it shards a listing it streams itself,
for upstream's ``*_with_preload`` calls on a client whose ``_id``/``_total``
user code set.)
"""

from __future__ import annotations

from typing import Sequence, TypeVar

from ._listing import Listing

T = TypeVar("T")


def share_of(items: Sequence[T], share: int, total: int) -> Sequence[T]:
    """The items at the positions that belong to share of total, in order;
    a Listing stays a (compact) Listing."""
    if not 0 <= share < total:
        raise ValueError(f"share {share} is not within {total}")
    if total == 1:
        return items
    if isinstance(items, Listing):
        return items.take(range(share, len(items), total))
    return list(items[share::total])
