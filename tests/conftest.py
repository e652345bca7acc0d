"""Shared fixtures. Every test starts the local OSS server it needs (the
`local_oss_server` fixtures come from osstorchconnector.testing.pytest_plugin,
registered by the installed package)."""
import pytest

from osstorchconnector.testing import LocalOssServer


@pytest.fixture(scope="module")
def oss_module():
    """One server per test module, with bucket `test-bucket`."""
    with LocalOssServer(["test-bucket"]) as srv:
        yield srv
