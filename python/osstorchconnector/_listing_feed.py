"""ListingFeed: the thread of a DataLoader worker (or of the main process)
that hands its share of an epoch's listing to a streamed prefetch as the
listing arrives, so that fetching starts after the first page rather than
after the whole listing (docs/listing.md).

It remembers the share's length and first and last keys as they pass:
resume states name the share by them (_resume.fingerprint), and a state
asked for before the listing has ended waits for it.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, Optional, Sequence

from ._entries import Entry


class ListingFeed:
    def __init__(self, parts: Iterator[Sequence[Entry]], stream) -> None:
        self._parts = parts
        self._stream = stream
        self._size = 0
        self._first = ""
        self._last = ""
        self.error: Optional[BaseException] = None
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="osstorch-listing-feed", daemon=True)

    def start(self) -> "ListingFeed":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for part in self._parts:
                n = len(part)
                if not n:
                    continue
                if not self._size:
                    self._first = part[0][1]
                self._last = part[n - 1][1]
                self._size += n
                self._stream.feed(part)
        except BaseException as e:  # the consumer raises it once what was fed is delivered
            if not self._stream.closed:
                self.error = e
        finally:
            try:
                self._parts.close()
            except BaseException as e:
                if self.error is None and not self._stream.closed:
                    self.error = e
            try:
                self._stream.end()
            except Exception:  # closed: nobody is waiting for the end
                pass
            self._ended.set()

    def shape(self) -> Dict[str, Any]:
        """_resume.fingerprint of the whole share (waits for the listing)."""
        self._ended.wait()
        return {"size": self._size, "first": self._first, "last": self._last}
