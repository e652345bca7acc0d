"""Exceptions raised by osstorchconnector.

Every failure of an OSS operation raises an :class:`OssError`. It is a
``RuntimeError``, as every failure of upstream's native core is, so a script
written for upstream (``except RuntimeError``) catches it at the same call.
Its subclasses also derive from the builtin exception a Python programmer
would catch for the same situation, so ``except FileNotFoundError`` works for
a missing object and ``except PermissionError`` for refused credentials. The
README's "Errors" table lists every failure with its types.
"""

from __future__ import annotations

import errno as _errno
from typing import Any, Mapping, Optional

__all__ = [
    "OssError",
    "OssNotFoundError",
    "OssPermissionError",
    "OssConnectionError",
    "OssInvalidArgumentError",
    "OssCanceledError",
    "OssInternalError",
]


class OssError(OSError, RuntimeError):
    """An OSS operation failed (an ``OSError`` and, as upstream's, a ``RuntimeError``).

    Attributes (``None`` where they do not apply):
        code: the OSS error code, e.g. ``"NoSuchKey"``
        status: the HTTP status of OSS's answer
        request_id: the ``x-oss-request-id`` to quote to Alibaba Cloud support
        op, bucket, key: what was being done
        kind: the core's classification (``"not_found"``, ``"network"``, ...)
    """

    default_errno = _errno.EIO

    def __init__(
        self,
        message: str,
        *,
        code: Optional[str] = None,
        status: Optional[int] = None,
        request_id: Optional[str] = None,
        op: Optional[str] = None,
        bucket: Optional[str] = None,
        key: Optional[str] = None,
        kind: Optional[str] = None,
        timeout: bool = False,
        integrity: bool = False,
    ) -> None:
        super().__init__(message)
        self.errno = self.default_errno
        self.strerror = message
        self.code, self.status, self.request_id = code, status, request_id
        self.op, self.bucket, self.key, self.kind = op, bucket, key, kind
        self.timeout, self.integrity = timeout, integrity

    def __str__(self) -> str:
        return self.strerror or ""

    def __reduce__(self):  # keep the details when pickled between DataLoader workers
        return (_rebuild, (type(self), self.strerror, self._details()))

    def _details(self) -> dict:
        return {
            "code": self.code,
            "status": self.status,
            "request_id": self.request_id,
            "op": self.op,
            "bucket": self.bucket,
            "key": self.key,
            "kind": self.kind,
            "timeout": self.timeout,
            "integrity": self.integrity,
        }


def _rebuild(cls, message, details):
    return cls(message, **details)


class OssNotFoundError(OssError, FileNotFoundError):
    """No such bucket, object or upload."""

    default_errno = _errno.ENOENT


class OssPermissionError(OssError, PermissionError):
    """Credentials are missing, wrong or not allowed to do this."""

    default_errno = _errno.EACCES


class OssConnectionError(OssError, ConnectionError):
    """The connection failed, timed out, or the data did not pass its integrity check."""

    default_errno = _errno.ECONNRESET

    def __init__(self, message: str, **details) -> None:
        super().__init__(message, **details)
        # say what happened, not "reset by peer": the core flags timeouts and failed CRC-64 checks (a
        # timeout the SDK reports only in words is still recognised by them)
        if self.timeout or "timeout" in message.lower():
            self.errno = _errno.ETIMEDOUT
        elif self.integrity:
            self.errno = _errno.EIO


class OssInvalidArgumentError(OssError, ValueError):
    """A bad argument or configuration value."""

    default_errno = _errno.EINVAL


class OssCanceledError(OssError):
    """The operation was canceled."""

    default_errno = _errno.ECANCELED


class OssInternalError(OssError, RuntimeError):
    """A bug in osstorchconnector's core; please report it."""


# The error kinds, once: (name, status, exception class). The name is what
# the core writes as "kind" in its error JSON (Go's connector.Kind.String),
# the status what a C export returns for it (ost_status in osstorch.h).
# tests/errors/test_error_kinds.py holds the header and the Go sources to this table.
KINDS = (
    ("internal", 1, OssInternalError),
    ("invalid", 2, OssInvalidArgumentError),
    ("not_found", 3, OssNotFoundError),
    ("permission", 4, OssPermissionError),
    ("service", 5, OssError),
    ("network", 6, OssConnectionError),
    ("canceled", 7, OssCanceledError),
)

_BY_KIND = {name: cls for name, _, cls in KINDS}
_KIND_BY_STATUS = {status: name for name, status, _ in KINDS}


def kind_of_status(status: int) -> str:
    """The kind a C status stands for ("internal" for one we do not know)."""
    return _KIND_BY_STATUS.get(status, "internal")


_BY_ERRNO = {
    _errno.ENOENT: OssNotFoundError,
    _errno.EACCES: OssPermissionError,
    _errno.EPERM: OssPermissionError,
    _errno.ECONNRESET: OssConnectionError,
    _errno.ETIMEDOUT: OssConnectionError,
    _errno.EINVAL: OssInvalidArgumentError,
    _errno.ECANCELED: OssCanceledError,
}


def error_for(eno: int, message: str, exc: Optional[BaseException] = None) -> OssError:
    """A fresh exception saying message for a failure recorded as (errno,
    exception), e.g. in a DataObject: of exc's class, with its details, if
    it is an OssError, else of the OssError subclass for eno."""
    if isinstance(exc, OssError):
        return type(exc)(message, **exc._details())
    cls = _BY_ERRNO.get(eno, OssError)
    if cls is OssConnectionError and eno == _errno.ETIMEDOUT:
        return cls(message, timeout=True)
    e = cls(message)
    e.errno = eno or e.errno
    return e


def error_from_details(details: Mapping[str, Any]) -> OssError:
    """Build the exception for an error reported by the core."""
    cls = _BY_KIND.get(str(details.get("kind")), OssError)
    return cls(
        str(details.get("message", "unknown error")),
        code=details.get("code") or None,
        status=details.get("status") or None,
        request_id=details.get("request_id") or None,
        op=details.get("op") or None,
        bucket=details.get("bucket") or None,
        key=details.get("key") or None,
        kind=details.get("kind"),
        timeout=bool(details.get("timeout")),
        integrity=bool(details.get("integrity")),
    )
