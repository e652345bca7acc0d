"""OssSafetensor: round trips, interoperability with the safetensors library
both ways, slices, errors, and a large tensor through the parallel reader."""

import hashlib
import json
import struct

import pytest
import torch

safetensors = pytest.importorskip("safetensors")
import safetensors.torch as st_lib  # noqa: E402

from osstorchconnector import OssSafetensor  # noqa: E402
from osstorchconnector._oss_client import OssClient  # noqa: E402
from osstorchconnector._oss_connector import DataObject  # noqa: E402
from osstorchconnector.oss_safetensor import _DTYPES  # noqa: E402

BUCKET = "test-bucket"


@pytest.fixture(scope="module")
def sf(oss_module):
    return OssSafetensor(oss_module.endpoint, cred_path=oss_module.cred_path, region=oss_module.region)


@pytest.fixture(scope="module")
def client(oss_module):
    return OssClient(oss_module.endpoint, oss_module.cred_path, region=oss_module.region)


def _random(shape, dtype, gen):
    """Random values covering the dtype's bit patterns (raw bytes for floats
    too, so NaNs and infinities go through as well)."""
    n = 1
    for d in shape:
        n *= d
    size = torch.empty((), dtype=dtype).element_size()
    raw = torch.randint(0, 256, (n * size,), dtype=torch.uint8, generator=gen)
    if dtype == torch.bool:
        return (raw % 2).to(torch.bool).reshape(shape)
    return raw.view(dtype).reshape(shape)


def _same(a, b):
    """Bit-exact equality (NaN-safe), same dtype and shape."""
    assert a.dtype == b.dtype and a.shape == b.shape
    assert torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def _mixed():
    gen = torch.Generator().manual_seed(7)
    shapes = [(), (0,), (3, 0, 2), (1,), (5,), (3, 4), (2, 3, 5)]
    out = {}
    for name, dt in sorted(_DTYPES.items()):
        for i, shape in enumerate(shapes):
            out[f"{name}.{i}"] = _random(shape, dt, gen)
    return out


def test_dtype_table_covers_the_format():
    for name in ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"]:
        assert name in _DTYPES
    for name, attr in [("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")]:
        assert (name in _DTYPES) == hasattr(torch, attr)
    # the library's own table agrees with ours wherever both define a name
    for name, dt in st_lib._TYPES.items():
        if dt is not None and name in _DTYPES:
            assert _DTYPES[name] == dt


def test_round_trip_every_dtype_and_shape(sf):
    tensors = _mixed()
    meta = {"format": "pt", "note": "ünïcödé"}
    sf.save_file(tensors, f"oss://{BUCKET}/st/mixed.safetensors", metadata=meta)
    back = sf.load_file(f"oss://{BUCKET}/st/mixed.safetensors")
    assert list(back) == list(tensors)  # dict order = file order
    for k, t in tensors.items():
        _same(back[k], t)
    with sf.safe_open(f"oss://{BUCKET}/st/mixed.safetensors") as f:
        assert f.metadata() == meta
        assert f.keys() == list(tensors)
        _same(f.get_tensor("F32.5"), tensors["F32.5"])


def test_no_metadata_reads_as_empty_dict(sf):
    sf.save_file({"a": torch.arange(3)}, f"oss://{BUCKET}/st/nometa.safetensors")
    with sf.safe_open(f"oss://{BUCKET}/st/nometa.safetensors") as f:
        assert f.metadata() == {}
        assert f.keys() == ["a"]


def test_ours_read_by_the_library(sf, client):
    tensors = _mixed()
    sf.save_file(tensors, f"oss://{BUCKET}/st/for-lib.safetensors", metadata={"k": "v"})
    obj = client.get_object(BUCKET, "st/for-lib.safetensors")
    data = obj.read()
    hlen = struct.unpack("<Q", data[:8])[0]
    assert (8 + hlen) % 8 == 0  # data section aligned, as the library writes it
    back = st_lib.load(data)
    assert set(back) == set(tensors)
    for k, t in tensors.items():
        _same(back[k], t)


def test_ours_read_by_library_safe_open(sf, client, tmp_path):
    tensors = {"w": torch.randn(6, 4), "b": torch.arange(4, dtype=torch.int16)}
    sf.save_file(tensors, f"oss://{BUCKET}/st/for-lib2.safetensors", metadata={"who": "ours"})
    path = tmp_path / "x.safetensors"
    path.write_bytes(client.get_object(BUCKET, "st/for-lib2.safetensors").read())
    with safetensors.safe_open(str(path), framework="pt") as f:
        assert f.metadata() == {"who": "ours"}
        assert sorted(f.keys()) == ["b", "w"]
        _same(f.get_tensor("w"), tensors["w"])
        _same(f.get_slice("w")[1:3], tensors["w"][1:3])


def test_library_file_read_by_ours(sf, oss_module):
    tensors = _mixed()
    # names of different lengths: the library pads the header and reorders data by dtype
    tensors["x" * 13] = torch.randn(7, 3, dtype=torch.float64)
    data = st_lib.save(tensors, metadata={"format": "pt", "step": "12"})
    oss_module.put_object(BUCKET, "st/from-lib.safetensors", data)
    back = sf.load_file(f"oss://{BUCKET}/st/from-lib.safetensors")
    assert set(back) == set(tensors)
    for k, t in tensors.items():
        _same(back[k], t)
    with sf.safe_open(f"oss://{BUCKET}/st/from-lib.safetensors") as f:
        assert f.metadata() == {"format": "pt", "step": "12"}
        offsets = [f._header[k]["data_offsets"][0] for k in f.offset_keys()]
        assert offsets == sorted(offsets)


def test_offset_keys_follow_the_data_not_the_header(sf, oss_module):
    # a hand-made file whose header lists tensors in another order than their data
    a, b, c = torch.arange(4, dtype=torch.int32), torch.ones(2, dtype=torch.float32), torch.zeros(3, dtype=torch.uint8)
    header = {
        "c": {"dtype": "U8", "shape": [3], "data_offsets": [24, 27]},
        "a": {"dtype": "I32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [16, 24]},
    }
    raw = json.dumps(header).encode()
    data = struct.pack("<Q", len(raw)) + raw + a.numpy().tobytes() + b.numpy().tobytes() + c.numpy().tobytes()
    oss_module.put_object(BUCKET, "st/order.safetensors", data)
    with sf.safe_open(f"oss://{BUCKET}/st/order.safetensors") as f:
        assert f.keys() == ["c", "a", "b"]
        assert f.offset_keys() == ["a", "b", "c"]
        _same(f.get_tensor("c"), c)
    assert list(sf.load_file(f"oss://{BUCKET}/st/order.safetensors")) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "index",
    [
        slice(2, 5),
        slice(None),
        slice(-3, None),
        slice(1, 9, 3),
        slice(7, 2),
        4,
        -1,
        (slice(1, 4), 2),
        (slice(0, 6, 2), slice(1, 3)),
        (3, slice(None), 0),
        Ellipsis,
        (Ellipsis, 1),
        (slice(None), None),
    ],
)
def test_get_slice_matches_torch_indexing(sf, index):
    t = torch.arange(8 * 5 * 3, dtype=torch.float32).reshape(8, 5, 3)
    sf.save_file({"pad": torch.ones(3, dtype=torch.int8), "t": t}, f"oss://{BUCKET}/st/slice.safetensors")
    with sf.safe_open(f"oss://{BUCKET}/st/slice.safetensors") as f:
        s = f.get_slice("t")
        assert s.get_shape() == [8, 5, 3]
        assert s.get_dtype() == "F32"
        _same(s[index], t[index].contiguous())


def test_get_slice_errors_like_torch(sf):
    sf.save_file(
        {"t": torch.arange(6).reshape(3, 2), "s": torch.tensor(2.5)}, f"oss://{BUCKET}/st/slice-err.safetensors"
    )
    with sf.safe_open(f"oss://{BUCKET}/st/slice-err.safetensors") as f:
        with pytest.raises(IndexError):
            f.get_slice("t")[3]
        _same(f.get_slice("s")[()], torch.tensor(2.5))
        with pytest.raises(KeyError):
            f.get_slice("nope")


def test_get_slice_reads_only_the_rows(sf, monkeypatch):
    """The slice asks the object for exactly the selected rows' bytes (what
    the core's read-ahead fetches around them is its own business)."""
    rows = torch.randn(64, 1024)  # 4 KiB a row
    sf.save_file({"pad": torch.ones(5, dtype=torch.int8), "big": rows}, f"oss://{BUCKET}/st/rows.safetensors")
    reads = []
    real = DataObject.readinto

    def spy(self, buf):
        reads.append((self.tell(), memoryview(buf).nbytes))
        return real(self, buf)

    with sf.safe_open(f"oss://{BUCKET}/st/rows.safetensors") as f:
        start = f._data_start + f._header["big"]["data_offsets"][0]
        monkeypatch.setattr(DataObject, "readinto", spy)
        _same(f.get_slice("big")[10:13, 5], rows[10:13, 5])
        _same(f.get_slice("big")[20:30:4], rows[20:30:4])
        _same(f.get_slice("big")[-1], rows[-1])
    assert reads == [(start + 10 * 4096, 3 * 4096), (start + 20 * 4096, 9 * 4096), (start + 63 * 4096, 4096)]


def test_non_contiguous_is_refused_and_nothing_is_written(sf, client):
    t = torch.randn(4, 6).t()
    with pytest.raises(ValueError, match="non contiguous"):
        sf.save_file({"ok": torch.ones(2), "t": t}, f"oss://{BUCKET}/st/noncontig.safetensors")
    with pytest.raises(FileNotFoundError):
        client.head_object(BUCKET, "st/noncontig.safetensors")


def test_sparse_and_unknown_dtype_are_refused(sf):
    with pytest.raises(ValueError, match="sparse"):
        sf.save_file({"s": torch.eye(3).to_sparse()}, f"oss://{BUCKET}/st/sparse.safetensors")
    with pytest.raises(ValueError, match="dtype"):
        sf.save_file({"c": torch.zeros(2, dtype=torch.complex128)}, f"oss://{BUCKET}/st/c128.safetensors")


@pytest.mark.parametrize("metadata", [{"a": 1}, {1: "a"}, {"a": None}])
def test_non_string_metadata_is_a_type_error(sf, client, metadata):
    with pytest.raises(TypeError, match="strings"):
        sf.save_file({"t": torch.ones(2)}, f"oss://{BUCKET}/st/badmeta.safetensors", metadata=metadata)
    with pytest.raises(FileNotFoundError):
        client.head_object(BUCKET, "st/badmeta.safetensors")


def test_missing_object(sf):
    with pytest.raises(FileNotFoundError):
        sf.safe_open(f"oss://{BUCKET}/st/does-not-exist.safetensors")
    with pytest.raises(FileNotFoundError):
        sf.load_file(f"oss://{BUCKET}/st/does-not-exist.safetensors")


def test_missing_tensor_is_a_key_error(sf):
    sf.save_file({"a": torch.ones(1)}, f"oss://{BUCKET}/st/one.safetensors")
    with sf.safe_open(f"oss://{BUCKET}/st/one.safetensors") as f:
        with pytest.raises(KeyError):
            f.get_tensor("b")


def test_exception_while_saving_leaves_nothing(sf, client):
    class Boom(Exception):
        pass

    # the header and all the data went out, then the caller fails before close
    big = torch.randn(3 * 1024 * 1024)  # 12 MiB: more than one multipart part
    uri = f"oss://{BUCKET}/st/aborted.safetensors"
    bucket, key = BUCKET, "st/aborted.safetensors"
    with pytest.raises(Boom):
        with client.put_object(bucket, key) as obj:
            sf.do_save_safetensor({"big": big}, obj)
            raise Boom()
    with pytest.raises(FileNotFoundError):
        client.head_object(bucket, key)
    with pytest.raises(FileNotFoundError):
        sf.load_file(uri)


def test_exception_inside_save_file_aborts(sf, client, monkeypatch):
    """An error raised by the writer after the header went out aborts the upload."""
    big = {"a": torch.randn(3 * 1024 * 1024), "b": torch.randn(1024)}
    real = OssSafetensor.do_save_safetensor

    def failing(self, tensors, obj, metadata=None):
        writes = []
        orig_write = obj.write

        class Wrapped:
            def write(self_inner, data):
                writes.append(len(memoryview(data)))
                if len(writes) == 3:  # header, "a", then fail on "b"
                    raise OSError("disk on fire")
                return orig_write(data)

        return real(self, tensors, Wrapped(), metadata)

    monkeypatch.setattr(OssSafetensor, "do_save_safetensor", failing)
    with pytest.raises(OSError, match="disk on fire"):
        sf.save_file(big, f"oss://{BUCKET}/st/aborted2.safetensors")
    with pytest.raises(FileNotFoundError):
        client.head_object(BUCKET, "st/aborted2.safetensors")


def test_corrupt_headers_are_value_errors(sf, oss_module):
    cases = {
        "short": b"\x01\x02",
        "huge-len": struct.pack("<Q", 1 << 40) + b"{}",
        "not-json": struct.pack("<Q", 4) + b"nope",
        "not-object": struct.pack("<Q", 2) + b"[]",
    }
    for name, data in cases.items():
        oss_module.put_object(BUCKET, f"st/corrupt-{name}", data)
        with pytest.raises(ValueError):
            sf.safe_open(f"oss://{BUCKET}/st/corrupt-{name}")
    # offsets that run past the object must not be read into memory
    raw = b'{"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}'
    oss_module.put_object(BUCKET, "st/corrupt-offsets", struct.pack("<Q", len(raw)) + raw + b"\0" * 8)
    with sf.safe_open(f"oss://{BUCKET}/st/corrupt-offsets") as f:
        with pytest.raises(ValueError, match="data_offsets"):
            f.get_tensor("t")


def test_large_tensor_bit_exact(sf, client, oss_module):
    """A 50 MB tensor goes through the multipart writer and the parallel
    ranged reader (several chunks in flight) and comes back bit-exact."""
    gen = torch.Generator().manual_seed(3)
    big = (
        torch.randint(0, 256, (50 * 1000 * 1000,), dtype=torch.uint8, generator=gen)
        .view(torch.float32)
        .reshape(-1, 1000)
    )
    small = torch.arange(10, dtype=torch.int64)
    sf.save_file({"small": small, "big": big}, f"oss://{BUCKET}/st/large.safetensors")
    oss_module.reset_stats()
    back = sf.load_file(f"oss://{BUCKET}/st/large.safetensors")
    stats = oss_module.stats()
    assert (
        hashlib.sha256(back["big"].view(torch.uint8).numpy()).hexdigest()
        == hashlib.sha256(big.view(torch.uint8).numpy()).hexdigest()
    )
    _same(back["small"], small)
    gets = sum(
        n for op, by_status in stats["requests"].items() if op.startswith("GetObject") for n in by_status.values()
    )
    assert gets >= 5, stats["requests"]  # ranged reads, not one whole-object GET
    # and the library reads the same bytes
    lib = st_lib.load(client.get_object(BUCKET, "st/large.safetensors").read())
    assert torch.equal(lib["big"].view(torch.uint8), big.view(torch.uint8))


def test_device_argument(sf):
    sf.save_file({"t": torch.arange(5)}, f"oss://{BUCKET}/st/dev.safetensors")
    assert sf.load_file(f"oss://{BUCKET}/st/dev.safetensors", device=torch.device("cpu"))["t"].device.type == "cpu"
    if torch.cuda.is_available():
        back = sf.load_file(f"oss://{BUCKET}/st/dev.safetensors", device=0)
        assert back["t"].device.type == "cuda"
        assert torch.equal(back["t"].cpu(), torch.arange(5))
        with sf.safe_open(f"oss://{BUCKET}/st/dev.safetensors", device="cuda:0") as f:
            assert f.get_slice("t")[1:3].device.type == "cuda"
        # CUDA tensors are saved from CPU copies
        sf.save_file({"g": torch.arange(4, device="cuda")}, f"oss://{BUCKET}/st/dev2.safetensors")
        assert torch.equal(sf.load_file(f"oss://{BUCKET}/st/dev2.safetensors")["g"], torch.arange(4))


def test_lazy_export():
    import osstorchconnector

    assert "OssSafetensor" in osstorchconnector.__all__
    assert osstorchconnector.OssSafetensor is OssSafetensor
