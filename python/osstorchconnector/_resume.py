"""Mid-epoch resume of iterable datasets: what a worker's epoch iterator
saves (torchdata's StatefulDataLoader asks for it with state_dict() as the
worker produces batches, and hands it back to load_state_dict() in the
worker of a new process), and how the delivered part of a share is kept.

A share is delivered in order (tar members) or as objects complete
(listed objects, unless shuffled), so the state keeps which positions of the
share were delivered: all below a watermark, plus the few above it that
completed early. A resumed epoch fetches exactly the rest, from the same
listing and order; a state saved with another number of workers or ranks, or
over a listing that has changed, is refused with a ValueError rather than
repeating or dropping samples (docs/resume.md).
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Sequence

VERSION = 1


class Progress:
    """The positions of a share delivered so far."""

    __slots__ = ("watermark", "extras")

    def __init__(self, watermark: int = 0, extras: Iterable[int] = ()) -> None:
        self.watermark = watermark
        self.extras = set(extras)

    def add(self, position: int) -> None:
        if position == self.watermark:
            self.watermark += 1
            extras = self.extras
            while extras and self.watermark in extras:
                extras.remove(self.watermark)
                self.watermark += 1
        else:
            self.extras.add(position)

    def remaining(self, size: int) -> List[int]:
        """The positions below size not yet delivered, in order."""
        return [i for i in range(self.watermark, size) if i not in self.extras]

    @property
    def count(self) -> int:
        return self.watermark + len(self.extras)


def fingerprint(entries: Sequence) -> Dict[str, Any]:
    """Enough of a share to tell that a resumed epoch lists the same one:
    its length and its first and last keys."""
    n = len(entries)
    return {"size": n, "first": entries[0][1] if n else "", "last": entries[n - 1][1] if n else ""}


def state(
    kind: str, epoch: int, seed: Optional[int], share: int, total: int, shape: Dict[str, Any], progress: Progress
) -> Dict[str, Any]:
    return {
        "version": VERSION,
        "kind": kind,
        "epoch": epoch,
        "seed": seed,
        "share": share,
        "total": total,
        **shape,
        "watermark": progress.watermark,
        "extras": sorted(progress.extras),
    }


def checked(saved: Dict[str, Any], kind: str, share: int, total: int) -> Dict[str, Any]:
    """saved, if it can resume a share `share` of `total` of a `kind`
    dataset; ValueError otherwise."""
    if not isinstance(saved, dict) or saved.get("version") != VERSION:
        raise ValueError(f"not a resume state of this version of osstorchconnector: {_brief(saved)}")
    if not saved.get("resumable", True):
        raise ValueError(
            "this state was saved by an iterable dataset over a user's get_dataset_objects, whose order is the "
            "user's: it cannot be resumed (from_prefix, from_objects, from_manifest_file and from_tar can)"
        )
    if saved.get("kind") != kind:
        raise ValueError(f"this state was saved by a {saved.get('kind')} dataset, not a {kind} one")
    if saved["total"] != total:
        raise ValueError(
            f"this state was saved with {saved['total']} shares (DataLoader workers x ranks), the loader now has "
            f"{total}: resume with the same num_workers and world size"
        )
    if saved["share"] != share:
        raise ValueError(f"this state is share {saved['share']}'s, not share {share}'s (worker and rank mixed up)")
    return saved


def check_same_share(saved: Dict[str, Any], shape: Dict[str, Any]) -> None:
    for k, v in shape.items():
        if saved.get(k) != v:
            raise ValueError(
                f"the dataset's listing has changed since the state was saved ({k}: {saved.get(k)!r} then, {v!r} "
                "now): resuming would repeat or skip samples"
            )


def _brief(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 80 else text[:77] + "..."
