"""The local OSS server (ossemu) with both OSS SDKs on the same data (what
one writes the other reads identically), and the CRC-64 reference the other
interoperability tests rely on."""

from __future__ import annotations

import pytest

from support.interop import BUCKET, KIB, crc64, make_oss2_bucket, make_v2_client, md5_etag, payload, uniq
from support.server import settled_stats

oss2 = pytest.importorskip("oss2")
oss = pytest.importorskip("alibabacloud_oss_v2")

pytestmark = pytest.mark.timeout(60)


def test_crc64_reference():
    # The check value of CRC-64/XZ; guards the helper the other tests rely on.
    assert crc64(b"123456789") == 11051210869376104954
    assert crc64(b"") == 0


def test_cross_client_consistency(srv):
    """What one SDK writes the other reads identically (etag, crc, size, listing)."""
    b = make_oss2_bucket(srv, "v1")
    c = make_v2_client(srv, "v4")
    p = uniq("cross")
    data = payload(123 * KIB, 90)
    b.put_object(p + "from oss2 ü", data)
    c.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "from v2 +", body=data))
    h1 = c.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=p + "from oss2 ü"))
    h2 = b.head_object(p + "from v2 +")
    assert h1.etag.strip('"') == h2.etag == md5_etag(data)
    assert int(h1.hash_crc64) == int(h2.headers["x-oss-hash-crc64ecma"]) == crc64(data)
    srv.reset_stats()
    l1 = [o.key for o in oss2.ObjectIteratorV2(b, prefix=p, max_keys=1)]
    l2 = [
        o.key
        for page in c.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=1)
        )
        for o in page.contents
    ]
    assert l1 == l2 == [p + "from oss2 ü", p + "from v2 +"]
    # two keys, one per page, no empty trailing page: 2 requests per client
    st = settled_stats(srv)  # the server counts a request once answered, maybe after the client moved on
    assert st["requests"] == {"ListObjectsV2": {"200": 4}}, st
    assert st["list_pages"] == 4
