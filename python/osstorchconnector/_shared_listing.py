"""One listing per epoch, shared by all DataLoader workers of an iterable
dataset.

Every worker of one epoch computes the same key: (dataset uuid, base seed,
epoch counter) — docs/dataloader-facts.md says why. The first worker to create
``<key>.lock`` (O_EXCL) builds the list and publishes it as ``<key>.list``
(written aside, then renamed); the others wait for it, checking that the
leader is still alive (if it died, one of them takes over). Each worker
marks itself in ``<key>.done``; the last one removes the files. The files
live in /dev/shm when available (OSSTORCH_SHARE_DIR overrides).

streamed() hands a listing out as it arrives instead: the leader publishes
each worker's part of every page it lists as ``<key>.part.<worker>.<n>``
(the follower reads and removes them in order), then the number of parts
each worker got as ``<key>.end``; so every worker starts fetching after the
first page, not after the whole listing (docs/listing.md).
"""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
import time
from typing import Callable, Iterable, Iterator, Optional, Sequence, TypeVar

T = TypeVar("T")

_STALE_S = 24 * 3600


def share_dir() -> str:
    d = os.environ.get("OSSTORCH_SHARE_DIR")
    if d:
        return d
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def shared(
    key: str,
    num_workers: int,
    produce: Callable[[], T],
    poll_s: float = 0.005,
    *,
    worker_id: int = 0,
    split: Optional[Callable[[T, int], T]] = None,
) -> T:
    """Return produce()'s result, computed once by one of num_workers callers
    that pass the same key. With split, each caller gets only its part,
    split(result, worker_id): the producer publishes one file per worker
    and a worker reads only its own."""
    base = os.path.join(share_dir(), f"osstorch-{key}")
    lock, result, error, done = base + ".lock", base + ".list", base + ".err", base + ".done"
    parts = [f"{result}.{w}" for w in range(num_workers)] if split is not None else []
    files = (lock, result, error, done, *parts)
    while True:
        if os.path.exists(result) or os.path.exists(error):
            break
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            try:
                with open(lock) as f:
                    leader = int(f.read().strip() or "0")
            except (FileNotFoundError, ValueError):
                leader = 0
            if leader and not _alive(leader) and not (os.path.exists(result) or os.path.exists(error)):
                try:  # the leader died before publishing: take over
                    os.unlink(lock)
                except FileNotFoundError:
                    pass
                continue
            time.sleep(poll_s)
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        _clean_stale()
        try:
            value = produce()
            if split is None:
                _publish(result, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
                return _finish(value, done, num_workers, files)
            mine = value
            for w, part in enumerate(parts):
                piece = split(value, w)
                _publish(part, pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL))
                if w == worker_id:
                    mine = piece
            _publish(result, b"")  # the parts are all there
            return _finish(mine, done, num_workers, files)
        except BaseException as e:
            _publish(error, pickle.dumps(e))
            raise
    if os.path.exists(error):
        with open(error, "rb") as f:
            exc = pickle.load(f)
        _finish(None, done, num_workers, files)
        raise exc
    with open(parts[worker_id] if split is not None else result, "rb") as f:
        value = pickle.load(f)
    return _finish(value, done, num_workers, files)


def streamed(
    key: str,
    num_workers: int,
    worker_id: int,
    chunks: Callable[[], Iterable[Sequence]],
    part: Callable[[Sequence, int, int], Sequence],
    stopped: Callable[[], bool] = lambda: False,
    poll_s: float = 0.005,
) -> Iterator[Sequence]:
    """This worker's parts of a listing that one of num_workers callers
    passing the same key makes, as chunks() yields it: part(chunk, start, w)
    is worker w's part of the chunk that begins at position start of the
    listing. The leader publishes every other worker's part of a chunk as
    soon as the chunk is there. A follower polls; it returns early once
    stopped() is true, and raises the leader's error, or a RuntimeError if
    the leader stopped or died before the end."""
    base = os.path.join(share_dir(), f"osstorch-{key}")
    lock, end, error, done = base + ".lock", base + ".end", base + ".err", base + ".done"
    files = (lock, end, error, done)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        fd = None
    try:
        if fd is not None:
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            _clean_stale()
            yield from _lead(base, num_workers, worker_id, chunks, part, stopped)
        else:
            yield from _follow(base, worker_id, stopped, poll_s)
    finally:
        _finish(None, done, num_workers, files, base + ".part.*")


def _lead(base, num_workers, worker_id, chunks, part, stopped) -> Iterator[Sequence]:
    counts = [0] * num_workers
    start = 0
    finished = False
    listing = iter(chunks())
    try:
        for chunk in listing:
            for w in range(num_workers):
                if w == worker_id:
                    continue
                piece = part(chunk, start, w)
                if len(piece):
                    _publish(f"{base}.part.{w}.{counts[w]}", pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL))
                    counts[w] += 1
            mine = part(chunk, start, worker_id)
            start += len(chunk)
            if len(mine):
                yield mine
            if stopped():
                break
        else:
            finished = True
            _publish(base + ".end", pickle.dumps(counts))
    except BaseException as e:
        stop = RuntimeError("the DataLoader worker listing this epoch stopped early")
        _publish(base + ".err", _pickled_error(stop if isinstance(e, GeneratorExit) else e))
        raise
    finally:
        close = getattr(listing, "close", None)
        if close is not None:
            close()
    if not finished:
        _publish(base + ".err", _pickled_error(RuntimeError("the DataLoader worker listing this epoch stopped early")))


def _follow(base, worker_id, stopped, poll_s) -> Iterator[Sequence]:
    n = 0
    leader = 0
    while not stopped():
        path = f"{base}.part.{worker_id}.{n}"
        try:
            with open(path, "rb") as f:
                piece = pickle.load(f)
        except FileNotFoundError:
            pass
        else:
            os.unlink(path)
            n += 1
            yield piece
            continue
        if os.path.exists(base + ".end"):  # published after every part
            with open(base + ".end", "rb") as f:
                if n >= pickle.load(f)[worker_id]:
                    return
            continue
        if os.path.exists(base + ".err"):
            with open(base + ".err", "rb") as f:
                raise pickle.load(f)
        if not leader:
            try:
                with open(base + ".lock") as f:
                    leader = int(f.read().strip() or "0")
            except (FileNotFoundError, ValueError):
                pass
        if leader and not _alive(leader):
            raise RuntimeError(f"the DataLoader worker listing this epoch (pid {leader}) died before the listing ended")
        time.sleep(poll_s)


def _pickled_error(e: BaseException) -> bytes:
    try:
        return pickle.dumps(e)
    except Exception:  # an exception that does not pickle: its text still reaches the other workers
        return pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))


def _publish(path: str, raw: bytes) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(raw)
    os.replace(tmp, path)


def _finish(value, done: str, num_workers: int, files, leftovers: str = "") -> T:
    fd = os.open(done, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    try:
        os.write(fd, b"x")  # one byte per worker; O_APPEND keeps them apart
        # the size through our descriptor: by its path, the file may already be gone (another worker
        # wrote the last byte between our write and our look, and removed the files)
        complete = os.fstat(fd).st_size >= num_workers
    finally:
        os.close(fd)
    if complete:
        for p in (*files, *(glob.glob(leftovers) if leftovers else ())):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
    return value


def _clean_stale() -> None:
    d = share_dir()
    now = time.time()
    try:
        names = os.listdir(d)
    except OSError:
        return
    for n in names:
        if n.startswith("osstorch-"):
            p = os.path.join(d, n)
            try:
                if now - os.path.getmtime(p) > _STALE_S:
                    os.unlink(p)
            except OSError:
                pass
