"""Fixtures of the interoperability tests: one server per module, and
clients of each SDK per signature version."""

import uuid

import pytest

from osstorchconnector.testing import LocalOssServer
from support.interop import BUCKET, make_oss2_bucket, make_v2_client


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET]) as s:
        yield s


@pytest.fixture(scope="module")
def sts_srv():
    with LocalOssServer([BUCKET], security_token="STS.tok-" + uuid.uuid4().hex) as s:
        yield s


@pytest.fixture(scope="module", params=["v1", "v4"])
def bucket(request, srv):
    """An oss2.Bucket signing with the parametrized auth version."""
    return make_oss2_bucket(srv, request.param)


@pytest.fixture(scope="module", params=["v4", "v1"])
def client(request, srv):
    """An alibabacloud_oss_v2.Client signing with the parametrized version."""
    return make_v2_client(srv, request.param)
