"""OssIterableDataset: an iterable dataset over OSS objects."""

from __future__ import annotations

import io
import logging
import os
import random
from typing import Any, Callable, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch.utils.data

from . import _job_listing, _resume, _shared_listing
from ._data_object import DataObject
from ._dataset_common import _DatasetBase, identity, is_missing
from ._entries import Entry, to_entry
from ._epoch_counter import EpochCounter, token_of
from ._epoch_order import in_epoch_order
from ._listing import Listing
from ._listing_feed import ListingFeed
from ._oss_client import OssClient
from ._resume import Progress
from ._sharding import share_in, share_of
from ._sources import FromManifest, FromObjects, FromPrefix, Source, TarSource
from ._worker_slots import WorkerSlots, slot_index

log = logging.getLogger(__name__)

__all__ = ["OssIterableDataset"]


class _Split(NamedTuple):
    """Where one DataLoader worker of one rank stands in an epoch: the
    iteration's workers agree on the listing key (uuid, base seed,
    iteration) and each takes share ``worker_id * world + rank`` of
    ``total`` (worker-major: consecutive blocks go to the ranks in turn,
    then to the next worker of each)."""

    worker_id: int
    num_workers: int
    seed: Optional[int]  # the DataLoader's base seed (None without workers)
    rank: int
    world: int
    iteration: int

    @property
    def share(self) -> int:
        return self.worker_id * self.world + self.rank

    @property
    def total(self) -> int:
        return self.world * self.num_workers

    def share_of_worker(self, w: int) -> int:
        return w * self.world + self.rank


def _rank_and_world() -> Tuple[int, int]:
    """Read at iteration time: torch.distributed if initialised, else the
    RANK / WORLD_SIZE that torchrun sets, else a single process."""
    if _job_listing.distributed():
        import torch.distributed as dist

        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


class OssIterableDataset(_DatasetBase, torch.utils.data.IterableDataset):
    """An iterable dataset: each epoch one worker lists (or reads the
    manifest), all DataLoader workers share that list, and each fetches its
    disjoint share concurrently, yielding objects as they arrive (so the
    order within a worker is not the listing order). Together the workers
    deliver every object exactly once per epoch.

    ``shard_by_rank=True`` (not in upstream) also splits the objects across
    distributed ranks, read at iteration time.

    ``shuffle=True`` (upstream has it for from_tar only) reads each epoch in
    an order that is a pure function of (listing, seed, epoch), delivered in
    that order by each worker; with ``batch_size`` (the DataLoader's) the
    workers and ranks take whole batches in turn, so the DataLoader yields
    the same sequence for any number of workers (docs/shuffle.md).
    ``set_epoch(n)`` picks the epoch; otherwise each iteration is the next.
    """

    def __init__(
        self,
        endpoint: str,
        cred_path: str,
        config_path: str,
        get_dataset_objects: Callable[[OssClient], Iterable[Entry]],
        transform: Callable[[DataObject], Any] = identity,
        cred_provider: Any = None,
        from_tar: bool = False,
        shuffle: bool = False,
        shuffle_chunk_size: int = 1000,
        region: str = "",
        shard_by_rank: bool = False,
        seed: Optional[int] = None,
        batch_size: Optional[int] = None,
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> None:
        self._init_common(endpoint, cred_path, config_path, transform, cred_provider, region, cache_path, cache_bytes)
        if from_tar and not isinstance(get_dataset_objects, TarSource):
            raise ValueError("from_tar=True needs a TarSource; use OssIterableDataset.from_tar")
        if shuffle_chunk_size < 1:
            raise ValueError("shuffle_chunk_size must be at least 1")
        if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        self._block = 1 if batch_size is None else int(batch_size)
        self._ordered = shuffle or batch_size is not None
        self._tar = get_dataset_objects if from_tar else None
        self._shuffle, self._chunk_size, self._seed = shuffle, shuffle_chunk_size, seed
        self._get_dataset_objects = get_dataset_objects
        self._shard_by_rank = shard_by_rank
        self._dist_up = False  # torch.distributed initialised where this copy was pickled (see _job_listing)
        self._epochs = EpochCounter()
        self._iterations = 0  # iterations this process has begun (see _epoch_counter)
        self._skips = _SkipCount()

    @property
    def skipped(self) -> int:
        """How many missing objects (no such key) were skipped since this
        dataset was made, summed over this process and its DataLoader
        workers (not across distributed ranks). Each is also named in the
        log (the first 10 of each worker's epoch, then a summary)."""
        return self._skips.value

    @classmethod
    def from_objects(
        cls,
        object_uris: Union[str, Iterable[str]],
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        shard_by_rank: bool = False,
        shuffle: bool = False,
        seed: Optional[int] = None,
        batch_size: Optional[int] = None,
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssIterableDataset":
        uris = [object_uris] if isinstance(object_uris, str) else list(object_uris or [])
        return cls(
            endpoint,
            cred_path,
            config_path,
            FromObjects(uris),
            transform=transform,
            cred_provider=cred_provider,
            region=region,
            shard_by_rank=shard_by_rank,
            shuffle=shuffle,
            seed=seed,
            batch_size=batch_size,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    @classmethod
    def from_prefix(
        cls,
        oss_uri: str,
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        shard_by_rank: bool = False,
        shuffle: bool = False,
        seed: Optional[int] = None,
        batch_size: Optional[int] = None,
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssIterableDataset":
        return cls(
            endpoint,
            cred_path,
            config_path,
            FromPrefix(oss_uri),
            transform=transform,
            cred_provider=cred_provider,
            region=region,
            shard_by_rank=shard_by_rank,
            shuffle=shuffle,
            seed=seed,
            batch_size=batch_size,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    @classmethod
    def from_manifest_file(
        cls,
        manifest_file_path: str,
        manifest_parser: Callable[[io.IOBase], Iterable[Tuple[str, str]]],
        oss_base_uri: str,
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        region: str = "",
        shard_by_rank: bool = False,
        shuffle: bool = False,
        seed: Optional[int] = None,
        batch_size: Optional[int] = None,
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssIterableDataset":
        return cls(
            endpoint,
            cred_path,
            config_path,
            FromManifest(manifest_file_path, manifest_parser, oss_base_uri),
            transform=transform,
            cred_provider=cred_provider,
            region=region,
            shard_by_rank=shard_by_rank,
            shuffle=shuffle,
            seed=seed,
            batch_size=batch_size,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    @classmethod
    def from_tar(
        cls,
        tar_uri: str,
        tar_index_uri: str,
        endpoint: str,
        *,
        cred_path: str = "",
        cred_provider: Any = None,
        config_path: str = "",
        transform: Callable[[DataObject], Any] = identity,
        shuffle: bool = False,
        shuffle_chunk_size: int = 1000,
        region: str = "",
        seed: Optional[int] = None,
        shard_by_rank: bool = False,
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> "OssIterableDataset":
        """Members of a tar archive on OSS. The members are cut into chunks of
        shuffle_chunk_size consecutive members (one ranged read each); with
        shuffle the chunk order is shuffled, the same for the same seed
        (default: the epoch's DataLoader seed). Workers and ranks take
        disjoint sets of chunks."""
        return cls(
            endpoint,
            cred_path,
            config_path,
            TarSource(tar_uri, tar_index_uri),
            transform=transform,
            cred_provider=cred_provider,
            from_tar=True,
            shuffle=shuffle,
            shuffle_chunk_size=shuffle_chunk_size,
            region=region,
            shard_by_rank=shard_by_rank,
            seed=seed,
            cache_path=cache_path,
            cache_bytes=cache_bytes,
        )

    def shuffle(self, generator: Optional[torch.Generator] = None) -> None:
        """Shuffle from now on, with a seed drawn from generator (default:
        torch's global generator), as upstream's method does for from_tar
        (the chunk order); ours shuffles the other sources too. Each epoch
        then takes its own order from that seed, the same in every worker
        and rank."""
        if not isinstance(self._get_dataset_objects, (Source, TarSource)):
            raise TypeError(
                "shuffle() needs a dataset made by from_prefix, from_objects, from_manifest_file or from_tar"
            )
        self._seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        self._shuffle = self._ordered = True

    def __getstate__(self):
        state = super().__getstate__()
        # spawned DataLoader workers do not see the main process's process group: tell them it is up
        state["_dist_up"] = self._dist_up or (self._shard_by_rank and _job_listing.distributed())
        return state

    def set_epoch(self, epoch: int) -> None:
        """The epoch the next iteration reads (its shuffled order); each
        iteration after it reads the next. As DistributedSampler.set_epoch:
        call it before the DataLoader's iterator is made; it reaches workers
        that persist across epochs too (the epoch counter is in shared
        memory)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self._epochs.set(epoch)

    def _shuffle_seed(self, loader_seed: Optional[int], world: int) -> int:
        """The seed of this epoch's order: the dataset's, else the
        DataLoader's base seed (the same in all its workers), else torch's."""
        if self._seed is not None:
            return self._seed
        if world > 1:
            raise ValueError(
                "shuffle across distributed ranks needs seed=... (the same on every rank); "
                "without it each rank would shuffle its own way and read some objects twice and others never"
            )
        return loader_seed if loader_seed is not None else torch.initial_seed()

    def _tar_chunks(self, n: int, order_seed: Optional[int], epoch: int) -> List[Tuple[int, int]]:
        chunks = [(s, min(self._chunk_size, n - s)) for s in range(0, n, self._chunk_size)]
        if order_seed is not None:
            random.Random(f"{order_seed}-{epoch}").shuffle(chunks)
        return chunks

    def _iterate_tar(
        self, client: OssClient, share: int, total: int, order_seed: Optional[int], epoch: int, saved: Optional[dict]
    ) -> Tuple[Iterator[Tuple[int, Any]], tuple, Progress]:
        """(position, member) of this share's chunks, in order; the state's
        header; the progress (a resumed share skips what was delivered)."""
        tar = client.open_tar(self._tar.bucket, self._tar.tar_key, self._tar.index_key)
        mine = share_of(self._tar_chunks(len(tar.members), order_seed, epoch), share, total)
        shape = {
            "size": sum(n for _, n in mine),
            "first": list(mine[0]) if mine else [],
            "last": list(mine[-1]) if mine else [],
        }
        progress = Progress()
        if saved is not None:
            _resume.check_same_share(saved, shape)
            progress = Progress(saved["watermark"])  # members come in order: nothing above the watermark
            mine = _skip_members(mine, progress.watermark)
        members = enumerate(self._read_chunks(client, mine), start=progress.watermark)
        return members, ("tar", epoch, order_seed, share, total, shape), progress

    def _read_chunks(self, client: OssClient, chunks: List[Tuple[int, int]]) -> Iterator[Any]:
        group = 8  # chunks fetched together: their ranged reads run in parallel
        for g in range(0, len(chunks), group):
            starts = [s for s, _ in chunks[g : g + group]]
            sizes = [n for _, n in chunks[g : g + group]]
            yield from client.list_objects_from_tar(
                self._tar.bucket, self._tar.tar_key, self._tar.index_key, starts, sizes, include_errors=True
            )

    def _entries(self, client: OssClient, split: _Split, epoch: int, order_seed: Optional[int]) -> Sequence[Entry]:
        """This worker's share of the epoch's objects (see _sharding), in
        the epoch's order (shuffled with order_seed unless it is None); the
        listing is made once per epoch and rank (once per job when the
        ranks share it, see _job_listing)."""
        total, block = split.total, self._block

        def listed() -> Sequence[Entry]:
            src = self._get_dataset_objects
            if isinstance(src, FromPrefix):
                # nothing is fetched before the listing is whole: the core may list it concurrently
                bucket, prefix = src.bucket_and_prefix(client)
                job = self._job(split, epoch, bucket, prefix)
                if job is None:
                    entries = client.list_entries(bucket, prefix, concurrently=True)
                else:  # the other ranks receive it in chunks
                    entries = _job_listing.whole(
                        job, lambda: _job_listing.in_chunks(client.list_entries(bucket, prefix, concurrently=True))
                    )
            else:
                entries = _as_entries(src(client))
            return entries if order_seed is None else in_epoch_order(entries, order_seed, epoch)

        if split.num_workers <= 1:
            return share_of(listed(), split.share, total, block)
        # one worker of this iteration lists and hands each worker only its part
        return _shared_listing.shared(
            self._listing_key(split),
            split.num_workers,
            listed,
            worker_id=split.worker_id,
            split=lambda es, w: share_of(es, split.share_of_worker(w), total, block),
        )

    def _job(self, split: _Split, epoch: int, bucket: str, prefix: str) -> Optional[_job_listing.JobListing]:
        """Where the ranks share epoch's listing of bucket/prefix, or None
        (each rank lists for itself)."""
        if not (self._shard_by_rank and split.world > 1):
            return None
        # what the listing depends on; ETags come in it only with a cache
        source = "\0".join((self._endpoint, bucket, prefix, "etags" if self._cache else ""))
        return _job_listing.for_job(source, split.rank, split.world, self._dist_up, epoch)

    def _listing_key(self, split: _Split) -> str:
        return f"{self._uuid}-{split.seed}-{split.iteration}"

    def _streams(self, client: OssClient) -> bool:
        """Whether this epoch's share can be fetched while the listing
        arrives: a prefix in listing order (a shuffle needs the whole
        listing first, and so does a resume, to find what is left)."""
        return isinstance(self._get_dataset_objects, FromPrefix) and client.streams_listings

    def _streamed(
        self, client: OssClient, split: _Split, epoch: int
    ) -> Tuple[Iterator[Tuple[int, DataObject]], ListingFeed]:
        """This worker's share of a prefix, fetched as the listing arrives:
        one worker of the iteration lists, page by page, and hands each
        worker its part of every page (with no workers, this process lists
        for itself)."""
        total, block = split.total, self._block
        bucket, prefix = self._get_dataset_objects.bucket_and_prefix(client)
        prefetch = client.streamed_prefetch(include_errors=True, ordered=self._ordered)
        job = self._job(split, epoch, bucket, prefix)

        def listing() -> Iterator[Sequence[Entry]]:
            produce = lambda: client.list_entries_stream(bucket, prefix)  # noqa: E731
            return _job_listing.chunks(job, produce, stopped=lambda: prefetch.closed)

        if split.num_workers <= 1:
            parts = _parts(listing(), split.share, total, block)
        else:
            parts = _shared_listing.streamed(
                self._listing_key(split),
                split.num_workers,
                split.worker_id,
                listing,
                lambda chunk, start, w: share_in(chunk, start, split.share_of_worker(w), total, block),
                stopped=lambda: prefetch.closed,
            )
        feed = ListingFeed(parts, prefetch).start()

        def objects() -> Iterator[Tuple[int, DataObject]]:
            yield from prefetch  # closes it when done or abandoned
            if feed.error is not None:
                raise feed.error

        return objects(), feed

    def __iter__(self) -> Iterator[Any]:
        return _EpochIterator(self)

    def _epoch_objects(
        self, resume: Optional[dict], resuming: bool = False
    ) -> Tuple[Iterator[Tuple[Optional[int], DataObject]], Optional[tuple], Progress]:
        """This worker's (and rank's) objects of the next epoch (or of the
        saved one, resumed), untransformed, failed ones as error objects,
        each with its position in the share (None for a user's
        get_dataset_objects); the header of its resume state (None where it
        cannot resume); the progress through the share. resuming: the
        loader is resuming, even if this worker had not started (resume is
        then None) — all workers of a resumed epoch take the whole listing,
        the way the resumed ones must."""
        info = torch.utils.data.get_worker_info()
        worker_id, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        seed = info.seed - info.id if info is not None else None
        rank, world = _rank_and_world() if self._shard_by_rank else (0, 1)
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not within world size {world}")
        client = self._get_client()
        split = _Split(worker_id, num_workers, seed, rank, world, self._iterations)
        share, total = split.share, split.total
        self._iterations += 1  # in this process; persistent workers advance in lockstep
        kind = "tar" if self._tar is not None else "objects"
        if resume is not None and self._tar is None and not isinstance(self._get_dataset_objects, Source):
            raise ValueError(
                "a dataset over a user's get_dataset_objects cannot resume mid-epoch (its order is the user's); "
                "from_prefix, from_objects, from_manifest_file and from_tar can"
            )
        saved = _resume.checked(resume, kind, share, total) if resume is not None else None
        epoch = self._epochs.begin(
            info.id if info is not None else None, token_of(seed, split.iteration), saved["epoch"] if saved else None
        )
        if saved is not None:
            order_seed = saved["seed"]
        else:
            order_seed = self._shuffle_seed(seed, world) if self._shuffle else None
        if self._tar is not None:
            return self._iterate_tar(client, share, total, order_seed, epoch, saved)
        if not isinstance(self._get_dataset_objects, Source):
            return ((None, o) for o in self._users_objects(client.for_worker(share, total))), None, Progress()
        if not resuming and order_seed is None and self._streams(client):
            objects, feed = self._streamed(client, split, epoch)
            return objects, ("objects", epoch, None, share, total, feed.shape), Progress()
        entries = self._entries(client, split, epoch, order_seed)
        shape = _resume.fingerprint(entries)
        header = ("objects", epoch, order_seed, share, total, shape)
        if saved is None:
            objects = client.prefetch(
                entries, worker=(0, 1), include_errors=True, ordered=self._ordered, positions=True
            )
            return objects, header, Progress()
        _resume.check_same_share(saved, shape)
        progress = Progress(saved["watermark"], saved["extras"])
        rest = progress.remaining(len(entries))
        part = entries.take(rest) if isinstance(entries, Listing) else [entries[i] for i in rest]
        objects = client.prefetch(part, worker=(0, 1), include_errors=True, ordered=self._ordered, positions=True)
        return ((rest[j], o) for j, o in objects), header, progress

    def _users_objects(self, client: OssClient) -> Iterator[DataObject]:
        """A user's get_dataset_objects, called in each worker with a client
        whose share (_id of _total) is the worker's, as upstream's: objects
        it fetched itself (e.g. with client.list_objects_from_uris_with_preload,
        already this worker's share) come as they are; descriptors
        (new_data_object, URIs) are fetched, this worker's share of them."""
        pending = []
        for o in self._get_dataset_objects(client):
            if isinstance(o, DataObject) and (o._data is not None or o._reader is not None or o.err()):
                yield o
            else:
                pending.append(to_entry(o, client.parse_uri))
        if pending:  # the client's share: the worker's, or what the user's code set
            yield from client.prefetch(pending, include_errors=True)


def _parts(chunks: Iterator[Sequence[Entry]], share: int, total: int, block: int) -> Iterator[Sequence[Entry]]:
    """The share's part of each chunk of a listing that arrives in chunks."""
    start = 0
    try:
        for chunk in chunks:
            yield share_in(chunk, start, share, total, block)
            start += len(chunk)
    finally:
        chunks.close()


def _skip_members(chunks: List[Tuple[int, int]], k: int) -> List[Tuple[int, int]]:
    """chunks (start, count) without their first k members."""
    out = []
    for start, n in chunks:
        if k >= n:
            k -= n
            continue
        out.append((start + k, n - k))
        k = 0
    return out


def _as_entries(entries: Iterable[Entry]) -> Sequence[Entry]:
    """A compact Listing stays one (it pickles as a few buffers to the
    other workers); anything else becomes a list."""
    return entries if isinstance(entries, Listing) else list(entries)


class _EpochIterator:
    """What OssIterableDataset.__iter__ returns.

    The epoch is set up (client, listing, share) in the first __next__, not in
    iter(): torch's DataLoader worker reports an exception from iter(dataset)
    once and then answers every later request with UnboundLocalError, so the
    epoch would never end for a loop that goes on after an error
    (docs/dataloader-facts.md). A failed set-up raises once; then this
    worker's share is over.

    A missing object (no such key) is skipped, as upstream's iterator skips
    it, but not silently: it is named in the log (the first _SKIPS_LOGGED of
    the epoch, then a summary when the share ends) and counted in
    dataset.skipped. Any other object that fails (or whose transform raises)
    raises from the __next__ that reached it, and the next __next__ goes on
    with the following object.
    The worker hands the error to the main process and keeps pulling, so a
    loop that catches errors loses only what failed, plus, with a batch_size,
    the samples DataLoader had already collected into that batch. (A generator
    would be finished by the raise: the rest of the worker's share, silently
    gone. Upstream's is.)
    """

    def __init__(self, dataset: "OssIterableDataset") -> None:
        self._dataset = dataset
        self._objects: Optional[Iterator[Tuple[Optional[int], DataObject]]] = None
        self._skipped = 0
        self._resume: Optional[dict] = None  # a state handed to load_state_dict, for the set-up
        self._resuming = False  # load_state_dict was called, even with a worker's not-started state
        self._header: Optional[tuple] = None  # what state_dict says besides the progress
        self._progress = Progress()

    def __iter__(self) -> "_EpochIterator":
        return self

    def state_dict(self) -> dict:
        """Where this worker is in its share of the epoch (torchdata's
        StatefulDataLoader calls this in the worker as it produces batches,
        see docs/resume.md): a small dict of plain values."""
        if self._objects is None:  # not started: resuming it resumes what it was given
            return dict(self._resume) if self._resume is not None else {"version": _resume.VERSION, "started": False}
        if self._header is None:
            return {"version": _resume.VERSION, "resumable": False}
        *header, shape = self._header
        return _resume.state(*header, shape() if callable(shape) else shape, self._progress)

    def load_state_dict(self, state: dict) -> None:
        """Resume from a state_dict(): the first next() sets up the saved
        epoch and fetches only what was not delivered. Errors (another
        worker count or world size, a changed listing) raise from there."""
        if self._objects is not None:
            raise RuntimeError("load_state_dict() must come before the iterator's first next()")
        if not isinstance(state, dict) or state.get("version") != _resume.VERSION:
            raise ValueError("not a resume state of this version of osstorchconnector")
        self._resume = None if state.get("started") is False else dict(state)
        self._resuming = True

    def __next__(self) -> Any:
        if self._objects is None:
            self._objects = iter(())  # if the set-up raises, the next call ends the share
            self._objects, self._header, self._progress = self._dataset._epoch_objects(self._resume, self._resuming)
        while True:
            try:
                position, obj = next(self._objects)
            except StopIteration:
                self._summarise_skips()
                self._dataset._publish_stats()  # the share is over: what it did reaches stats()
                raise
            if position is not None:
                self._progress.add(position)
            if not is_missing(obj):
                return self._dataset._transformed(obj)
            self._skip(obj)

    def _skip(self, obj: DataObject) -> None:
        info = torch.utils.data.get_worker_info()
        self._dataset._skips.add(info.id if info is not None else None)
        self._skipped += 1
        if self._skipped <= _SKIPS_LOGGED:
            log.warning(
                "OssIterableDataset: skipping missing object %s (%s); the epoch goes on", obj.key, obj.error_msg()
            )

    def _summarise_skips(self) -> None:
        if self._skipped:
            more = f", {self._skipped - _SKIPS_LOGGED} of them not named above" if self._skipped > _SKIPS_LOGGED else ""
            log.warning(
                "OssIterableDataset: missing objects skipped in this epoch: %d%s (dataset.skipped counts them)",
                self._skipped,
                more,
            )
            self._skipped = 0


_SKIPS_LOGGED = 10  # missing objects named in the log per worker and epoch; then one summary line


class _SkipCount(WorkerSlots):
    """Missing objects an iterable dataset skipped, summed over the process
    that made it and its DataLoader workers: a slot per process (see
    _worker_slots). Pickled other than to a starting worker it becomes a
    plain number."""

    _SLOTS = 256

    def __init__(self) -> None:
        import multiprocessing.sharedctypes

        self._slots = multiprocessing.sharedctypes.RawArray("q", self._SLOTS)
        self._plain = 0

    def add(self, worker_id: Optional[int]) -> None:
        if self._slots is None:
            self._plain += 1
        else:
            self._slots[slot_index(worker_id, self._SLOTS)] += 1

    @property
    def value(self) -> int:
        return self._plain + (sum(self._slots) if self._slots is not None else 0)

    def frozen_state(self) -> dict:
        return {"_slots": None, "_plain": self.value}
