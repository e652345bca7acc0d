"""fsspec's own abstract test suites (fsspec.tests.abstract) on
OssFsspecFileSystem: copy within OSS, get to and put from the local file
system, open and pipe, each against the local OSS server. Every test of
them applies: OSS has no empty directories, which the suites allow for
(supports_empty_directories False, see support/fsspec_fixtures.py)."""

import fsspec.tests.abstract as abstract
import pytest

from support.fsspec_fixtures import OssAbstractFixtures


def _suite(name):
    """A suite class of fsspec's; one that this fsspec is too old to have
    becomes a single skipped test saying so."""
    cls = getattr(abstract, name, None)
    if cls is not None:
        return cls

    class Missing:
        def test_suite_present(self):
            pytest.skip(f"fsspec.tests.abstract has no {name} in this fsspec version")

    return Missing


class TestOssFsspecCopy(OssAbstractFixtures, abstract.AbstractFixtures, _suite("AbstractCopyTests")):
    pass


class TestOssFsspecGet(OssAbstractFixtures, abstract.AbstractFixtures, _suite("AbstractGetTests")):
    pass


class TestOssFsspecPut(OssAbstractFixtures, abstract.AbstractFixtures, _suite("AbstractPutTests")):
    pass


class TestOssFsspecOpen(OssAbstractFixtures, abstract.AbstractFixtures, _suite("AbstractOpenTests")):
    pass


class TestOssFsspecPipe(OssAbstractFixtures, abstract.AbstractFixtures, _suite("AbstractPipeTests")):
    pass
