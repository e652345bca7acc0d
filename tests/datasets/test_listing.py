"""Listing: the compact listing (keys in one buffer, sizes in an array) and
ost_list_packed, which fills it from the core."""

import pickle
import sys
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osstorchconnector import _native
from osstorchconnector._listing import Listing

BUCKET = "test-bucket"

keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
entries = st.lists(
    st.tuples(
        st.sampled_from(["b1", "bucket-two"]), keys, st.integers(0, 2**62), st.sampled_from(["", "", "cat", "狗"])
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(entries, st.data())
def test_listing_behaves_as_the_list_of_its_entries(es, data):
    lst = Listing.from_entries(es)
    assert len(lst) == len(es)
    assert list(lst) == es
    for i in range(-len(es), len(es)):
        assert lst[i] == es[i]
    for i in (len(es), -len(es) - 1):
        with pytest.raises(IndexError):
            lst[i]
    start = data.draw(st.integers(-35, 35) | st.none())
    stop = data.draw(st.integers(-35, 35) | st.none())
    step = data.draw(st.sampled_from([None, 1, 2, -1, -3]))
    assert list(lst[start:stop:step]) == es[start:stop:step]
    if es:
        idx = data.draw(st.lists(st.integers(0, len(es) - 1), max_size=10))
        assert list(lst.take(idx)) == [es[i] for i in idx]
    back = pickle.loads(pickle.dumps(lst))
    assert list(back) == es
    assert list(pickle.loads(pickle.dumps(lst[1::2]))) == es[1::2]


def test_entries_default_label_and_bad_input():
    assert list(Listing.from_entries([("b", "k", 3)])) == [("b", "k", 3, "")]
    with pytest.raises(TypeError):
        Listing.from_entries([("b", b"k", 3)])
    with pytest.raises(TypeError):
        Listing.from_entries([("b", "k", "3")])
    with pytest.raises(ValueError):
        Listing.from_entries([("b", "k")])
    with pytest.raises(TypeError):
        Listing.from_entries([("b", "k", 1)])["0"]
    with pytest.raises(ValueError):
        Listing.from_packed("b", b"\x01" + b"\x00" * 20)


def _client(srv):
    return _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})


ODD_KEYS = [
    "odd/a b+c",
    "odd/%41%zz",
    "odd/中文/ключ",
    "odd/emoji-😀",
    "odd/&<>\"'",
    "odd/tab\there",
    "odd/new\nline",
    "odd/~!@#$^*()[]{};:,?=",
    "odd/" + "x" * 900,
    "odd/\u00e9\u0301",
    "odd/zz/",
]


def test_list_packed_matches_the_json_listing(oss_module):
    for i, k in enumerate(ODD_KEYS):
        oss_module.put_object(BUCKET, k, b"x" * i)
    c = _client(oss_module)
    want = [(BUCKET, o["key"], o["size"], "") for o in c.list(BUCKET, "odd/")]
    assert sorted(k for _, k, _, _ in want) == sorted(ODD_KEYS)
    got = c.list_packed(BUCKET, "odd/")
    assert isinstance(got, Listing)
    assert list(got) == want
    assert list(pickle.loads(pickle.dumps(got))) == want
    assert len(c.list_packed(BUCKET, "no-such-prefix/")) == 0


def test_list_packed_missing_bucket_is_an_error(oss_module):
    from osstorchconnector.errors import OssError

    with pytest.raises(OssError):
        _client(oss_module).list_packed("no-such-bucket", "")


def test_a_listing_of_100k_keys_is_compact(oss_module):
    n = 100_000
    q = urllib.parse.urlencode(
        {"bucket": BUCKET, "count": n, "key_format": "big/%04d/%08d", "per_dir": 1000, "size": 1}
    )
    oss_module._admin("POST", "fill?" + q)
    lst = _client(oss_module).list_packed(BUCKET, "big/")
    assert len(lst) == n
    assert lst[0][1] == "big/0000/00000000" and lst[-1][1] == f"big/0099/{n - 1:08d}"
    key_bytes = sum(len(lst.key(i)) for i in range(0, n, 997)) * n // len(range(0, n, 997))
    # what the listing holds: its buffers, measured as Python sees them
    held = sys.getsizeof(lst._keys.data) + sum(sys.getsizeof(x) for x in (lst._keys.offsets, lst._sizes))
    assert lst.nbytes() <= 16 * n + 8 + key_bytes + 16 * n // 100
    assert held <= 64 * n + key_bytes
    # and nothing per key: pickling it is its buffers
    assert len(pickle.dumps(lst)) <= 16 * n + key_bytes + 4096


def test_datasets_over_a_prefix_keep_the_compact_listing(oss_module):
    """OssMapDataset.from_prefix keeps its listing as a Listing (not a list
    of per-key tuples, which forked workers would copy page by page), and
    indexes it as before."""
    from osstorchconnector import OssMapDataset

    for i in range(5):
        oss_module.put_object(BUCKET, f"ds/{i}.bin", bytes([i]) * (i + 1))
    ds = OssMapDataset.from_prefix(
        f"oss://{BUCKET}/ds/",
        endpoint=oss_module.endpoint,
        cred_path=oss_module.cred_path,
        region=oss_module.region,
        transform=lambda o: (o.key, o.read()),
    )
    assert isinstance(ds._bucket_objects, Listing)
    assert len(ds) == 5
    assert ds[4] == (f"/{BUCKET}/ds/4.bin", b"\x04" * 5) and ds[-5] == (f"/{BUCKET}/ds/0.bin", b"\x00")
    assert ds.__getitems__([1, 3]) == [(f"/{BUCKET}/ds/1.bin", b"\x01" * 2), (f"/{BUCKET}/ds/3.bin", b"\x03" * 4)]
    with pytest.raises(IndexError):
        ds[5]
