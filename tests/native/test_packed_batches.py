"""The per-sample path through the packed batches (ost_prefetch_next_batch,
ost_batch_get_packed, ost_tar_read_packed): objects, labels, failures and
bodies come through intact, and a fetched object's bytes are handed to
read() without another copy."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osstorchconnector import OssClient, new_data_object
from osstorchconnector._native import packed
from osstorchconnector.testing import LocalOssServer

BUCKET = "packed-bkt"


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer(buckets=[BUCKET]) as s:
        for i in range(150):  # more than one batch of a prefetch call
            s.put_object(BUCKET, f"p/{i:03d}", bytes([i % 256]) * (i * 7))
        yield s


def client(s):
    return OssClient(s.endpoint, s.cred_path, region=s.region)


def test_prefetch_delivers_every_object_in_batches(srv):
    got = {o.key: o.read() for o in client(srv).list_objects_with_preload(BUCKET, "p/")}
    assert got == {f"/{BUCKET}/p/{i:03d}": bytes([i % 256]) * (i * 7) for i in range(150)}


def test_labels_and_missing_objects_through_a_batch(srv):
    c = client(srv)
    objs = [new_data_object(f"oss://{BUCKET}/p/001", label="one"), new_data_object(f"oss://{BUCKET}/nope", label="x")]
    prefetched = {o.key: o for o in c.list_objects_from_uris_with_preload(objs, include_errors=True)}
    assert prefetched[f"/{BUCKET}/p/001"].label == "one" and prefetched[f"/{BUCKET}/p/001"].read() == b"\x01" * 7
    assert prefetched[f"/{BUCKET}/nope"].err() != 0
    batch = list(c.list_objects_from_uris(objs, prefetch=True, include_errors=True))
    assert [o.label for o in batch] == ["one", "x"] and batch[1].err() != 0


def test_a_whole_read_returns_the_fetched_bytes_without_a_copy(srv):
    obj = next(iter(client(srv).list_objects_from_uris([f"oss://{BUCKET}/p/100"], prefetch=True)))
    first = obj.read()
    obj.seek(0)
    assert obj.read() is first and len(first) == 700
    obj.seek(1)
    assert obj.read(3) == first[1:4]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=20), st.integers(0, 2**40)), max_size=20))
def test_packed_items_layout(items):
    raw = packed.encode_items(items)
    magic, count = packed._HEADER.unpack_from(raw, 0)
    assert (magic, count) == (packed.ITEMS_MAGIC, len(items))
    at = packed._HEADER.size + count * packed._ITEM.size
    for i, (bucket, key, size) in enumerate(items):
        blen, klen, sz = packed._ITEM.unpack_from(raw, packed._HEADER.size + i * packed._ITEM.size)
        assert (raw[at : at + blen].decode(), raw[at + blen : at + blen + klen].decode(), sz) == (bucket, key, size)
        at += blen + klen
    assert at == len(raw)
