"""What the interoperability tests of the local server (tests/server/interop)
share: the bucket, awkward keys, CRC-64 and ETag references, deterministic
payloads, and clients of the two OSS SDKs (oss2, alibabacloud_oss_v2) for a
LocalOssServer. The SDKs are imported when a client is made: the test
modules skip where they are not installed."""

from __future__ import annotations

import hashlib
import uuid

from osstorchconnector.testing import LocalOssServer

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


def make_oss2_bucket(s: LocalOssServer, version: str, *, secret=None, key_id=None, token=None):
    import oss2

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


def make_v2_client(
    s: LocalOssServer, version: str, *, secret=None, key_id=None, token=None, path_style=True, region=None
):
    import alibabacloud_oss_v2 as oss

    cfg = oss.config.load_default()
    cfg.credentials_provider = oss.credentials.StaticCredentialsProvider(
        key_id or s.access_key_id, secret or s.access_key_secret, token
    )
    cfg.region = region or s.region
    cfg.endpoint = s.endpoint
    cfg.signature_version = version
    if path_style:
        cfg.use_path_style = True
    cfg.retry_max_attempts = 2
    cfg.connect_timeout = 10
    cfg.readwrite_timeout = 30
    return oss.Client(cfg)


def listed_keys(s: LocalOssServer, prefix: str) -> list:
    """Keys under prefix, listed with a fresh oss2 V1 client and one big page
    (independent of the client under test)."""
    import oss2

    b = make_oss2_bucket(s, "v1")
    return [o.key for o in oss2.ObjectIteratorV2(b, prefix=prefix, max_keys=1000)]


def service_error(excinfo):
    """The alibabacloud_oss_v2 ServiceError inside the SDK's OperationError."""
    import alibabacloud_oss_v2 as oss

    e = excinfo.value
    while not isinstance(e, oss.exceptions.ServiceError):
        inner = e.unwrap() if hasattr(e, "unwrap") else None
        assert inner is not None, f"no ServiceError in {excinfo.value!r}"
        e = inner
    return e
