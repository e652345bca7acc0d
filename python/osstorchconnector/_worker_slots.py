"""Shared memory for a dataset and its DataLoader workers: one slot per
process (the one that made the dataset, then each worker), each written only
by its own process, so no lock is needed. Forked workers inherit the memory;
spawn and forkserver workers receive it as they start (the array pickles
only then). Pickled any other way (a copy, torch.save) an object over slots
keeps a plain value instead: frozen_state()."""

from __future__ import annotations

from typing import Optional


def slot_index(worker_id: Optional[int], slots: int) -> int:
    """Slot 0: the process that made the dataset; worker i: 1 + i % (slots - 1)."""
    return 0 if worker_id is None else 1 + worker_id % (slots - 1)


class WorkerSlots:
    """Base of the objects that keep their state in such slots (self._slots,
    a multiprocessing RawArray; None once frozen)."""

    def frozen_state(self) -> dict:
        raise NotImplementedError

    def __getstate__(self):
        from multiprocessing.context import get_spawning_popen

        if get_spawning_popen() is not None:  # a worker being started: share the slots
            return dict(self.__dict__)
        return self.frozen_state()
