"""The compatibility suite: every case runs the same snippet under upstream
osstorchconnector 1.2.3 (.venv-upstream) and under ours, against one local
server for the session, and compares what they report (see _runner.py).

Skipped, with the reason, where upstream cannot be had (no .venv-upstream
and it cannot be installed: `make upstream-venv` records why) or cannot
reach the server (no mount namespace and no root to edit /etc/hosts)."""

from __future__ import annotations

import shutil

import _runner
import pytest

from osstorchconnector.testing import LocalOssServer


@pytest.fixture(scope="session")
def compat():
    py, reason = _runner.upstream_or_reason()
    if not py:
        pytest.skip(f"upstream osstorchconnector {_runner.up.VERSION} is not available: {reason}")
    tmp = _runner.mkdtemp()
    srv = LocalOssServer([_runner.BUCKET], region=_runner.REGION).start()
    c = None
    try:
        for data in (_runner.SRC, _runner.OBJECTS, _runner.SHARE):
            for key, body in data.items():
                srv.put_object(_runner.BUCKET, key, body)
        try:
            c = _runner.Compat(srv, py, tmp)
        except PermissionError as e:
            ok, why = _runner.up.can_unshare()
            pytest.skip(
                f"upstream needs a host name for the local server: no private mount namespace ({why}) "
                f"and /etc/hosts cannot be changed ({e})"
            )
        yield c
    finally:
        if c is not None:
            c.close()
        srv.close()
        shutil.rmtree(tmp, ignore_errors=True)
