"""The local OSS server (ossemu) through ``alibabacloud_oss_v2``, the new
Python SDK (V4 by default, also V1): every operation goes through the
client's own request building, signing and response parsing, so a server
that deviates from the protocol makes it fail (or return wrong data, which
the assertions check byte by byte)."""

from __future__ import annotations

import os

import pytest

from support.interop import (
    AWKWARD_KEYS,
    BUCKET,
    KIB,
    crc64,
    listed_keys,
    make_v2_client,
    md5_etag,
    payload,
    service_error,
    uniq,
)

oss = pytest.importorskip("alibabacloud_oss_v2")

pytestmark = pytest.mark.timeout(60)


class TestOssV2:
    def test_put_get_head(self, client):
        p = uniq("v2-put")
        data = payload(300 * KIB + 3, 40)
        r = client.put_object(
            oss.PutObjectRequest(
                bucket=BUCKET, key=p + "o.bin", body=data, metadata={"color": "red"}, content_type="application/x-test"
            )
        )
        assert r.status_code == 200
        assert r.etag == f'"{md5_etag(data)}"'
        assert int(r.hash_crc64) == crc64(data)
        assert r.request_id

        g = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "o.bin"))
        assert g.body.read() == data
        assert g.content_length == len(data)
        assert g.etag == r.etag
        assert g.metadata == {"color": "red"}
        assert g.content_type == "application/x-test"
        assert g.object_type == "Normal"

        h = client.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=p + "o.bin"))
        assert h.content_length == len(data)
        assert h.etag == r.etag
        assert h.last_modified == g.last_modified
        assert int(h.hash_crc64) == crc64(data)
        assert h.metadata == {"color": "red"}

        m = client.get_object_meta(oss.GetObjectMetaRequest(bucket=BUCKET, key=p + "o.bin"))
        assert m.content_length == len(data)
        assert m.etag == r.etag

        assert client.is_object_exist(BUCKET, p + "o.bin")
        assert not client.is_object_exist(BUCKET, p + "nope")

    def test_ip_endpoint_without_path_style_flag(self, srv):
        # The SDK forces path-style for an IP endpoint.
        c = make_v2_client(srv, "v4", path_style=False)
        p = uniq("v2-ip")
        c.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "k", body=b"ip"))
        assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "k")).body.read() == b"ip"

    def test_awkward_keys_roundtrip(self, client):
        p = uniq("v2-keys")
        for i, k in enumerate(AWKWARD_KEYS):
            client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + k, body=k.encode() * (i + 2)))
        for i, k in enumerate(AWKWARD_KEYS):
            g = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + k))
            assert g.body.read() == k.encode() * (i + 2)

    def test_ranged_get(self, client):
        p = uniq("v2-range")
        data = payload(1000, 41)
        client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "r", body=data))

        def get(rng, behavior=None):
            return client.get_object(
                oss.GetObjectRequest(bucket=BUCKET, key=p + "r", range_header=rng, range_behavior=behavior)
            )

        g = get("bytes=10-99")
        assert g.status_code == 206
        assert g.content_range == "bytes 10-99/1000"
        assert g.content_length == 90
        assert g.body.read() == data[10:100]
        g = get("bytes=-5")
        assert g.status_code == 206 and g.body.read() == data[-5:]
        g = get("bytes=999-")
        assert g.status_code == 206 and g.body.read() == data[999:]

        g = get("bytes=1000-2000")  # legacy: ignored
        assert g.status_code == 200 and g.content_range is None and g.body.read() == data
        g = get("bytes=0-1000")
        assert g.status_code == 200 and g.body.read() == data
        g = get("bytes=0-9,20-29")  # multi-range: the first range only
        assert g.body.read() == data[0:10]

        g = get("bytes=500-2000", "standard")
        assert g.status_code == 206
        assert g.content_range == "bytes 500-999/1000"
        assert g.body.read() == data[500:]
        with pytest.raises(oss.exceptions.OperationError) as ei:
            get("bytes=1000-2000", "standard")
        se = service_error(ei)
        assert (se.status_code, se.code) == (416, "InvalidRange")
        assert se.request_id

        # ReadOnlyFile always sends standard ranges and checks offsets/etags.
        with client.open_file(BUCKET, p + "r") as f:
            assert f.read(10) == data[:10]
            f.seek(700)
            assert f.read() == data[700:]
            f.seek(-50, os.SEEK_END)
            assert f.read(20) == data[950:970]

    def test_list_pagination(self, client, srv):
        p = uniq("v2-list")
        names = (
            [f"k{i:03d}" for i in range(23)]
            + AWKWARD_KEYS
            + ["d1/a", "d1/b", "d1/c/deep", "d2/x", "d 3/y", "d+4/z", "é/1", "é/2"]
        )
        for k in names:
            srv.put_object(BUCKET, p + k, k.encode())
        expected = sorted((p + k for k in names), key=lambda s: s.encode())

        # ListObjectsV2 paginator
        seen, pages = [], 0
        for page in client.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=5)
        ):
            pages += 1
            assert len(page.contents or []) <= 5
            assert page.key_count == len(page.contents or [])
            seen += [o.key for o in page.contents or []]
        assert seen == expected
        assert pages == -(-len(expected) // 5)

        # ListObjects (V1, marker) paginator
        seen = []
        for page in client.list_objects_paginator().iter_page(
            oss.ListObjectsRequest(bucket=BUCKET, prefix=p, max_keys=4)
        ):
            seen += [o.key for o in page.contents or []]
        assert seen == expected

        # sizes/etags
        for page in client.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=1000)
        ):
            for o in page.contents:
                raw = o.key[len(p) :].encode()
                assert o.size == len(raw)
                assert o.etag == f'"{md5_etag(raw)}"'

        # with a delimiter: each key / common prefix exactly once
        top = set()
        for k in names:
            head, sep, _ = k.partition("/")
            top.add(p + head + "/" if sep else p + k)
        for mk in (1, 2, 5):
            for pag, req in (
                (client.list_objects_v2_paginator(), oss.ListObjectsV2Request),
                (client.list_objects_paginator(), oss.ListObjectsRequest),
            ):
                got = []
                for page in pag.iter_page(req(bucket=BUCKET, prefix=p, delimiter="/", max_keys=mk)):
                    n = len(page.contents or []) + len(page.common_prefixes or [])
                    assert n <= mk
                    got += [o.key for o in page.contents or []]
                    got += [c.prefix for c in page.common_prefixes or []]
                assert len(got) == len(set(got)), (req.__name__, mk)
                assert set(got) == top, (req.__name__, mk)

        r = client.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix=p + "d1/", delimiter="/"))
        assert [o.key for o in r.contents] == [p + "d1/a", p + "d1/b"]
        assert [c.prefix for c in r.common_prefixes] == [p + "d1/c/"]
        assert r.is_truncated is False

    def test_multipart_low_level(self, client):
        p = uniq("v2-mpu")
        key = p + "big file+ü.bin"
        parts_data = [payload(100 * KIB, 50), payload(120 * KIB, 51), payload(1, 52)]
        init = client.initiate_multipart_upload(
            oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key, metadata={"kind": "mpu"})
        )
        assert init.upload_id
        assert init.key == key
        etags = {}
        for n in (3, 1, 2):
            r = client.upload_part(
                oss.UploadPartRequest(
                    bucket=BUCKET, key=key, upload_id=init.upload_id, part_number=n, body=parts_data[n - 1]
                )
            )
            assert r.etag == f'"{md5_etag(parts_data[n - 1])}"'
            assert int(r.hash_crc64) == crc64(parts_data[n - 1])
            etags[n] = r.etag
        lp = client.list_parts(oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=init.upload_id))
        assert [(x.part_number, x.size) for x in lp.parts] == [(1, 100 * KIB), (2, 120 * KIB), (3, 1)]
        ups = client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=BUCKET, prefix=p))
        assert [u.upload_id for u in ups.uploads] == [init.upload_id]
        r = client.complete_multipart_upload(
            oss.CompleteMultipartUploadRequest(
                bucket=BUCKET,
                key=key,
                upload_id=init.upload_id,
                complete_multipart_upload=oss.CompleteMultipartUpload(
                    parts=[oss.UploadPart(part_number=n, etag=etags[n]) for n in (1, 2, 3)]
                ),
            )
        )
        whole = b"".join(parts_data)
        assert r.key == key
        assert r.etag.strip('"').endswith("-3")
        assert int(r.hash_crc64) == crc64(whole)
        assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key)).body.read() == whole
        h = client.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=key))
        assert h.object_type == "Multipart"
        assert h.metadata == {"kind": "mpu"}
        assert h.etag == r.etag

        # abort
        init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key))
        client.abort_multipart_upload(oss.AbortMultipartUploadRequest(bucket=BUCKET, key=key, upload_id=init.upload_id))
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.list_parts(oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=init.upload_id))
        assert (service_error(ei).status_code, service_error(ei).code) == (404, "NoSuchUpload")

    def test_multipart_too_small(self, client):
        p = uniq("v2-mpu-small")
        key = p + "k"
        init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(bucket=BUCKET, key=key))
        parts = []
        for n in (1, 2):
            r = client.upload_part(
                oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=init.upload_id, part_number=n, body=b"s" * 1000)
            )
            parts.append(oss.UploadPart(part_number=n, etag=r.etag))
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.complete_multipart_upload(
                oss.CompleteMultipartUploadRequest(
                    bucket=BUCKET,
                    key=key,
                    upload_id=init.upload_id,
                    complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts),
                )
            )
        assert (service_error(ei).status_code, service_error(ei).code) == (400, "EntityTooSmall")
        assert not client.is_object_exist(BUCKET, key)

    def test_uploader_downloader(self, client, tmp_path):
        p = uniq("v2-uploader")
        data = payload(450 * KIB + 5, 60)
        up = client.uploader(part_size=100 * KIB, parallel_num=3)
        # from a non-seekable stream (always multipart) and from a file
        r = up.upload_from(oss.PutObjectRequest(bucket=BUCKET, key=p + "stream"), _Stream(data))
        assert r.upload_id
        assert int(r.hash_crc64) == crc64(data)
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        r = up.upload_file(oss.PutObjectRequest(bucket=BUCKET, key=p + "file"), str(src))
        assert r.upload_id
        for k in ("stream", "file"):
            h = client.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=p + k))
            assert h.object_type == "Multipart"
            assert h.etag.strip('"').endswith("-5")
            assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + k)).body.read() == data

        dst = tmp_path / "dst.bin"
        d = client.downloader(part_size=64 * KIB, parallel_num=3)
        r = d.download_file(oss.GetObjectRequest(bucket=BUCKET, key=p + "file"), str(dst))
        assert r.written == len(data)
        assert dst.read_bytes() == data
        dst2 = tmp_path / "dst2.bin"
        client.get_object_to_file(oss.GetObjectRequest(bucket=BUCKET, key=p + "stream"), str(dst2))
        assert dst2.read_bytes() == data

    def test_append(self, client):
        p = uniq("v2-append")
        key = p + "a p+p.log"
        r = client.append_object(
            oss.AppendObjectRequest(bucket=BUCKET, key=key, position=0, body=b"abc", init_hash_crc64="0")
        )
        assert r.next_position == 3
        assert int(r.hash_crc64) == crc64(b"abc")
        r = client.append_object(
            oss.AppendObjectRequest(bucket=BUCKET, key=key, position=3, body=b"defg", init_hash_crc64=r.hash_crc64)
        )
        assert r.next_position == 7
        assert int(r.hash_crc64) == crc64(b"abcdefg")
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.append_object(oss.AppendObjectRequest(bucket=BUCKET, key=key, position=1, body=b"x"))
        assert (service_error(ei).status_code, service_error(ei).code) == (409, "PositionNotEqualToLength")

        # the AppendOnlyFile helper continues an existing appendable object
        with client.append_file(BUCKET, key) as f:
            assert f.tell() == 7
            f.write(b"hij")
            f.write(b"klmno")
            assert f.tell() == 15
        h = client.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=key))
        assert h.object_type == "Appendable"
        assert h.next_append_position == 15
        assert client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=key)).body.read() == b"abcdefghijklmno"

        client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "normal", body=b"n"))
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.append_object(oss.AppendObjectRequest(bucket=BUCKET, key=p + "normal", position=1, body=b"x"))
        assert (service_error(ei).status_code, service_error(ei).code) == (409, "ObjectNotAppendable")

    def test_copy(self, client):
        p = uniq("v2-copy")
        data = payload(150 * KIB, 70)
        client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "s r c+é", body=data, metadata={"a": "1"}))
        r = client.copy_object(
            oss.CopyObjectRequest(bucket=BUCKET, key=p + "dst 1", source_bucket=BUCKET, source_key=p + "s r c+é")
        )
        assert r.status_code == 200
        assert r.etag == f'"{md5_etag(data)}"'
        g = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "dst 1"))
        assert g.body.read() == data
        assert g.metadata == {"a": "1"}
        client.copy_object(
            oss.CopyObjectRequest(
                bucket=BUCKET,
                key=p + "dst 2",
                source_key=p + "s r c+é",
                metadata_directive="REPLACE",
                metadata={"b": "2"},
            )
        )
        h = client.head_object(oss.HeadObjectRequest(bucket=BUCKET, key=p + "dst 2"))
        assert h.metadata == {"b": "2"}
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.copy_object(oss.CopyObjectRequest(bucket=BUCKET, key=p + "dst 3", source_key=p + "missing"))
        assert (service_error(ei).status_code, service_error(ei).code) == (404, "NoSuchKey")

    def test_delete_and_delete_multiple(self, client, srv):
        p = uniq("v2-del")
        keys = [p + k for k in AWKWARD_KEYS] + [p + f"n{i}" for i in range(5)]
        for k in keys:
            srv.put_object(BUCKET, k, b"x")
        r = client.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key=keys[0]))
        assert r.status_code == 204
        assert not client.is_object_exist(BUCKET, keys[0])
        assert client.delete_object(oss.DeleteObjectRequest(bucket=BUCKET, key=p + "never")).status_code == 204

        r = client.delete_multiple_objects(
            oss.DeleteMultipleObjectsRequest(
                bucket=BUCKET,
                encoding_type="url",
                delete=oss.Delete(objects=[oss.ObjectIdentifier(key=k) for k in keys[1:]]),
            )
        )
        assert sorted(d.key for d in r.deleted_objects) == sorted(keys[1:])
        assert listed_keys(srv, p) == []

        srv.put_object(BUCKET, p + "q", b"x")
        r = client.delete_multiple_objects(
            oss.DeleteMultipleObjectsRequest(
                bucket=BUCKET, delete=oss.Delete(objects=[oss.ObjectIdentifier(key=p + "q")], quiet=True)
            )
        )
        assert not r.deleted_objects
        assert listed_keys(srv, p) == []

    def test_missing_object_errors(self, client):
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="definitely/missing key"))
        se = service_error(ei)
        assert se.status_code == 404
        assert se.code == "NoSuchKey"  # decoded from x-oss-err
        assert se.request_id and se.request_id == se.headers.get("x-oss-request-id")
        assert se.ec

        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.get_object(oss.GetObjectRequest(bucket=BUCKET, key="definitely/missing key"))
        se = service_error(ei)
        assert (se.status_code, se.code) == (404, "NoSuchKey")
        assert se.request_id

        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.get_object(oss.GetObjectRequest(bucket="no-such-bucket-xyz", key="k"))
        assert (service_error(ei).status_code, service_error(ei).code) == (404, "NoSuchBucket")
        assert not client.is_bucket_exist("no-such-bucket-xyz")
        assert client.is_bucket_exist(BUCKET)

    @pytest.mark.parametrize("version", ["v4", "v1"])
    def test_wrong_secret(self, srv, version):
        srv.put_object(BUCKET, "v2-auth/probe", b"secret data")
        bad = make_v2_client(srv, version, secret=srv.access_key_secret[::-1] + "x")
        calls = [
            lambda: bad.get_object(oss.GetObjectRequest(bucket=BUCKET, key="v2-auth/probe")),
            lambda: bad.put_object(oss.PutObjectRequest(bucket=BUCKET, key="v2-auth/new", body=b"x")),
            lambda: bad.list_objects_v2(oss.ListObjectsV2Request(bucket=BUCKET, prefix="v2-auth/")),
            lambda: bad.head_object(oss.HeadObjectRequest(bucket=BUCKET, key="v2-auth/probe")),
        ]
        for call in calls:
            with pytest.raises(oss.exceptions.OperationError) as ei:
                call()
            se = service_error(ei)
            assert (se.status_code, se.code) == (403, "SignatureDoesNotMatch")
            assert se.request_id
        assert not make_v2_client(srv, version).is_object_exist(BUCKET, "v2-auth/new")

        unknown = make_v2_client(srv, version, key_id="LTAI-nobody")
        with pytest.raises(oss.exceptions.OperationError) as ei:
            unknown.get_object(oss.GetObjectRequest(bucket=BUCKET, key="v2-auth/probe"))
        assert (service_error(ei).status_code, service_error(ei).code) == (403, "InvalidAccessKeyId")

    def test_v4_wrong_region(self, srv):
        srv.put_object(BUCKET, "v2-region/probe", b"x")
        c = make_v2_client(srv, "v4", region="us-west-1" if srv.region != "us-west-1" else "cn-beijing")
        with pytest.raises(oss.exceptions.OperationError) as ei:
            c.get_object(oss.GetObjectRequest(bucket=BUCKET, key="v2-region/probe"))
        assert service_error(ei).status_code == 403

    def test_sts_v1_signer_token_header(self, sts_srv):
        # alibabacloud_oss_v2's V1 signer (1.4.x) sends the token in a header
        # named "security-token" (unsigned) instead of x-oss-security-token, so
        # an STS server must not accept it: the token is effectively missing.
        c = make_v2_client(sts_srv, "v1", token=sts_srv.security_token)
        with pytest.raises(oss.exceptions.OperationError) as ei:
            c.put_object(oss.PutObjectRequest(bucket=BUCKET, key="v2-sts-v1/k", body=b"x"))
        se = service_error(ei)
        assert (se.status_code, se.code) == (403, "InvalidSecurityToken")

    @pytest.mark.parametrize("version", ["v4"])
    def test_sts(self, sts_srv, version):
        tok = sts_srv.security_token
        c = make_v2_client(sts_srv, version, token=tok)
        p = uniq("v2-sts-" + version)
        c.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "a+b", body=b"sts ok"))
        assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "a+b")).body.read() == b"sts ok"
        keys = [
            o.key
            for page in c.list_objects_v2_paginator().iter_page(
                oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=1)
            )
            for o in page.contents or []
        ]
        assert keys == [p + "a+b"]
        up = c.uploader(part_size=100 * KIB)
        data = payload(250 * KIB, 80)
        up.upload_from(oss.PutObjectRequest(bucket=BUCKET, key=p + "mpu"), _Stream(data))
        assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "mpu")).body.read() == data

        for bad in (
            make_v2_client(sts_srv, version),  # no token
            make_v2_client(sts_srv, version, token=tok + "x"),
        ):  # wrong token
            with pytest.raises(oss.exceptions.OperationError) as ei:
                bad.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "a+b"))
            se = service_error(ei)
            assert se.status_code == 403
            assert se.request_id


class _Stream:
    """A read-only, non-seekable stream (forces the uploader's multipart path)."""

    def __init__(self, data: bytes):
        self._data = data
        self._pos = 0

    def read(self, n=-1):
        if n is None or n < 0:
            n = len(self._data) - self._pos
        out = self._data[self._pos : self._pos + n]
        self._pos += len(out)
        return out
