"""Fixtures of the fsspec suites: an OssFsspecFileSystem on the module's
local server (`oss_module`, tests/conftest.py) and a prefix of its own for
each test."""

import uuid

import pytest

from osstorchconnector.fsspec import OssFsspecFileSystem
from support.fsspec_fixtures import storage_options

BUCKET = "test-bucket"


@pytest.fixture
def oss_fs(oss_module):
    # a fresh instance per test: fsspec would hand back its cached one
    return OssFsspecFileSystem(skip_instance_cache=True, **storage_options(oss_module))


@pytest.fixture
def root():
    """A prefix of test-bucket that no other test uses."""
    return f"{BUCKET}/t-{uuid.uuid4().hex[:12]}"
