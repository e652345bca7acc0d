"""OssFsspecFileSystem beyond fsspec's abstract suites: what each operation
sends to OSS (the server's request counts), listing "directories", errors,
storage options, writes that fail, and the fsspec registry."""

import gc
import importlib
import io
import os
import pickle
import subprocess
import sys
import warnings

import fsspec
import pytest

from osstorchconnector.fsspec import OssFsspecFile, OssFsspecFileSystem
from support.fsspec_fixtures import storage_options
from support.server import answered, settled_stats

BUCKET = "test-bucket"
MIB = 1 << 20


def requests(srv, *ops):
    """{op: requests answered} since the last reset_stats, once none is in flight."""
    st = settled_stats(srv)
    return {op: sum(st["requests"].get(op, {}).values()) for op in ops}


def blob(n, seed=0):
    return bytes((i * 131 + seed) & 0xFF for i in range(256)) * (n // 256) + b"\x07" * (n % 256)


# ---- reading ----


def test_open_reads_through_the_readers_read_ahead(oss_module, oss_fs, root):
    data = blob(24 * MIB)
    oss_module.put_object(BUCKET, f"{root[len(BUCKET) + 1 :]}/big", data)
    oss_module.reset_stats()
    out = bytearray()
    with oss_fs.open(f"{root}/big", "rb") as f:
        assert f.size == len(data)
        while chunk := f.read(256 << 10):  # many small reads
            out += chunk
    assert bytes(out) == data
    got = requests(oss_module, "GetObject", "HeadObject")
    # the reader fetches in parts of several MiB: one request per read() would send many more
    assert 1 <= got["GetObject"] <= 12, got
    assert got["HeadObject"] <= 2, got


def test_readinto_seek_tell_readline_and_iteration(oss_fs, root):
    lines = [f"line {i}\n".encode() * (i % 7 + 1) for i in range(3000)]
    oss_fs.pipe(f"{root}/text", b"".join(lines))
    with oss_fs.open(f"{root}/text") as f:
        assert [ln for ln in f] == b"".join(lines).splitlines(keepends=True)
        f.seek(7)
        buf = bytearray(5)
        assert f.readinto(buf) == 5 and bytes(buf) == b"".join(lines)[7:12]
        assert f.tell() == 12
        f.seek(-3, 2)
        assert f.read() == b"".join(lines)[-3:]
        assert f.read() == b"" and f.readinto(buf) == 0
        f.seek(0)
        assert f.readline(3) == b"lin"
    with oss_fs.open(f"{root}/text", "r", encoding="utf-8") as f:  # text mode, through io.TextIOWrapper
        assert f.readline() == lines[0].decode()


def test_cat_of_many_paths_is_one_concurrent_batch(oss_module, oss_fs, root):
    names = [f"{root}/small/{i:03d}" for i in range(60)]
    oss_fs.pipe({n: blob(1000, i) for i, n in enumerate(names)})
    oss_module.set_faults(latency_ms=40, ops=["GetObject"])
    try:
        oss_module.reset_stats()
        out = oss_fs.cat(names)
        st = settled_stats(oss_module)
    finally:
        oss_module.clear_faults()
    assert out == {n: blob(1000, i) for i, n in enumerate(names)}
    assert answered(st, "GetObject") == 60 and not st["requests"].get("HeadObject")
    assert st["peak_concurrent"] > 4, st  # GETs one at a time would never overlap


def test_cat_recursive_glob_and_on_error(oss_fs, root):
    oss_fs.pipe({f"{root}/d/a": b"a", f"{root}/d/sub/b": b"b", f"{root}/d/c.txt": b"c"})
    assert oss_fs.cat(f"{root}/d", recursive=True) == {
        f"{root}/d/a": b"a",
        f"{root}/d/c.txt": b"c",
        f"{root}/d/sub/b": b"b",
    }
    assert oss_fs.cat(f"oss://{root}/d/*.txt") == {f"{root}/d/c.txt": b"c"}
    assert oss_fs.cat(f"oss://{root}/d/a") == b"a"
    paths = [f"{root}/d/a", f"{root}/d/missing"]
    with pytest.raises(FileNotFoundError):
        oss_fs.cat(paths)
    assert oss_fs.cat(paths, on_error="omit") == {f"{root}/d/a": b"a"}
    got = oss_fs.cat(paths, on_error="return")
    assert got[f"{root}/d/a"] == b"a" and isinstance(got[f"{root}/d/missing"], FileNotFoundError)
    with pytest.raises(ValueError):
        oss_fs.cat(paths, on_error="ignore")


def test_cat_file_ranges(oss_module, oss_fs, root):
    data = blob(10_000)
    oss_fs.pipe(f"{root}/r", data)
    oss_module.reset_stats()
    assert oss_fs.cat_file(f"{root}/r", 100, 300) == data[100:300]
    assert requests(oss_module, "GetObject", "HeadObject") == {"GetObject": 1, "HeadObject": 0}
    for start, end in [(None, None), (0, None), (9_990, None), (-10, None), (5, -5), (None, 7), (20_000, None)]:
        assert oss_fs.cat_file(f"{root}/r", start, end) == data[start:end], (start, end)
    assert oss_fs.cat_file(f"{root}/r", 50, 40) == b""


def test_missing_paths_raise_file_not_found(oss_fs, root):
    p = f"{root}/nope"
    for call in (
        lambda: oss_fs.open(p),
        lambda: oss_fs.cat_file(p),
        lambda: oss_fs.cat_file(p, 1, 2),
        lambda: oss_fs.info(p),
        lambda: oss_fs.ls(p),
        lambda: oss_fs.rm(p),
        lambda: oss_fs.rm_file(p),
        lambda: oss_fs.cp(p, f"{root}/x"),
        lambda: oss_fs.ls("no-such-bucket"),
        lambda: oss_fs.info("no-such-bucket"),
        lambda: oss_fs.cat_file("no-such-bucket/k"),
    ):
        with pytest.raises(FileNotFoundError):
            call()
    assert not oss_fs.exists(p) and not oss_fs.isfile(p) and not oss_fs.isdir(p)
    assert not oss_fs.exists("no-such-bucket")
    assert oss_fs.find(p) == []


def test_directories_are_not_objects(oss_fs, root):
    oss_fs.pipe(f"{root}/d/x", b"x")
    for call in (lambda: oss_fs.open(f"{root}/d"), lambda: oss_fs.cat_file(f"{root}/d")):
        with pytest.raises(IsADirectoryError):
            call()
    with pytest.raises(IsADirectoryError):
        oss_fs.rm(f"{root}/d")
    with pytest.raises(IsADirectoryError):
        oss_fs.open(BUCKET, "wb")
    assert oss_fs.exists(f"{root}/d/x")  # nothing was removed


# ---- listing ----


def test_ls_find_info_derive_directories_from_keys(oss_module, oss_fs, root):
    key = root[len(BUCKET) + 1 :]
    oss_fs.pipe({f"{root}/a": b"1", f"{root}/d/b": b"22", f"{root}/d/e/c": b"333", f"{root}/empty": b""})
    oss_module.put_object(BUCKET, f"{key}/marker/", b"")  # a console-made "folder"
    assert oss_fs.ls(root, detail=False) == [f"{root}/a", f"{root}/d", f"{root}/empty", f"{root}/marker"]
    by_name = {e["name"]: e for e in oss_fs.ls(f"oss://{root}/")}
    assert by_name[f"{root}/a"] == {"name": f"{root}/a", "size": 1, "type": "file"}
    assert by_name[f"{root}/d"]["type"] == by_name[f"{root}/marker"]["type"] == "directory"
    assert oss_fs.ls(f"{root}/marker") == []
    assert oss_fs.ls(f"{root}/d/e/c", detail=False) == [f"{root}/d/e/c"]  # a file lists as itself
    assert oss_fs.find(root) == [f"{root}/a", f"{root}/d/b", f"{root}/d/e/c", f"{root}/empty"]
    assert oss_fs.find(root, maxdepth=1) == [f"{root}/a", f"{root}/empty"]
    assert oss_fs.find(root, withdirs=True, maxdepth=2) == [
        root,
        f"{root}/a",
        f"{root}/d",
        f"{root}/d/b",
        f"{root}/d/e",
        f"{root}/empty",
        f"{root}/marker",
    ]
    assert oss_fs.find(f"{root}/d/b") == [f"{root}/d/b"]
    assert oss_fs.glob(f"{root}/d/**") == [f"{root}/d", f"{root}/d/b", f"{root}/d/e", f"{root}/d/e/c"]
    assert [w[0] for w in oss_fs.walk(root)] == [root, f"{root}/d", f"{root}/d/e", f"{root}/marker"]
    assert [w[0] for w in oss_fs.walk(root, topdown=False)] == [f"{root}/d/e", f"{root}/d", f"{root}/marker", root]
    pruned = []
    for top, dirs, _ in oss_fs.walk(root):
        pruned.append(top)
        if "d" in dirs:
            dirs.remove("d")  # as os.walk: not descended into
    assert pruned == [root, f"{root}/marker"]
    assert oss_fs.du(root) == 6
    info = oss_fs.info(f"{root}/empty")
    assert info["type"] == "file" and info["size"] == 0 and info["ETag"]  # an empty object is not a directory
    assert oss_fs.info(f"{root}/d") == {"name": f"{root}/d", "size": 0, "type": "directory"}
    assert oss_fs.info(f"{root}/marker")["type"] == "directory"
    assert oss_fs.info(BUCKET)["type"] == "directory"
    assert oss_fs.isdir(f"{root}/d") and not oss_fs.isfile(f"{root}/d")
    assert oss_fs.isfile(f"{root}/empty") and not oss_fs.isdir(f"{root}/empty")
    assert oss_fs.checksum(f"{root}/a") != oss_fs.checksum(f"{root}/d/b")


def test_listing_hides_part_checksum_files(oss_fs, root):
    with oss_fs.open(f"{root}/big", "wb", block_size=MIB) as f:  # parts: the writer leaves big.osstorch-crc64
        f.write(blob(3 * MIB))
    raw = [k for _, k, _, _ in oss_fs.client.list_entries(BUCKET, root[len(BUCKET) + 1 :] + "/")]
    assert any(k.endswith(".osstorch-crc64") for k in raw), raw
    assert oss_fs.ls(root, detail=False) == [f"{root}/big"]
    assert oss_fs.find(root) == [f"{root}/big"]
    oss_fs.rm(root, recursive=True)  # the checksum file goes with its object
    assert not list(oss_fs.client.list_entries(BUCKET, root[len(BUCKET) + 1 :] + "/"))


# ---- writing ----


def test_open_writes_through_the_multipart_writer_and_commits_on_close(oss_module, oss_fs, root):
    oss_module.reset_stats()
    data = blob(20 * MIB, 3)
    with oss_fs.open(f"{root}/w", "wb", block_size=4 * MIB) as f:
        for i in range(0, len(data), 1000):  # many small writes, gathered before the core
            f.write(data[i : i + 1000])
        assert f.tell() == len(data)
        assert not oss_fs.exists(f"{root}/w")  # nothing visible before close
    got = requests(oss_module, "InitiateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutObject")
    assert got["InitiateMultipartUpload"] == 1 and got["CompleteMultipartUpload"] == 1, got
    assert got["UploadPart"] >= 4, got
    assert oss_fs.cat_file(f"{root}/w") == data


def test_an_exception_inside_with_leaves_no_object(oss_module, oss_fs, root):
    for size in (100, 12 * MIB):  # one PUT, and a multipart upload under way
        with pytest.raises(RuntimeError, match="stop"):
            with oss_fs.open(f"{root}/w{size}", "wb", block_size=MIB) as f:
                f.write(blob(size))
                raise RuntimeError("stop")
        assert f.closed
        assert not oss_fs.exists(f"{root}/w{size}")
    assert requests(oss_module, "AbortMultipartUpload")["AbortMultipartUpload"] >= 1


class Boom(Exception):
    pass


def test_wrappers_that_close_on_a_failure_leave_no_object(oss_module, oss_fs, oss_protocol, root):
    # fsspec.open's with, and text mode: the file is closed by a wrapper that does not pass the exception on
    with pytest.raises(Boom):
        with fsspec.open(f"oss://{root}/openfile", "wb", **storage_options(oss_module)) as f:
            f.write(b"half")
            raise Boom()
    with pytest.raises(Boom):
        with oss_fs.open(f"{root}/text", "w") as f:
            f.write("half")
            raise Boom()
    assert not oss_fs.exists(f"{root}/openfile") and not oss_fs.exists(f"{root}/text")
    # pandas writes a CSV in chunks and closes its handle in a finally when a row fails
    pd = pytest.importorskip("pandas")

    class Bad:
        def __str__(self):
            raise Boom()

    df = pd.DataFrame({"x": range(200_000), "y": ["ok"] * 199_999 + [Bad()]})
    with pytest.raises(Boom):
        df.to_csv(f"oss://{root}/t.csv", storage_options=storage_options(oss_module))
    assert not oss_fs.exists(f"{root}/t.csv")
    # pyarrow's ParquetWriter closes its sink in __exit__
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"x": list(range(100_000))})
    with pytest.raises(Boom):
        with pq.ParquetWriter(f"{root}/w.parquet", table.schema, filesystem=oss_fs) as w:
            w.write_table(table)
            raise Boom()
    assert not oss_fs.exists(f"{root}/w.parquet")


def test_a_file_written_while_an_exception_is_handled_is_committed(oss_fs, root, caplog):
    try:
        raise Boom()
    except Boom:
        with oss_fs.open(f"{root}/report", "wb") as f:  # opened and closed under the same exception
            f.write(b"what went wrong")
    assert oss_fs.cat_file(f"{root}/report") == b"what went wrong"
    f = oss_fs.open(f"{root}/before", "wb")
    f.write(b"x")
    try:
        raise Boom()
    except Boom:
        f.close()  # an exception raised after the open: as a failed write, discarded, and logged
    assert not oss_fs.exists(f"{root}/before")
    assert any("discarded" in r.getMessage() and "Boom" in r.getMessage() for r in caplog.records)


def test_a_file_dropped_without_close_is_discarded_with_a_warning(oss_fs, root):
    f = oss_fs.open(f"{root}/dropped", "wb", block_size=MIB)
    f.write(blob(3 * MIB))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del f
        gc.collect()
    assert any(issubclass(w.category, ResourceWarning) and "discarded" in str(w.message) for w in caught)
    assert not oss_fs.exists(f"{root}/dropped")


def test_a_failed_upload_raises_and_leaves_no_object(oss_module, oss_fs, root):
    oss_module.set_faults(error_rate_500=1.0, ops=["UploadPart", "PutObject"])
    try:
        with pytest.raises(OSError):
            with oss_fs.open(f"{root}/fails", "wb", block_size=MIB) as f:
                f.write(blob(3 * MIB))
        with pytest.raises(OSError):
            oss_fs.pipe(f"{root}/fails-small", b"x")
    finally:
        oss_module.clear_faults()
    assert not oss_fs.exists(f"{root}/fails") and not oss_fs.exists(f"{root}/fails-small")


def test_write_mode_errors_and_unsupported_modes(oss_fs, root):
    with oss_fs.open(f"{root}/m", "wb") as f:
        with pytest.raises(io.UnsupportedOperation):
            f.read()
        with pytest.raises(OSError):
            f.seek(0)
    with pytest.raises(ValueError):
        f.write(b"late")
    with pytest.raises(NotImplementedError):
        oss_fs.open(f"{root}/m", "ab")
    with oss_fs.open(f"{root}/m", "rb") as f:
        with pytest.raises(io.UnsupportedOperation):
            f.write(b"x")
    with pytest.raises(TypeError):
        oss_fs.pipe(f"{root}/s", "text")
    with pytest.raises(ValueError):
        oss_fs.pipe_file(f"{root}/s", b"x", mode="append")


def test_exclusive_create(oss_fs, root):
    oss_fs.pipe_file(f"{root}/x", b"1", mode="create")
    with pytest.raises(FileExistsError):
        oss_fs.pipe_file(f"{root}/x", b"2", mode="create")
    with pytest.raises(FileExistsError):
        oss_fs.open(f"{root}/x", "xb")
    assert oss_fs.cat_file(f"{root}/x") == b"1"


@pytest.mark.parametrize("size", [100, 3 * MIB])
def test_exclusive_create_loses_to_an_object_that_appears_meanwhile(oss_fs, root, size):
    f = oss_fs.open(f"{root}/race", "xb", block_size=MIB)  # nothing there yet
    f.write(blob(size))
    oss_fs.pipe(f"{root}/race", b"the other writer's")  # first to commit
    with pytest.raises(FileExistsError):
        f.close()
    assert f.closed
    assert oss_fs.cat_file(f"{root}/race") == b"the other writer's"


def test_text_mode_and_transactions(oss_fs, root):
    with oss_fs.open(f"{root}/t.txt", "w", encoding="utf-8") as f:
        f.write("héllo\n")
    assert oss_fs.cat_file(f"{root}/t.txt") == "héllo\n".encode()
    with oss_fs.transaction:
        with oss_fs.open(f"{root}/tx", "wb") as f:
            f.write(b"in a transaction")
        assert not oss_fs.exists(f"{root}/tx")  # committed when the transaction ends
    assert oss_fs.cat_file(f"{root}/tx") == b"in a transaction"
    with pytest.raises(KeyError):
        with oss_fs.transaction:
            with oss_fs.open(f"{root}/tx2", "wb") as f:
                f.write(b"dropped")
            raise KeyError("abandon")
    assert not oss_fs.exists(f"{root}/tx2")


# ---- copy and remove ----


def test_cp_copies_large_objects_and_directories(oss_fs, root):
    data = blob(18 * MIB, 5)
    with oss_fs.open(f"{root}/src/big", "wb") as f:
        f.write(data)
    oss_fs.pipe(f"{root}/src/sub/small", b"small")
    oss_fs.cp(f"{root}/src/big", f"{root}/copy")
    assert oss_fs.cat_file(f"{root}/copy") == data
    oss_fs.cp(f"{root}/src", f"{root}/dst", recursive=True)
    assert oss_fs.find(f"{root}/dst") == [f"{root}/dst/big", f"{root}/dst/sub/small"]
    assert oss_fs.cat_file(f"{root}/dst/sub/small") == b"small"
    oss_fs.mv(f"{root}/copy", f"{root}/moved")
    assert not oss_fs.exists(f"{root}/copy") and oss_fs.size(f"{root}/moved") == len(data)


def test_rm(oss_fs, root):
    oss_fs.pipe({f"{root}/a": b"a", f"{root}/b.txt": b"b", f"{root}/d/c": b"c", f"{root}/d/e/f": b"f"})
    oss_fs.rm(f"{root}/a")
    assert not oss_fs.exists(f"{root}/a")
    oss_fs.rm(f"{root}/*.txt")
    assert not oss_fs.exists(f"{root}/b.txt")
    with pytest.raises(FileNotFoundError):  # one wrong path: nothing of the call is removed
        oss_fs.rm([f"{root}/d/c", f"{root}/nope"])
    assert oss_fs.exists(f"{root}/d/c")
    oss_fs.rm(f"{root}/d", recursive=True, maxdepth=1)
    assert oss_fs.find(root) == [f"{root}/d/e/f"]
    oss_fs.rm(root, recursive=True)
    assert not oss_fs.exists(root)
    with pytest.raises(FileNotFoundError):
        oss_fs.rm(root, recursive=True)


# ---- pandas and pyarrow ----


@pytest.fixture
def oss_protocol(monkeypatch):
    """oss:// as the installed package has it (its entry point); run from
    the source tree, where no entry point exists, registered by hand."""
    registry = importlib.import_module("fsspec.registry")  # the module: fsspec.registry is its mapping

    if not _registered("oss"):
        monkeypatch.setitem(registry._registry, "oss", OssFsspecFileSystem)


def test_pandas_read_and_write_parquet_by_url(oss_module, oss_protocol, root):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"x": range(1000), "y": [f"v{i}" for i in range(1000)]})
    opts = storage_options(oss_module)
    df.to_parquet(f"oss://{root}/t.parquet", storage_options=opts)
    back = pd.read_parquet(f"oss://{root}/t.parquet", storage_options=opts)
    pd.testing.assert_frame_equal(back, df)
    df.to_csv(f"oss://{root}/t.csv", index=False, storage_options=opts)
    pd.testing.assert_frame_equal(pd.read_csv(f"oss://{root}/t.csv", storage_options=opts), df)


def test_pyarrow_dataset_writes_and_reads_a_partitioned_dataset(oss_fs, root):
    pa = pytest.importorskip("pyarrow")
    ds = pytest.importorskip("pyarrow.dataset")
    table = pa.table({"part": [i % 3 for i in range(3000)], "v": list(range(3000))})
    ds.write_dataset(table, f"{root}/ds", filesystem=oss_fs, format="parquet", partitioning=["part"])
    assert sorted(oss_fs.ls(f"{root}/ds", detail=False)) == [f"{root}/ds/{p}" for p in "012"]
    back = ds.dataset(f"{root}/ds", filesystem=oss_fs, format="parquet", partitioning=["part"]).to_table()
    assert sorted(back.column("v").to_pylist()) == list(range(3000))
    one = ds.dataset(f"{root}/ds", filesystem=oss_fs, format="parquet", partitioning=["part"])
    assert one.to_table(filter=ds.field("part") == 1).num_rows == 1000


# ---- storage options, credentials, pickling ----


def test_storage_options_as_upstream_and_as_ossfs(oss_module, root, monkeypatch):
    srv = oss_module
    fs = OssFsspecFileSystem(endpoint=srv.endpoint, key=srv.access_key_id, secret=srv.access_key_secret, region="")
    fs.pipe(f"{root}/k", b"by key")
    assert srv.access_key_secret not in repr(fs) and srv.access_key_secret not in repr(fs.client)
    monkeypatch.setenv("OSS_ENDPOINT", srv.endpoint)
    fs2 = OssFsspecFileSystem(cred_path=srv.cred_path, region=srv.region, skip_instance_cache=True)
    assert fs2.cat_file(f"{root}/k") == b"by key"
    for url in (f"oss://{root}/k", f"osstorch://{root}/k", f"/{root}/k"):
        assert fs2.cat_file(url) == b"by key"

    class Provider:
        def get_credentials(self):
            return {"AccessKeyId": srv.access_key_id, "AccessKeySecret": srv.access_key_secret}

    fs3 = fsspec.filesystem("osstorch", endpoint=srv.endpoint, cred_provider=Provider()) if _registered() else None
    if fs3 is not None:
        assert fs3.cat_file(f"{root}/k") == b"by key"
    monkeypatch.delenv("OSS_ENDPOINT")
    with pytest.raises(ValueError, match="endpoint"):
        OssFsspecFileSystem(cred_path=srv.cred_path, skip_instance_cache=True)
    with pytest.raises(TypeError, match="cred_file"):
        OssFsspecFileSystem(endpoint=srv.endpoint, cred_file=srv.cred_path)
    with pytest.raises(ValueError):
        OssFsspecFileSystem(endpoint=srv.endpoint, key=srv.access_key_id)
    with pytest.raises(ValueError):
        OssFsspecFileSystem(endpoint=srv.endpoint, key="k", secret="s", cred_path=srv.cred_path)


def _registered(protocol="osstorch"):
    """Whether fsspec resolves protocol to ours (without our entry points,
    "oss" is ossfs's, or an ImportError where ossfs is not installed)."""
    try:
        return fsspec.get_filesystem_class(protocol) is OssFsspecFileSystem
    except (ValueError, ImportError):
        return False


def test_refused_credentials_raise_permission_error_not_missing(oss_module, root):
    fs = OssFsspecFileSystem(
        endpoint=oss_module.endpoint, key="LTAIWRONG", secret="wrong-secret", skip_instance_cache=True
    )
    for call in (lambda: fs.exists(f"{root}/x"), lambda: fs.cat_file(f"{root}/x"), lambda: fs.ls(root)):
        with pytest.raises(PermissionError) as e:
            call()
        assert "wrong-secret" not in str(e.value)


def test_filesystem_and_read_files_pickle(oss_fs, root):
    oss_fs.pipe(f"{root}/p", b"0123456789")
    fs2 = pickle.loads(pickle.dumps(oss_fs))
    assert fs2.cat_file(f"{root}/p") == b"0123456789"
    with oss_fs.open(f"{root}/p") as f:
        f.seek(4)
        g = pickle.loads(pickle.dumps(f))
        assert isinstance(g, OssFsspecFile) and g.read() == b"456789"
        g.close()


# ---- the registry ----


def test_entry_points_name_oss_and_osstorch():
    text = open(os.path.join(os.path.dirname(__file__), "..", "..", "pyproject.toml")).read()
    section = text.split('[project.entry-points."fsspec.specs"]', 1)[1].split("\n[", 1)[0]
    assert 'oss = "osstorchconnector.fsspec:OssFsspecFileSystem"' in section
    assert 'osstorch = "osstorchconnector.fsspec:OssFsspecFileSystem"' in section


def test_installed_package_takes_oss_from_ossfs_and_keeps_ossfs_reachable():
    from importlib import metadata

    eps = {ep.name: ep.value for ep in metadata.entry_points(group="fsspec.specs")}
    if eps.get("osstorch") != "osstorchconnector.fsspec:OssFsspecFileSystem":
        pytest.skip("osstorchconnector is not installed with its entry points (make install)")
    # a fresh interpreter: fsspec reads the entry points when it is imported
    code = (
        "import fsspec, sys\n"
        "from osstorchconnector.fsspec import OssFsspecFileSystem as ours\n"
        "assert fsspec.get_filesystem_class('oss') is ours\n"
        "assert fsspec.get_filesystem_class('osstorch') is ours\n"
        "try:\n"
        "    import ossfs\n"
        "except ImportError:\n"
        "    sys.exit(0)\n"
        "assert fsspec.get_filesystem_class('oss') is ours\n"
        "fsspec.register_implementation('oss', ossfs.OSSFileSystem, clobber=True)\n"
        "assert fsspec.get_filesystem_class('oss') is ossfs.OSSFileSystem\n"
        "assert fsspec.get_filesystem_class('osstorch') is ours\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
