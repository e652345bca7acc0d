"""Interoperability of the local OSS server (ossemu) with two OSS client
libraries written elsewhere:

* ``oss2``, the classic Python SDK (V1 signatures by default, and V4),
* ``alibabacloud_oss_v2``, the new Python SDK (V4 by default, also V1).

Every operation goes through the clients' own request building, signing and
response parsing, so a server that deviates from the protocol makes them fail
(or return wrong data, which the assertions check byte by byte).
"""
from __future__ import annotations

import hashlib
import os
import uuid

import pytest

oss2 = pytest.importorskip("oss2")
oss = pytest.importorskip("alibabacloud_oss_v2")

from osstorchconnector.testing import LocalOssServer  # noqa: E402

pytestmark = pytest.mark.timeout(60)

BUCKET = "interop"
KIB = 1024

# Keys that need escaping in URLs, signatures and list XML.
AWKWARD_KEYS = [
    "a b.txt",
    "x+y=z.bin",
    "ünïcødé/日本語.dat",
    "dir/sub dir/file~1",
    "percent%20literal",
    "amp&semi;colon,comma!",
    "tail/",  # a "directory marker" style key
]


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def _crc64_table():
    poly = 0xC96C5795D7870F42  # reflected ECMA-182
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc64_table()


def crc64(data: bytes) -> int:
    """CRC-64/XZ, the x-oss-hash-crc64ecma algorithm (own implementation)."""
    c = 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


def md5_etag(data: bytes) -> str:
    return hashlib.md5(data).hexdigest().upper()


def payload(n: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking bytes (so misplaced ranges show)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (seed, i)).digest()
        i += 1
    return bytes(out[:n])


def uniq(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}/"


def test_crc64_reference():
    # The check value of CRC-64/XZ; guards the helper the other tests rely on.
    assert crc64(b"123456789") == 11051210869376104954
    assert crc64(b"") == 0


# ---------------------------------------------------------------------------
# fixtures: one server per module, clients per signature version
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET]) as s:
        yield s


@pytest.fixture(scope="module")
def sts_srv():
    with LocalOssServer([BUCKET], security_token="STS.tok-" + uuid.uuid4().hex) as s:
        yield s


def make_oss2_bucket(s: LocalOssServer, version: str, *, secret=None, key_id=None, token=None):
    ak = key_id or s.access_key_id
    sk = secret or s.access_key_secret
    if version == "v1":
        auth = oss2.StsAuth(ak, sk, token) if token else oss2.Auth(ak, sk)
    elif version == "v4":
        if token:
            provider = oss2.credentials.StaticCredentialsProvider(ak, sk, token)
            auth = oss2.ProviderAuthV4(provider)
        else:
            auth = oss2.AuthV4(ak, sk)
    else:
        raise ValueError(version)
    return oss2.Bucket(auth, s.endpoint, BUCKET, region=s.region, connect_timeout=10)


def make_v2_client(s: LocalOssServer, version: str, *, secret=None, key_id=None, token=None,
                   path_style=True, region=None):
    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        key_id or s.access_key_id, secret or s.access_key_secret, token)
    cfg.region = region or s.region
    cfg.endpoint = s.endpoint
    cfg.signature_version = version
    if path_style:
        cfg.use_path_style = True
    cfg.retry_max_attempts = 2
    cfg.connect_timeout = 10
    cfg.readwrite_timeout = 30
    return oss.Client(cfg)


@pytest.fixture(scope="module", params=["v1", "v4"])
def bucket(request, srv):
    """An oss2.Bucket signing with the parametrized auth version."""
    return make_oss2_bucket(srv, request.param)


@pytest.fixture(scope="module", params=["v4", "v1"])
def client(request, srv):
    """An alibabacloud_oss_v2.Client signing with the parametrized version."""
    return make_v2_client(srv, request.param)


def listed_keys(s: LocalOssServer, prefix: str) -> list:
    """Keys under prefix, listed with a fresh oss2 V1 client and one big page
    (independent of the client under test)."""
    b = make_oss2_bucket(s, "v1")
    return [o.key for o in oss2.ObjectIteratorV2(b, prefix=prefix, max_keys=1000)]


# ===========================================================================
# oss2
# ===========================================================================

class TestOss2:
    def test_put_get_head(self, bucket, srv):
        p = uniq("o2-put")
        data = payload(300 * KIB + 7, 1)
        r = bucket.put_object(p + "obj.bin", data, headers={"x-oss-meta-color": "blue",
                                                             "Content-Type": "application/x-test"})
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
        names = [f"k{i:03d}" for i in range(23)] + AWKWARD_KEYS + [
            "d1/a", "d1/b", "d1/c/deep", "d2/x", "d 3/y", "d+4/z", "é/1", "é/2"]
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
            bucket.complete_multipart_upload(key, up.upload_id, [oss2.models.PartInfo(1, e1), oss2.models.PartInfo(2, e2)])
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
        oss2.resumable_upload(bucket, p + "up.bin", str(src), store=store,
                              multipart_threshold=100 * KIB, part_size=100 * KIB, num_threads=2)
        h = bucket.head_object(p + "up.bin")
        assert h.object_type == "Multipart"
        assert h.etag.endswith("-4")
        assert bucket.get_object(p + "up.bin").read() == data

        dst = tmp_path / "dst.bin"
        dstore = oss2.ResumableDownloadStore(root=str(tmp_path / "dstore"))
        oss2.resumable_download(bucket, p + "up.bin", str(dst), store=dstore,
                                multiget_threshold=100 * KIB, part_size=64 * KIB, num_threads=3)
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
        bucket.copy_object(BUCKET, p + "src ü+1", p + "dst/copy 2",
                           headers={"x-oss-metadata-directive": "REPLACE", "x-oss-meta-b": "2"})
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
        for call in (lambda: bad.get_object("o2-auth/probe"),
                     lambda: bad.put_object("o2-auth/new", b"x"),
                     lambda: bad.list_objects_v2(prefix="o2-auth/")):
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
        b = oss2.Bucket(oss2.AuthV4(srv.access_key_id, srv.access_key_secret), srv.endpoint, BUCKET,
                        region="us-west-1" if srv.region != "us-west-1" else "cn-beijing")
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

        for bad in (make_oss2_bucket(sts_srv, version),  # no token
                    make_oss2_bucket(sts_srv, version, token=tok + "x")):  # wrong token
            with pytest.raises(oss2.exceptions.ServerError) as ei:
                bad.get_object(p + "a b")
            assert ei.value.status == 403
            assert ei.value.request_id


# ===========================================================================
# alibabacloud_oss_v2
# ===========================================================================

def service_error(excinfo) -> "oss.exceptions.ServiceError":
    """The ServiceError inside the SDK's OperationError."""
    e = excinfo.value
    while not isinstance(e, oss.exceptions.ServiceError):
        inner = e.unwrap() if hasattr(e, "unwrap") else None
        assert inner is not None, f"no ServiceError in {excinfo.value!r}"
        e = inner
    return e


class TestOssV2:
    def test_put_get_head(self, client):
        p = uniq("v2-put")
        data = payload(300 * KIB + 3, 40)
        r = client.put_object(oss.PutObjectRequest(bucket=BUCKET, key=p + "o.bin", body=data,
                                                   metadata={"color": "red"}, content_type="application/x-test"))
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
            return client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "r", range_header=rng,
                                                          range_behavior=behavior))

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
        names = [f"k{i:03d}" for i in range(23)] + AWKWARD_KEYS + [
            "d1/a", "d1/b", "d1/c/deep", "d2/x", "d 3/y", "d+4/z", "é/1", "é/2"]
        for k in names:
            srv.put_object(BUCKET, p + k, k.encode())
        expected = sorted((p + k for k in names), key=lambda s: s.encode())

        # ListObjectsV2 paginator
        seen, pages = [], 0
        for page in client.list_objects_v2_paginator().iter_page(
                oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=5)):
            pages += 1
            assert len(page.contents or []) <= 5
            assert page.key_count == len(page.contents or [])
            seen += [o.key for o in page.contents or []]
        assert seen == expected
        assert pages == -(-len(expected) // 5)

        # ListObjects (V1, marker) paginator
        seen = []
        for page in client.list_objects_paginator().iter_page(
                oss.ListObjectsRequest(bucket=BUCKET, prefix=p, max_keys=4)):
            seen += [o.key for o in page.contents or []]
        assert seen == expected

        # sizes/etags
        for page in client.list_objects_v2_paginator().iter_page(
                oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=1000)):
            for o in page.contents:
                raw = o.key[len(p):].encode()
                assert o.size == len(raw)
                assert o.etag == f'"{md5_etag(raw)}"'

        # with a delimiter: each key / common prefix exactly once
        top = set()
        for k in names:
            head, sep, _ = k.partition("/")
            top.add(p + head + "/" if sep else p + k)
        for mk in (1, 2, 5):
            for pag, req in ((client.list_objects_v2_paginator(), oss.ListObjectsV2Request),
                             (client.list_objects_paginator(), oss.ListObjectsRequest)):
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
        init = client.initiate_multipart_upload(oss.InitiateMultipartUploadRequest(
            bucket=BUCKET, key=key, metadata={"kind": "mpu"}))
        assert init.upload_id
        assert init.key == key
        etags = {}
        for n in (3, 1, 2):
            r = client.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=init.upload_id,
                                                         part_number=n, body=parts_data[n - 1]))
            assert r.etag == f'"{md5_etag(parts_data[n - 1])}"'
            assert int(r.hash_crc64) == crc64(parts_data[n - 1])
            etags[n] = r.etag
        lp = client.list_parts(oss.ListPartsRequest(bucket=BUCKET, key=key, upload_id=init.upload_id))
        assert [(x.part_number, x.size) for x in lp.parts] == [(1, 100 * KIB), (2, 120 * KIB), (3, 1)]
        ups = client.list_multipart_uploads(oss.ListMultipartUploadsRequest(bucket=BUCKET, prefix=p))
        assert [u.upload_id for u in ups.uploads] == [init.upload_id]
        r = client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
            bucket=BUCKET, key=key, upload_id=init.upload_id,
            complete_multipart_upload=oss.CompleteMultipartUpload(
                parts=[oss.UploadPart(part_number=n, etag=etags[n]) for n in (1, 2, 3)])))
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
            r = client.upload_part(oss.UploadPartRequest(bucket=BUCKET, key=key, upload_id=init.upload_id,
                                                         part_number=n, body=b"s" * 1000))
            parts.append(oss.UploadPart(part_number=n, etag=r.etag))
        with pytest.raises(oss.exceptions.OperationError) as ei:
            client.complete_multipart_upload(oss.CompleteMultipartUploadRequest(
                bucket=BUCKET, key=key, upload_id=init.upload_id,
                complete_multipart_upload=oss.CompleteMultipartUpload(parts=parts)))
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
        r = client.append_object(oss.AppendObjectRequest(bucket=BUCKET, key=key, position=0, body=b"abc",
                                                         init_hash_crc64="0"))
        assert r.next_position == 3
        assert int(r.hash_crc64) == crc64(b"abc")
        r = client.append_object(oss.AppendObjectRequest(bucket=BUCKET, key=key, position=3, body=b"defg",
                                                         init_hash_crc64=r.hash_crc64))
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
        r = client.copy_object(oss.CopyObjectRequest(bucket=BUCKET, key=p + "dst 1", source_bucket=BUCKET,
                                                     source_key=p + "s r c+é"))
        assert r.status_code == 200
        assert r.etag == f'"{md5_etag(data)}"'
        g = client.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "dst 1"))
        assert g.body.read() == data
        assert g.metadata == {"a": "1"}
        client.copy_object(oss.CopyObjectRequest(bucket=BUCKET, key=p + "dst 2", source_key=p + "s r c+é",
                                                 metadata_directive="REPLACE", metadata={"b": "2"}))
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

        r = client.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
            bucket=BUCKET, encoding_type="url",
            delete=oss.Delete(objects=[oss.ObjectIdentifier(key=k) for k in keys[1:]])))
        assert sorted(d.key for d in r.deleted_objects) == sorted(keys[1:])
        assert listed_keys(srv, p) == []

        srv.put_object(BUCKET, p + "q", b"x")
        r = client.delete_multiple_objects(oss.DeleteMultipleObjectsRequest(
            bucket=BUCKET, delete=oss.Delete(objects=[oss.ObjectIdentifier(key=p + "q")], quiet=True)))
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
        keys = [o.key for page in c.list_objects_v2_paginator().iter_page(
            oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=1)) for o in page.contents or []]
        assert keys == [p + "a+b"]
        up = c.uploader(part_size=100 * KIB)
        data = payload(250 * KIB, 80)
        up.upload_from(oss.PutObjectRequest(bucket=BUCKET, key=p + "mpu"), _Stream(data))
        assert c.get_object(oss.GetObjectRequest(bucket=BUCKET, key=p + "mpu")).body.read() == data

        for bad in (make_v2_client(sts_srv, version),  # no token
                    make_v2_client(sts_srv, version, token=tok + "x")):  # wrong token
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
        out = self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


# ===========================================================================
# both clients on the same data
# ===========================================================================

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
    l2 = [o.key for page in c.list_objects_v2_paginator().iter_page(
        oss.ListObjectsV2Request(bucket=BUCKET, prefix=p, max_keys=1)) for o in page.contents]
    assert l1 == l2 == [p + "from oss2 ü", p + "from v2 +"]
    # two keys, one per page, no empty trailing page: 2 requests per client
    st = srv.stats()
    assert st["requests"] == {"ListObjectsV2": {"200": 4}}, st
    assert st["list_pages"] == 4
