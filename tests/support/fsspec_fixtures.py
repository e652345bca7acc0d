"""What the fsspec suites (tests/fsspec) share: the storage options that
reach a LocalOssServer, and fsspec's abstract test fixtures implemented for
OssFsspecFileSystem."""

import posixpath

import pytest


def storage_options(srv):
    """What a user passes as storage_options to reach srv."""
    return {"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region}


class OssAbstractFixtures:
    """fsspec.tests.abstract's fixtures for OSS (mixed in before
    AbstractFixtures): the filesystem and a fresh prefix from
    tests/fsspec/conftest.py. OSS has no empty directories (a directory is a
    key prefix), so the suites make one by writing a file into it; paths
    join with "/" whatever the platform."""

    @pytest.fixture
    def fs(self, oss_fs):
        return oss_fs

    @pytest.fixture
    def fs_path(self, root):
        return root

    @pytest.fixture
    def fs_join(self):
        return posixpath.join

    @pytest.fixture
    def supports_empty_directories(self):
        return False
