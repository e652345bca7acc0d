"""Waiting on the local server (LocalOssServer) before reading its stats.

The server counts a request once it has answered it, which can be after the
client has read the answer and moved on; and a test that acts "after N
parts were uploaded" must see the server's count, not guess from time.
Both waits poll the admin API; the timeouts only keep a broken run from
hanging, nothing depends on how fast the machine is.
"""

import time
from typing import Any, Callable, Dict, Optional

Stats = Dict[str, Any]


def answered(st: Stats, op: str, status: str = "200") -> int:
    """How many `op` requests (e.g. "GetObject") the server answered with `status`."""
    return st["requests"].get(op, {}).get(status, 0)


def stats_when(
    srv, until: Callable[[Stats], bool], timeout: float = 60.0, stop: Optional[Callable[[], bool]] = None
) -> Stats:
    """srv.stats() as soon as until(stats) holds; the last stats read when
    timeout passes or stop() says waiting is pointless (e.g. the thread that
    makes the requests has ended). The caller checks what it got."""
    deadline = time.monotonic() + timeout
    st = srv.stats()
    while not until(st) and time.monotonic() < deadline and not (stop and stop()):
        time.sleep(0.05)
        st = srv.stats()
    return st


def settled_stats(
    srv, until: Callable[[Stats], bool] = lambda st: True, what: str = "the server to settle", timeout: float = 60.0
) -> Stats:
    """srv.stats() once until(stats) holds and no request is in flight
    (LocalOssServer.settled_stats waits for the latter). Raises TimeoutError
    naming `what` if that does not happen within timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        st = srv.settled_stats(timeout=max(0.0, deadline - time.monotonic()))
        if until(st) and not st["concurrent"]:
            return st
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)
