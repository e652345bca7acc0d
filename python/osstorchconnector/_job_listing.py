"""One listing per job: the distributed ranks of a job that read one prefix
(shard_by_rank=True) share its listing instead of each listing it.

The ranks meet at the job's rendezvous store (the TCPStore at MASTER_ADDR:
MASTER_PORT that torch.distributed's env:// initialisation and torchrun use),
which the DataLoader worker that lists for its rank reaches as one more
client. Per rank, each iteration of the prefix takes the next number of a
counter kept in the store (``<base>/rank<r>/seq``), so the k-th iteration of
every rank meets under the key ``<base>/<k>``; the first rank there
(``<key>/claim``) lists and publishes the listing chunk by chunk as it
arrives (``<key>/<n>``: a tagged, pickled chunk, then an end mark); the
others read the chunks in order. Each chunk is deleted by the last of the
other ranks to read it. The base names the endpoint, bucket and prefix and
the job's restart count (torchrun), never a per-process id.

The lister's first record is the epoch it lists for; a reader in another
epoch (ranks that iterate the dataset a different number of times) lists
for itself instead of taking a listing that may be older, and says so once
in the log.

What a reader can meet:
- the lister stops early (its epoch was abandoned): it marks where, and the
  reader lists the prefix itself from there (skipping what it had);
- the lister fails: its error, raised in every rank after what came before;
- no chunk for OSSTORCH_JOB_LISTING_TIMEOUT_S seconds: a RuntimeError.
Chunks no rank reads (a rank that stops iterating) stay in the store until
the rank that claims iteration k + 2 deletes what is left of iteration k;
in a DDP job no rank is two epochs behind another.

docs/listing.md ("One listing per job") says what it costs and how to turn
it off (OSSTORCH_JOB_LISTING=0).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import time
from datetime import timedelta
from typing import Callable, Iterator, NamedTuple, Optional, Sequence

from ._listing import Listing
from ._shared_listing import _pickled_error

log = logging.getLogger(__name__)

# The store's libuv server refuses values above 8 MiB; a chunk that pickles
# larger is published in pieces of at most this many bytes.
_MAX_VALUE = 4 << 20
_CONNECT_TIMEOUT = timedelta(seconds=5)
_EPOCH, _CHUNK, _END, _ERROR, _STOPPED = b"h", b"c", b"e", b"x", b"s"

_unreachable: set = set()  # (host, port) this process could not reach: not tried again
_warned = set()  # what this process has warned about once


class JobListing(NamedTuple):
    """Where this rank meets the others for one prefix in one epoch (picklable)."""

    host: str
    port: int
    base: str
    rank: int
    world: int
    epoch: int = 0


def distributed() -> bool:
    """Whether torch.distributed is initialised in this process."""
    try:
        import torch.distributed as dist

        return dist.is_available() and dist.is_initialized()
    except Exception:
        return False


def for_job(source: str, rank: int, world: int, dist_up: bool, epoch: int = 0) -> Optional[JobListing]:
    """The meeting place of source (what is listed: endpoint, bucket,
    prefix) for rank of world, or None when this rank lists for itself:
    a single rank, torch.distributed not initialised (dist_up: it is, here
    or in the process that made this DataLoader worker), no MASTER_ADDR /
    MASTER_PORT, or OSSTORCH_JOB_LISTING=0."""
    if world <= 1 or os.environ.get("OSSTORCH_JOB_LISTING", "1") == "0":
        return None
    host, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    if not (dist_up or distributed()) or not host or not port.isdigit():
        return None
    restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    digest = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=12).hexdigest()
    return JobListing(host, int(port), f"osstorch/listing/{restart}/{digest}", rank, world, epoch)


def _timeout_s() -> float:
    return float(os.environ.get("OSSTORCH_JOB_LISTING_TIMEOUT_S", "900"))


def _warn_once(what: str, msg: str, *args) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning(msg, *args)


def _connect(job: JobListing):
    if (job.host, job.port) in _unreachable:
        return None
    try:
        import torch.distributed as dist

        return dist.TCPStore(job.host, job.port, is_master=False, timeout=_CONNECT_TIMEOUT, wait_for_workers=False)
    except Exception as e:
        _unreachable.add((job.host, job.port))
        _warn_once(
            "connect",
            "one listing per job: cannot reach the rendezvous store at %s:%d (%s); each rank lists for itself",
            job.host,
            job.port,
            e,
        )
        return None


def chunks(
    job: Optional[JobListing],
    produce: Callable[[], Iterator[Sequence]],
    stopped: Callable[[], bool] = lambda: False,
) -> Iterator[Sequence]:
    """The listing that produce() makes, chunk by chunk: made here (and
    published) when this rank is the first of the job at this iteration,
    else read from the rank that made it."""
    store = _connect(job) if job is not None else None
    if store is None:
        yield from produce()
        return
    seq = store.add(f"{job.base}/rank{job.rank}/seq", 1)
    key = f"{job.base}/{seq}"
    if store.add(f"{key}/claim", 1) == 1:
        if seq > 2:
            _forget(store, f"{job.base}/{seq - 2}")
        yield from _lead(store, key, job.epoch, produce)
    else:
        yield from _follow(store, key, job, produce, stopped)


def _lead(store, key: str, epoch: int, produce: Callable[[], Iterator[Sequence]]) -> Iterator[Sequence]:
    n = 0

    def publish(tag: bytes, payload: bytes = b"") -> None:
        nonlocal n
        store.set(f"{key}/{n}", tag + payload)
        store.add(f"{key}/n", 1)  # how many there are, for _forget
        n += 1

    publish(_EPOCH, str(epoch).encode())
    listing = produce()
    done = False
    try:
        for chunk in listing:
            for piece in _pieces(chunk):
                publish(_CHUNK, piece)
            yield chunk
        done = True
        publish(_END)
    except GeneratorExit:
        raise
    except BaseException as e:
        publish(_ERROR, _pickled_error(e))
        raise
    finally:
        if not done:
            try:
                publish(_STOPPED)  # a no-op after an error: the readers stop at the error
            except Exception:
                pass
        close = getattr(listing, "close", None)
        if close is not None:
            close()


def _pieces(chunk: Sequence) -> Iterator[bytes]:
    """chunk pickled, split into runs that each pickle within _MAX_VALUE."""
    raw = pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)
    if len(raw) <= _MAX_VALUE or len(chunk) <= 1:
        yield raw
        return
    half = len(chunk) // 2
    yield from _pieces(chunk[:half])
    yield from _pieces(chunk[half:])


def _follow(
    store, key: str, job: JobListing, produce: Callable[[], Iterator[Sequence]], stopped: Callable[[], bool]
) -> Iterator[Sequence]:
    world = job.world
    n = 0
    received = 0
    while True:
        value = _wait(store, f"{key}/{n}", stopped)
        if value is None:
            return  # the consumer stopped
        if store.add(f"{key}/{n}/r", 1) >= world - 1:  # the last reader
            store.delete_key(f"{key}/{n}")
            store.delete_key(f"{key}/{n}/r")
        n += 1
        tag, payload = value[:1], value[1:]
        if tag == _EPOCH:
            if int(payload) != job.epoch:
                # the ranks have iterated the dataset a different number of times: the
                # other rank's listing is of another epoch, maybe older; list afresh
                _warn_once(
                    "epoch",
                    "one listing per job: rank %d in epoch %d met a listing made for epoch %d (the ranks iterate "
                    "the dataset a different number of times); it lists for itself when that happens",
                    job.rank,
                    job.epoch,
                    int(payload),
                )
                yield from produce()
                return
        elif tag == _CHUNK:
            chunk = pickle.loads(payload)
            received += len(chunk)
            yield chunk
        elif tag == _END:
            return
        elif tag == _ERROR:
            raise pickle.loads(payload)
        elif tag == _STOPPED:
            yield from _skipped(produce(), received)
            return
        else:
            raise RuntimeError(f"one listing per job: unexpected record {tag!r} under {key}")


def _wait(store, k: str, stopped: Callable[[], bool]) -> Optional[bytes]:
    """The value of k once it is set (polled: the store's blocking wait
    logs a warning at every timeout); None if stopped() first."""
    deadline = time.monotonic() + _timeout_s()
    pause = 0.002
    while not store.check([k]):
        if stopped():
            return None
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"one listing per job: the rank listing this epoch sent nothing for {_timeout_s():.0f} s "
                "(OSSTORCH_JOB_LISTING_TIMEOUT_S); did it stop, or does another rank read the dataset "
                "a different number of times? OSSTORCH_JOB_LISTING=0 makes each rank list for itself"
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.05)
    return store.get(k)


def _skipped(listing: Iterator[Sequence], skip: int) -> Iterator[Sequence]:
    """listing without its first skip entries."""
    try:
        for chunk in listing:
            if skip >= len(chunk):
                skip -= len(chunk)
                continue
            yield chunk[skip:] if skip else chunk
            skip = 0
    finally:
        close = getattr(listing, "close", None)
        if close is not None:
            close()


def _forget(store, key: str) -> None:
    """Delete what is left of an earlier iteration's listing."""
    if not store.check([f"{key}/n"]):
        return
    n = store.add(f"{key}/n", 0)
    for i in range(n):
        store.delete_key(f"{key}/{i}")
        store.delete_key(f"{key}/{i}/r")
    for k in ("n", "claim"):
        store.delete_key(f"{key}/{k}")


def in_chunks(listing: Sequence, size: int = 16384) -> Iterator[Sequence]:
    """A whole listing as chunks() publishes it: runs of at most size keys."""
    if len(listing) <= size:
        yield listing
        return
    for start in range(0, len(listing), size):
        yield listing[start : start + size]


def whole(job: Optional[JobListing], produce: Callable[[], Iterator[Sequence]]) -> Sequence:
    """The whole listing, as chunks() hands it out, in one sequence."""
    return concat(list(chunks(job, produce)))


def concat(parts: Sequence[Sequence]) -> Sequence:
    """parts one after the other: a Listing when they are Listings."""
    if len(parts) == 1:
        return parts[0]
    if parts and all(isinstance(p, Listing) for p in parts):
        return Listing.concat(parts)
    return [e for p in parts for e in p]
