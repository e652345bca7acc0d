"""Fixtures every suite may use. Every test starts the local OSS server it
needs: `oss_module` below, or the `local_oss_server` fixtures of
osstorchconnector.testing.pytest_plugin (registered by the installed
package). Helpers the suites share are in the `support` package beside this
file (tests/ is on pytest's pythonpath, see pyproject.toml)."""

import pytest

from osstorchconnector.testing import LocalOssServer


@pytest.fixture(scope="module")
def oss_module():
    """One server per test module, with bucket `test-bucket`."""
    with LocalOssServer(["test-bucket"]) as srv:
        yield srv
