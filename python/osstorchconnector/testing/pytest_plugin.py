"""pytest fixtures for a local OSS server (registered automatically via the
``pytest11`` entry point when osstorchconnector is installed).

    def test_read(local_oss_server):
        local_oss_server.put_object("test-bucket", "a", b"x")
        ...
"""

from __future__ import annotations

import pytest

from . import LocalOssServer


@pytest.fixture
def local_oss_server():
    """A fresh server with one bucket, ``test-bucket``, for one test."""
    with LocalOssServer(["test-bucket"]) as srv:
        yield srv


@pytest.fixture(scope="session")
def local_oss_server_session():
    """One server shared by a whole test session (faults are cleared per use by the caller)."""
    with LocalOssServer(["test-bucket"]) as srv:
        yield srv
