"""Which epoch an iteration of an iterable dataset is, agreed by every
DataLoader worker of that iteration without a lock.

The main process of a DataLoader never calls iter() on an iterable dataset:
its workers do, each on its own copy. Workers that do not persist are made
afresh each epoch from the main process's copy, which never advanced, so a
counter in the dataset object would say "epoch 0" forever. The workers of one
iteration do share a token, though: the DataLoader's base seed (drawn anew
for each iterator) and the number of iterations their process has begun
(which advances in workers that persist). So each process writes
(token, epoch) into a slot of its own in shared memory, as one 8-byte word,
and a process starting an iteration takes the epoch of any slot that already
carries its token, else one more than the highest epoch any slot holds. Two
workers of the same iteration that read before either wrote both take
highest + 1, so they agree; a word is never seen half written.

``set(epoch)`` (the dataset's set_epoch, in the main process before the
iterator is made) clears the slots so that the next iteration is that epoch.
"""

from __future__ import annotations

import hashlib
import multiprocessing.sharedctypes
from typing import Optional

from ._worker_slots import WorkerSlots, slot_index

_SLOTS = 256  # see _worker_slots.slot_index
_EPOCH_BITS = 23  # epochs below 2**23 - 1; the token takes the 40 bits above them


def _word(token: int, epoch: int) -> int:
    return (token << _EPOCH_BITS) | (epoch + 1)


def _epoch(word: int) -> int:
    return (word & ((1 << _EPOCH_BITS) - 1)) - 1


def _token(word: int) -> int:
    return word >> _EPOCH_BITS


def token_of(loader_seed: Optional[int], iteration: int) -> int:
    """The token of an iteration: nonzero, 40 bits."""
    digest = hashlib.blake2b(f"{loader_seed}/{iteration}".encode(), digest_size=5).digest()
    return int.from_bytes(digest, "little") or 1


class EpochCounter(WorkerSlots):
    """The slots (see _worker_slots). Pickled other than to a starting
    worker it keeps only the epoch the next iteration would be."""

    def __init__(self) -> None:
        self._slots = multiprocessing.sharedctypes.RawArray("q", _SLOTS)
        self._plain: Optional[int] = None

    def set(self, epoch: int) -> None:
        if not 0 <= epoch < (1 << _EPOCH_BITS) - 2:
            raise ValueError(f"epoch must be within 0 .. {(1 << _EPOCH_BITS) - 3}, got {epoch}")
        if self._slots is None:
            self._plain = epoch
            return
        for i in range(_SLOTS):
            self._slots[i] = 0
        self._slots[0] = _word(0, epoch - 1)  # the next iteration is one more

    def begin(self, worker_id: Optional[int], token: int, resumed: Optional[int] = None) -> int:
        """The epoch of the iteration this process is starting; resumed: the
        epoch of a resumed iteration, which the iterations after it follow."""
        if self._slots is None:
            epoch = resumed if resumed is not None else (0 if self._plain is None else self._plain)
            self._plain = epoch + 1
            return epoch
        epoch = resumed
        if epoch is None:
            words = list(self._slots)
            mine = [_epoch(w) for w in words if w and _token(w) == token]
            epoch = mine[0] if mine else max(_epoch(w) for w in words) + 1
        self._slots[slot_index(worker_id, _SLOTS)] = _word(token, epoch)
        return epoch

    def frozen_state(self) -> dict:
        if self._slots is None:
            return {"_slots": None, "_plain": self._plain}
        return {"_slots": None, "_plain": max(_epoch(w) for w in self._slots) + 1}
