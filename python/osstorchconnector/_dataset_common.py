"""What both dataset kinds share: the default transform, the client per
process, the error rule for a fetched object, entries from a
get_dataset_objects callable, the check that a transform survives
pickling, and stats()."""

from __future__ import annotations

import errno
import logging
import os
import pickle
from typing import Any, Callable, Dict, Iterable, List, Optional

from ._data_object import DataObject
from ._entries import Entry, to_entry
from ._listing import Listing
from ._oss_client import OssClient, cache_options
from ._stats import PUBLISH_EVERY, SharedStats, StatsLogger, flatten, summary
from .errors import OssError, error_for

log = logging.getLogger(__name__)


def identity(obj: Optional[DataObject]) -> Optional[DataObject]:
    """The default transform: an independent copy of the object."""
    return obj.copy() if obj is not None else None


class _DatasetBase:
    """Plain-data state (endpoint, credentials, entries, transform): datasets
    pickle into spawn/forkserver workers; the native client is made per process."""

    def _init_common(
        self,
        endpoint: str,
        cred_path: str,
        config_path: str,
        transform: Callable,
        cred_provider: Any,
        region: str,
        cache_path: str = "",
        cache_bytes: int = 0,
    ) -> None:
        if not endpoint:  # upstream's local-directory mode (see _local)
            log.warning("endpoint is empty, load from local directory")
        import uuid

        self._uuid = uuid.uuid4()
        self._endpoint = endpoint
        self._cred_path = cred_path or ""
        self._config_path = config_path or ""
        self._cred_provider = cred_provider
        self._region = region or ""
        self._cache = cache_options(cache_path, cache_bytes)  # checked here, so the constructor raises
        self._transform = transform
        self._client = None
        self._client_pid = None
        self._stats = SharedStats()
        self._delivered = [0, 0]  # samples and their bytes delivered by this process

    def stats(self) -> Dict[str, Any]:
        """What this dataset has done, summed over this process and its
        DataLoader workers, finished epochs and the current one: samples
        (objects) and their bytes delivered, requests (gets, lists,
        other_requests), bytes_in/out, retries, failed attempts by kind,
        busy_seconds (time with requests in flight, per process, summed),
        first-byte latency p50/p99 in ms. Workers publish every few dozen
        samples, so a running epoch's figures may lag a little."""
        if self._client is not None and self._client_pid == os.getpid():
            self._publish_stats()
        return summary(self._stats.totals())

    def log_stats(self, every: float = 60.0, logger: Optional[logging.Logger] = None) -> StatsLogger:
        """Log stats() at INFO every `every` seconds from a daemon thread (to
        the osstorchconnector.stats logger unless given one); .stop() ends it."""
        return StatsLogger(
            self.stats, every, logger or logging.getLogger("osstorchconnector.stats"), type(self).__name__
        )

    def _publish_stats(self) -> None:
        client = self._client if self._client_pid == os.getpid() else None
        raw = client.raw_stats() if client is not None else {}
        info = _worker_info()
        self._stats.publish(info.id if info is not None else None, flatten(raw, *self._delivered))

    def _get_client(self) -> OssClient:
        """This process's client (a worker makes its own: handles never cross processes)."""
        if self._client is None or self._client_pid != os.getpid():
            self._client = OssClient(
                self._endpoint,
                self._cred_path,
                self._config_path,
                str(self._uuid),
                cred_provider=self._cred_provider,
                region=self._region,
                **self._cache,
            )
            self._client_pid = os.getpid()
        return self._client

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_client"], state["_client_pid"] = None, None
        try:
            pickle.dumps(state["_transform"])
        except Exception as e:
            raise TypeError(
                f"the transform {self._transform!r} cannot be pickled ({e}); DataLoader workers started with "
                "multiprocessing_context='spawn' or 'forkserver' receive the dataset pickled: use a module-level "
                "function (not a lambda or a local function) or the default 'fork' context"
            ) from None
        return state

    def _transformed(self, obj: DataObject) -> Any:
        """upstream's _get_transformed_object_safe: a missing object gives
        transform(None); any other failure raises (a RuntimeError, as upstream's)."""
        delivered = self._delivered
        delivered[0] += 1
        delivered[1] += obj.size
        if delivered[0] % PUBLISH_EVERY == 0:
            self._publish_stats()
        eno = obj.err()
        if eno == 0:
            return self._transform(obj)
        log.error("%s get item %s failed: %s", type(self).__name__, obj.key, obj.error_msg())
        if is_missing(obj):
            return self._transform(None)
        raise _failure(obj)


def _worker_info():
    import torch.utils.data

    return torch.utils.data.get_worker_info()


def is_missing(obj: DataObject) -> bool:
    """The object (or its bucket) does not exist: errno ENOENT about the
    object itself, not e.g. about a missing credentials file."""
    exc = obj.exception()
    return obj.err() == errno.ENOENT and (not isinstance(exc, OssError) or bool(exc.bucket))


def _failure(obj: DataObject) -> OssError:
    """The exception for a failed fetch: upstream's RuntimeError message, and
    the OssError subclass of the failure (so also ConnectionError, ...)."""
    eno = obj.err()
    return error_for(
        eno,
        "failed to get next object, errno=%d(%s), msg=%s" % (eno, os.strerror(eno), obj.error_msg()),
        obj.exception(),
    )


def entries_of(objects: Iterable[Any], client: OssClient) -> List[Entry]:
    """Entries from what a get_dataset_objects callable returned: our own
    sources' entries, or (a user's callable, as upstream's) DataObjects made
    with new_data_object, or URIs."""
    if isinstance(objects, Listing):  # our own listing: kept compact, as it is
        return objects
    return [to_entry(o, client.parse_uri) for o in objects]
