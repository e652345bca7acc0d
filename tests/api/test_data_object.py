"""DataObject behaves like io.BytesIO for reading (hypothesis), in memory and
over the core's random-access reader."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osstorchconnector import DataObject
from osstorchconnector._native import NativeClient

ops = st.lists(
    st.one_of(
        st.tuples(st.just("read"), st.one_of(st.none(), st.integers(-1, 300))),
        st.tuples(st.just("readinto"), st.integers(0, 300)),
        st.tuples(st.just("readline"), st.one_of(st.none(), st.integers(-1, 100))),
        st.tuples(st.just("seek"), st.integers(-50, 400), st.sampled_from([0, 1, 2])),
        st.tuples(
            st.just("tell"),
        ),
    ),
    max_size=40,
)

contents = st.binary(max_size=600).map(lambda b: b.replace(b"\x00", b"\n"))


def apply(f, op):
    name = op[0]
    try:
        if name == "read":
            return f.read(op[1])
        if name == "readinto":
            buf = bytearray(op[1])
            n = f.readinto(buf)
            return n, bytes(buf[:n])
        if name == "readline":
            return f.readline(op[1])
        if name == "seek":
            return f.seek(op[1], op[2])
        return f.tell()
    except ValueError:  # e.g. a negative seek: both must refuse it
        return ("ValueError",)


@settings(max_examples=300, deadline=None)
@given(data=contents, sequence=ops)
def test_in_memory_data_object_matches_bytesio(data, sequence):
    obj, ref = DataObject("/b/k", len(data), "", data), io.BytesIO(data)
    for op in sequence:
        assert apply(obj, op) == apply(ref, op), op
    assert obj.tell() == ref.tell()


@pytest.fixture(scope="module")
def reader_factory(oss_module):
    c = NativeClient({"endpoint": oss_module.endpoint, "cred_path": oss_module.cred_path, "region": oss_module.region})
    cache = {}

    def make(data):
        key = f"hyp/{len(cache)}"
        if data not in cache:
            c.put("test-bucket", key, data)
            cache[data] = key
        r = c.open_reader("test-bucket", cache[data])
        return DataObject("/test-bucket/" + cache[data], r.size, "", reader=r)

    return make


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=contents, sequence=ops)
def test_reader_backed_data_object_matches_bytesio(reader_factory, data, sequence):
    obj, ref = reader_factory(data), io.BytesIO(data)
    for op in sequence:
        assert apply(obj, op) == apply(ref, op), op


def test_descriptor_and_error_objects_refuse_reads():
    with pytest.raises(io.UnsupportedOperation, match="descriptor"):
        DataObject("oss://b/k", 0, "").read()
    e = DataObject("/b/k", 0, "", err=2, error_msg="NoSuchKey")
    assert e.err() == 2 and e.error_msg() == "NoSuchKey"
    with pytest.raises(FileNotFoundError):
        e.read()
    closed = DataObject("/b/k", 1, "", b"x")
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        closed.read()
    assert DataObject("/b/k", 1, "", b"x").seekable()
    with DataObject("/b/k", 3, "", b"a\nb") as d:
        assert list(d) == [b"a\n", b"b"]


def test_data_objects_pickle():
    import pickle

    d = DataObject("/b/k", 5, "lbl", b"hello")
    d.read(2)
    e = pickle.loads(pickle.dumps(d))
    assert (e.key, e.size, e.label, e.tell(), e.read()) == ("/b/k", 5, "lbl", 2, b"llo")
    err = pickle.loads(pickle.dumps(DataObject("/b/k", 0, "", err=2, error_msg="gone")))
    assert err.err() == 2 and err.error_msg() == "gone"


def test_closing_a_reader_backed_object_releases_the_native_reader(reader_factory):
    obj = reader_factory(b"0123456789")
    copy = obj.copy()
    copy.close()  # a copy shares the reader: closing it must not close the original's
    assert obj.read(4) == b"0123"
    obj.close()
    with pytest.raises(ValueError, match="closed"):
        obj._reader.read_into(0, bytearray(1))
