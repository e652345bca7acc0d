"""What the integration suites share."""

import pytest


@pytest.fixture
def fresh(srv):
    """The module's server (its srv fixture) with counters at zero and no
    faults (cleared again after the test)."""
    srv.clear_faults()
    srv.settled_stats()
    srv.reset_stats()
    yield srv
    srv.clear_faults()
