"""The local OSS server (ossemu) through ``oss2``, the classic Python SDK (V1
signatures by default, and V4): every operation goes through the client's own
request building, signing and response parsing, so a server that deviates
from the protocol makes it fail (or return wrong data, which the assertions
check byte by byte)."""

from __future__ import annotations

import pytest

from support.interop import AWKWARD_KEYS, BUCKET, KIB, crc64, listed_keys, make_oss2_bucket, md5_etag, payload, uniq

oss2 = pytest.importorskip("oss2")

pytestmark = pytest.mark.timeout(60)


class TestOss2:
    def test_put_get_head(self, bucket, srv):
        p = uniq("o2-put")
        data = payload(300 * KIB + 7, 1)
        r = bucket.put_object(
            p + "obj.bin", data, headers={"x-oss-meta-color": "blue", "Content-Type": "application/x-test"}
        )
        assert r.status == 200
        assert r.etag == md5_etag(data)
        assert int(r.crc) == crc64(data)
        assert r.request_id

        g = bucket.get_object(p + "obj.bin")
        body = g.read()
        assert body == data
        assert g.status == 200
        assert g.content_length == len(data)
        assert g.etag == md5_etag(data)
        assert g.headers["x-oss-meta-color"] == "blue"
        assert g.headers["Content-Type"] == "application/x-test"
        assert int(g.headers["x-oss-hash-crc64ecma"]) == crc64(data)

        h = bucket.head_object(p + "obj.bin")
        assert h.content_length == len(data)
        assert h.etag == g.etag
        assert h.object_type == "Normal"
        assert h.last_modified == g.last_modified
        assert h.headers["x-oss-meta-color"] == "blue"

        # overwrite with an empty object
        bucket.put_object(p + "obj.bin", b"")
        assert bucket.get_object(p + "obj.bin").read() == b""
        assert bucket.head_object(p + "obj.bin").content_length == 0

    def test_awkward_keys_roundtrip(self, bucket):
        p = uniq("o2-keys")
        for i, k in enumerate(AWKWARD_KEYS):
            bucket.put_object(p + k, k.encode() * (i + 1))
        for i, k in enumerate(AWKWARD_KEYS):
            assert bucket.get_object(p + k).read() == k.encode() * (i + 1)
            assert bucket.head_object(p + k).content_length == len(k.encode()) * (i + 1)
            assert bucket.object_exists(p + k)

    def test_ranged_get(self, bucket):
        p = uniq("o2-range")
        data = payload(1000, 2)
        bucket.put_object(p + "r", data)

        g = bucket.get_object(p + "r", byte_range=(10, 99))
        assert g.status == 206
        assert g.headers["Content-Range"] == "bytes 10-99/1000"
        assert g.read() == data[10:100]

        g = bucket.get_object(p + "r", byte_range=(990, None))  # bytes=990-
        assert g.status == 206
        assert g.read() == data[990:]

        g = bucket.get_object(p + "r", byte_range=(None, 5))  # bytes=-5: last 5
        assert g.status == 206
        assert g.headers["Content-Range"] == "bytes 995-999/1000"
        assert g.read() == data[-5:]

        # legacy behaviour: an unsatisfiable / past-the-end range is ignored
        g = bucket.get_object(p + "r", byte_range=(1000, 2000))
        assert g.status == 200
        assert "Content-Range" not in g.headers
        assert g.read() == data
        g = bucket.get_object(p + "r", byte_range=(500, 2000))
        assert g.status == 200
        assert g.read() == data

        std = {"x-oss-range-behavior": "standard"}
        g = bucket.get_object(p + "r", byte_range=(500, 2000), headers=std)
        assert g.status == 206
        assert g.headers["Content-Range"] == "bytes 500-999/1000"
        assert g.read() == data[500:]
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            bucket.get_object(p + "r", byte_range=(1000, 2000), headers=std)
        assert ei.value.status == 416
        assert ei.value.code == "InvalidRange"
        assert ei.value.request_id

    def test_list_pagination(self, bucket, srv):
        p = uniq("o2-list")
        names = (
            [f"k{i:03d}" for i in range(23)]
            + AWKWARD_KEYS
            + ["d1/a", "d1/b", "d1/c/deep", "d2/x", "d 3/y", "d+4/z", "é/1", "é/2"]
        )
        for k in names:
            srv.put_object(BUCKET, p + k, k.encode())
        expected = sorted((p + k for k in names), key=lambda s: s.encode())

        # V1 listing (marker), page by page
        seen, marker, pages = [], "", 0
        while True:
            r = bucket.list_objects(prefix=p, marker=marker, max_keys=7)
            pages += 1
            assert len(r.object_list) <= 7
            seen += [o.key for o in r.object_list]
            if not r.is_truncated:
                break
            marker = r.next_marker
            assert marker
        assert seen == expected
        assert pages == -(-len(expected) // 7)

        # V2 listing (continuation token)
        seen, token, pages = [], "", 0
        while True:
            r = bucket.list_objects_v2(prefix=p, continuation_token=token, max_keys=6)
            pages += 1
            assert len(r.object_list) <= 6
            seen += [o.key for o in r.object_list]
            if not r.is_truncated:
                break
            token = r.next_continuation_token
            assert token
        assert seen == expected
        assert pages == -(-len(expected) // 6)

        # The iterators over tiny pages
        assert [o.key for o in oss2.ObjectIterator(bucket, prefix=p, max_keys=3)] == expected
        assert [o.key for o in oss2.ObjectIteratorV2(bucket, prefix=p, max_keys=3)] == expected

        # sizes and etags of listed objects
        sizes = {o.key: (o.size, o.etag) for o in oss2.ObjectIteratorV2(bucket, prefix=p, max_keys=1000)}
        for k in names:
            assert sizes[p + k] == (len(k.encode()), md5_etag(k.encode()))

        # with a delimiter: every key and every common prefix exactly once
        top = set()
        for k in names:
            head, sep, _ = k.partition("/")
            top.add(p + head + "/" if sep else p + k)
        for it in (oss2.ObjectIterator, oss2.ObjectIteratorV2):
            for mk in (1, 2, 5):
                got = [o.key for o in it(bucket, prefix=p, delimiter="/", max_keys=mk)]
                assert len(got) == len(set(got)), (it.__name__, mk, got)
                assert set(got) == top, (it.__name__, mk)
                prefixes = [o.key for o in it(bucket, prefix=p, delimiter="/", max_keys=mk) if o.is_prefix()]
                assert sorted(prefixes) == sorted(t for t in top if t.endswith("/"))

        # a nested prefix with a delimiter
        r = bucket.list_objects_v2(prefix=p + "d1/", delimiter="/", max_keys=100)
        assert [o.key for o in r.object_list] == [p + "d1/a", p + "d1/b"]
        assert r.prefix_list == [p + "d1/c/"]
        assert not r.is_truncated

        # start_after
        r = bucket.list_objects_v2(prefix=p, start_after=p + "k020", max_keys=3)
        assert [o.key for o in r.object_list] == [p + "k021", p + "k022", expected[expected.index(p + "k022") + 1]]

    def test_multipart_low_level(self, bucket):
        p = uniq("o2-mpu")
        key = p + "big file+ü.bin"
        parts_data = [payload(100 * KIB, 10), payload(130 * KIB, 11), payload(33 * KIB, 12)]
        up = bucket.init_multipart_upload(key, headers={"x-oss-meta-kind": "mpu"})
        assert up.upload_id
        infos = []
        for n in (2, 1, 3):  # out of order on purpose
            r = bucket.upload_part(key, up.upload_id, n, parts_data[n - 1])
            assert r.etag == md5_etag(parts_data[n - 1])
            infos.append(oss2.models.PartInfo(n, r.etag))
        listed = bucket.list_parts(key, up.upload_id)
        assert [(x.part_number, x.size) for x in listed.parts] == [(1, 100 * KIB), (2, 130 * KIB), (3, 33 * KIB)]
        infos.sort(key=lambda i: i.part_number)
        r = bucket.complete_multipart_upload(key, up.upload_id, infos)
        assert r.status == 200
        whole = b"".join(parts_data)
        assert bucket.get_object(key).read() == whole
        h = bucket.head_object(key)
        assert h.object_type == "Multipart"
        assert h.content_length == len(whole)
        assert h.etag.endswith("-3")
        assert int(h.headers["x-oss-hash-crc64ecma"]) == crc64(whole)
        assert h.headers["x-oss-meta-kind"] == "mpu"
        # the upload is gone after Complete
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            bucket.list_parts(key, up.upload_id)

    def test_multipart_errors(self, bucket):
        p = uniq("o2-mpu-err")
        key = p + "small"
        up = bucket.init_multipart_upload(key)
        e1 = bucket.upload_part(key, up.upload_id, 1, b"x" * KIB).etag
        e2 = bucket.upload_part(key, up.upload_id, 2, b"y" * KIB).etag
        with pytest.raises(oss2.exceptions.ServerError) as ei:  # part 1 < 100 KiB and not last
            bucket.complete_multipart_upload(
                key, up.upload_id, [oss2.models.PartInfo(1, e1), oss2.models.PartInfo(2, e2)]
            )
        assert (ei.value.status, ei.value.code) == (400, "EntityTooSmall")
        with pytest.raises(oss2.exceptions.ServerError) as ei:  # wrong etag
            bucket.complete_multipart_upload(key, up.upload_id, [oss2.models.PartInfo(2, e1)])
        assert (ei.value.status, ei.value.code) == (400, "InvalidPart")
        # a single small part is fine (it is the last one)
        bucket.complete_multipart_upload(key, up.upload_id, [oss2.models.PartInfo(2, e2)])
        assert bucket.get_object(key).read() == b"y" * KIB

        up = bucket.init_multipart_upload(key)
        bucket.abort_multipart_upload(key, up.upload_id)
        with pytest.raises(oss2.exceptions.NoSuchUpload) as ei:
            bucket.upload_part(key, up.upload_id, 1, b"z")
        assert ei.value.status == 404
        assert bucket.get_object(key).read() == b"y" * KIB  # unchanged

    def test_resumable_upload_and_download(self, bucket, tmp_path):
        p = uniq("o2-resumable")
        data = payload(350 * KIB + 11, 20)
        src = tmp_path / "src.bin"
        src.write_bytes(data)
        store = oss2.ResumableStore(root=str(tmp_path / "ustore"))
        oss2.resumable_upload(
            bucket,
            p + "up.bin",
            str(src),
            store=store,
            multipart_threshold=100 * KIB,
            part_size=100 * KIB,
            num_threads=2,
        )
        h = bucket.head_object(p + "up.bin")
        assert h.object_type == "Multipart"
        assert h.etag.endswith("-4")
        assert bucket.get_object(p + "up.bin").read() == data

        dst = tmp_path / "dst.bin"
        dstore = oss2.ResumableDownloadStore(root=str(tmp_path / "dstore"))
        oss2.resumable_download(
            bucket,
            p + "up.bin",
            str(dst),
            store=dstore,
            multiget_threshold=100 * KIB,
            part_size=64 * KIB,
            num_threads=3,
        )
        assert dst.read_bytes() == data

    def test_append(self, bucket):
        p = uniq("o2-append")
        key = p + "log file.txt"
        r = bucket.append_object(key, 0, b"hello ")
        assert r.next_position == 6
        assert int(r.crc) == crc64(b"hello ")
        r = bucket.append_object(key, r.next_position, b"world", init_crc=r.crc)
        assert r.next_position == 11
        assert int(r.crc) == crc64(b"hello world")
        with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as ei:
            bucket.append_object(key, 3, b"!!")
        assert ei.value.status == 409
        h = bucket.head_object(key)
        assert h.object_type == "Appendable"
        assert int(h.headers["x-oss-next-append-position"]) == 11
        assert bucket.get_object(key).read() == b"hello world"

        bucket.put_object(p + "normal", b"abc")
        with pytest.raises(oss2.exceptions.ObjectNotAppendable) as ei:
            bucket.append_object(p + "normal", 3, b"d")
        assert ei.value.status == 409

    def test_copy(self, bucket):
        p = uniq("o2-copy")
        data = payload(200 * KIB, 30)
        bucket.put_object(p + "src ü+1", data, headers={"x-oss-meta-a": "1"})
        r = bucket.copy_object(BUCKET, p + "src ü+1", p + "dst/copy 1")
        assert r.status == 200
        assert r.etag == md5_etag(data)
        g = bucket.get_object(p + "dst/copy 1")
        assert g.read() == data
        assert g.headers["x-oss-meta-a"] == "1"  # COPY keeps metadata
        bucket.copy_object(
            BUCKET,
            p + "src ü+1",
            p + "dst/copy 2",
            headers={"x-oss-metadata-directive": "REPLACE", "x-oss-meta-b": "2"},
        )
        h = bucket.head_object(p + "dst/copy 2")
        assert h.headers.get("x-oss-meta-b") == "2"
        assert "x-oss-meta-a" not in h.headers
        with pytest.raises(oss2.exceptions.NoSuchKey):
            bucket.copy_object(BUCKET, p + "missing", p + "dst/copy 3")
        assert not bucket.object_exists(p + "dst/copy 3")

    def test_delete_and_batch_delete(self, bucket, srv):
        p = uniq("o2-del")
        keys = [p + k for k in AWKWARD_KEYS] + [p + f"n{i}" for i in range(5)]
        for k in keys:
            srv.put_object(BUCKET, k, b"x")
        r = bucket.delete_object(keys[0])
        assert r.status == 204
        assert not bucket.object_exists(keys[0])
        assert bucket.delete_object(p + "never-existed").status == 204

        r = bucket.batch_delete_objects(keys[1:] + [p + "missing too"])
        assert sorted(r.deleted_keys) == sorted(keys[1:] + [p + "missing too"])
        assert listed_keys(srv, p) == []

    def test_missing_object_errors(self, bucket):
        with pytest.raises(oss2.exceptions.NotFound) as ei:
            bucket.head_object("definitely/missing key")
        e = ei.value
        assert e.status == 404
        assert e.code == "NoSuchKey"  # decoded from x-oss-err
        assert e.request_id and e.request_id == e.headers["x-oss-request-id"]

        with pytest.raises(oss2.exceptions.NoSuchKey) as ei:
            bucket.get_object("definitely/missing key")
        e = ei.value
        assert e.status == 404
        assert e.request_id
        assert e.details.get("Key") == "definitely/missing key"
        assert not bucket.object_exists("definitely/missing key")

        other = oss2.Bucket(bucket.auth, bucket.endpoint, "no-such-bucket-xyz", region=bucket.region)
        with pytest.raises(oss2.exceptions.NoSuchBucket) as ei:
            other.get_object("k")
        assert ei.value.status == 404

    @pytest.mark.parametrize("version", ["v1", "v4"])
    def test_wrong_secret(self, srv, version):
        srv.put_object(BUCKET, "o2-auth/probe", b"secret data")
        bad = make_oss2_bucket(srv, version, secret=srv.access_key_secret + "x")
        for call in (
            lambda: bad.get_object("o2-auth/probe"),
            lambda: bad.put_object("o2-auth/new", b"x"),
            lambda: bad.list_objects_v2(prefix="o2-auth/"),
        ):
            with pytest.raises(oss2.exceptions.ServerError) as ei:
                call()
            assert ei.value.status == 403
            assert ei.value.code == "SignatureDoesNotMatch"
            assert ei.value.request_id
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            bad.head_object("o2-auth/probe")
        assert (ei.value.status, ei.value.code) == (403, "SignatureDoesNotMatch")
        good = make_oss2_bucket(srv, version)
        assert not good.object_exists("o2-auth/new")

        unknown = make_oss2_bucket(srv, version, key_id="LTAI-nobody")
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            unknown.get_object("o2-auth/probe")
        assert (ei.value.status, ei.value.code) == (403, "InvalidAccessKeyId")

    def test_v4_wrong_region(self, srv):
        srv.put_object(BUCKET, "o2-region/probe", b"x")
        b = oss2.Bucket(
            oss2.AuthV4(srv.access_key_id, srv.access_key_secret),
            srv.endpoint,
            BUCKET,
            region="us-west-1" if srv.region != "us-west-1" else "cn-beijing",
        )
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            b.get_object("o2-region/probe")
        assert ei.value.status == 403

    def test_anonymous_refused(self, srv):
        srv.put_object(BUCKET, "o2-anon/probe", b"x")
        b = oss2.Bucket(oss2.AnonymousAuth(), srv.endpoint, BUCKET)
        with pytest.raises(oss2.exceptions.ServerError) as ei:
            b.get_object("o2-anon/probe")
        assert ei.value.status == 403

    @pytest.mark.parametrize("version", ["v1", "v4"])
    def test_sts(self, sts_srv, version):
        tok = sts_srv.security_token
        b = make_oss2_bucket(sts_srv, version, token=tok)
        p = uniq("o2-sts-" + version)
        b.put_object(p + "a b", b"sts works")
        assert b.get_object(p + "a b").read() == b"sts works"
        assert [o.key for o in oss2.ObjectIteratorV2(b, prefix=p, max_keys=1)] == [p + "a b"]
        up = b.init_multipart_upload(p + "m")
        e = b.upload_part(p + "m", up.upload_id, 1, b"part").etag
        b.complete_multipart_upload(p + "m", up.upload_id, [oss2.models.PartInfo(1, e)])
        assert b.get_object(p + "m").read() == b"part"

        for bad in (
            make_oss2_bucket(sts_srv, version),  # no token
            make_oss2_bucket(sts_srv, version, token=tok + "x"),
        ):  # wrong token
            with pytest.raises(oss2.exceptions.ServerError) as ei:
                bad.get_object(p + "a b")
            assert ei.value.status == 403
            assert ei.value.request_id
