"""Tar datasets: generate_tar_archive, from_tar on both dataset kinds, and
indexes that upstream osstorchconnector wrote."""

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile

import pytest
import torch
from torch.utils.data import DataLoader

from osstorchconnector import OssIterableDataset, OssMapDataset, generate_tar_archive
from osstorchconnector.testing import LocalOssServer
from support.paths import GO
from support.transforms import name_and_bytes

B = "tar-bucket"
N = 10_000


def content(i):
    return hashlib.md5(str(i).encode()).digest() * (1 + i % 7)


SRC = None  # the local folder the shard was made from: members are named by its path, as upstream names them


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    global SRC
    SRC = tmp_path_factory.mktemp("src")
    for i in range(N):
        d = SRC / f"c{i % 10}"
        d.mkdir(exist_ok=True)
        (d / f"{i:05d}.bin").write_bytes(content(i))
    with LocalOssServer([B]) as s:
        n = generate_tar_archive(
            s.endpoint, s.cred_path, "", f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", str(SRC), region=s.region
        )
        assert n == 0  # as upstream's
        yield s


def kw(s, **extra):
    return dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, **extra)


def expected():
    return {f"{SRC}/c{i % 10}/{i:05d}.bin": content(i) for i in range(N)}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["map", "iterable"])
@pytest.mark.parametrize("workers", [0, 2, 4])
def test_ten_thousand_members_exactly_once(srv, kind, workers):
    if kind == "map":
        ds = OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=name_and_bytes, **kw(srv))
        assert len(ds) == N
    else:
        ds = OssIterableDataset.from_tar(
            f"oss://{B}/shard.tar",
            f"oss://{B}/shard.idx",
            transform=name_and_bytes,
            shuffle=True,
            shuffle_chunk_size=100,
            **kw(srv),
        )
    dl = DataLoader(ds, batch_size=64, num_workers=workers, collate_fn=list, timeout=300 if workers else 0)
    seen = {}
    for batch in dl:
        for name, data in batch:
            assert name not in seen
            seen[name] = data
    assert seen == expected()


def test_contiguous_runs_are_one_request_each(srv):
    ds = OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=name_and_bytes, **kw(srv))
    ds[0]  # loads the index
    srv.reset_stats()
    got = ds.__getitems__(list(range(100, 164)))
    assert [n for n, _ in got] == sorted(expected())[100:164]  # archive order: the folder walk, sorted
    assert srv.stats()["requests"]["GetObject"] == {"206": 1}
    srv.reset_stats()
    ds.__getitems__([5, 6, 7, 500, 501, 9000])
    assert srv.stats()["requests"]["GetObject"] == {"206": 3}


def test_shuffle_is_seeded_and_complete(srv):
    def order(seed):
        ds = OssIterableDataset.from_tar(
            f"oss://{B}/shard.tar",
            f"oss://{B}/shard.idx",
            transform=name_and_bytes,
            shuffle=True,
            shuffle_chunk_size=50,
            seed=seed,
            **kw(srv),
        )
        return [n for n, _ in ds]

    a, b, c = order(1), order(1), order(2)
    assert a == b and a != c
    assert sorted(a) == sorted(expected()) and len(set(a)) == N
    plain = OssIterableDataset.from_tar(
        f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=name_and_bytes, **kw(srv)
    )
    assert [n for n, _ in plain] == sorted(expected())  # archive order without shuffle


def test_upstream_shuffle_method_and_is_continuous(srv):
    def order(seed):
        ds = OssIterableDataset.from_tar(
            f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=name_and_bytes, shuffle_chunk_size=50, **kw(srv)
        )
        ds.shuffle(torch.Generator().manual_seed(seed))
        return [n for n, _ in ds]

    a, b, c = order(1), order(1), order(2)
    assert a == b and a != c and sorted(a) == sorted(expected())
    with pytest.raises(TypeError, match="from_prefix"):  # a user's get_dataset_objects has no order of ours
        OssIterableDataset(srv.endpoint, srv.cred_path, "", lambda client: [], region=srv.region).shuffle()
    ds = OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", **kw(srv))
    assert ds.is_continuous([3, 4, 5]) and not ds.is_continuous([3, 5]) and ds.is_continuous([])


def test_archives_from_python_and_gnu_tar_with_long_names(srv, tmp_path):
    long = "d/" + "x" * 150 + ".bin"
    files = {"a.txt": b"alpha", long: b"long name member", "b/c.bin": b"\x00" * 1000}
    src = tmp_path / "src"
    for name, data in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(data)
    py_tar = tmp_path / "py.tar"
    with tarfile.open(py_tar, "w", format=tarfile.GNU_FORMAT) as tf:
        for name in files:
            tf.add(src / name, arcname=name)
    tars = {"py": py_tar}
    if shutil.which("tar"):
        gnu = tmp_path / "gnu.tar"
        subprocess.run(["tar", "--format=gnu", "-cf", str(gnu), "-C", str(src), *files], check=True)
        tars["gnu"] = gnu
    for label, path in tars.items():
        srv.put_object(B, f"ext/{label}.tar", path.read_bytes())
        n = generate_tar_archive(
            srv.endpoint,
            srv.cred_path,
            "",
            f"oss://{B}/ext/{label}.tar",
            f"oss://{B}/ext/{label}.idx",
            "",
            index_only=True,
            region=srv.region,
        )
        assert n == 0
        ds = OssMapDataset.from_tar(
            f"oss://{B}/ext/{label}.tar", f"oss://{B}/ext/{label}.idx", transform=name_and_bytes, **kw(srv)
        )
        assert dict(ds[i] for i in range(len(ds))) == files, label
    # a local tar indexed to a local index file: upstream's encoding, our checksum file beside it
    n = generate_tar_archive(
        srv.endpoint, srv.cred_path, "", str(py_tar), str(tmp_path / "py.idx"), "", index_only=True, region=srv.region
    )
    assert n == 0 and (tmp_path / "py.idx").read_bytes().startswith(b"TarIdx\0\0")
    assert (tmp_path / "py.idx.osstorch-crc64").read_bytes().startswith(b"OSTARIDX")


def test_bad_indexes_and_arguments(srv, tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("only.bin")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    srv.put_object(B, "bad/one.tar", raw.getvalue())
    generate_tar_archive(
        srv.endpoint,
        srv.cred_path,
        "",
        f"oss://{B}/bad/one.tar",
        f"oss://{B}/bad/one.idx",
        "",
        index_only=True,
        region=srv.region,
    )
    from osstorchconnector import _native

    c = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
    idx = c.get(B, "bad/one.idx")
    assert idx.startswith(b"TarIdx")
    srv.put_object(B, "bad/truncated.idx", idx[:-5])
    srv.put_object(B, "bad/flipped.idx", idx[:12] + bytes([idx[12] ^ 1]) + idx[13:])
    for bad in ("truncated", "flipped"):
        with pytest.raises(ValueError, match="corrupt tar index"):
            OssMapDataset.from_tar(f"oss://{B}/bad/one.tar", f"oss://{B}/bad/{bad}.idx", **kw(srv))
    # an index that does not match its tar
    with pytest.raises(ValueError, match="does not match"):
        OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/bad/one.idx", **kw(srv))
    with pytest.raises(ValueError, match="same bucket"):
        OssMapDataset.from_tar(f"oss://{B}/shard.tar", "oss://other-bucket/shard.idx", **kw(srv))
    with pytest.raises(ValueError, match="oss://"):
        OssIterableDataset.from_tar("/local/shard.tar", f"oss://{B}/shard.idx", **kw(srv))
    with pytest.raises(ValueError, match="not a readable tar"):
        srv.put_object(B, "bad/garbage.tar", b"garbage!" * 200)
        generate_tar_archive(
            srv.endpoint,
            srv.cred_path,
            "",
            f"oss://{B}/bad/garbage.tar",
            f"oss://{B}/bad/g.idx",
            "",
            index_only=True,
            region=srv.region,
        )
    with pytest.raises(ValueError, match="endpoint must be non-empty"):
        generate_tar_archive("", srv.cred_path, "", "a", "b", "c")
    with pytest.raises(ValueError, match="neither cred_path nor cred_provider"):
        generate_tar_archive(srv.endpoint, "", "", "a", "b", "c")


def test_command_line(srv, tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(5):
        (tmp_path / "in" / f"{i}.txt").write_text(str(i))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "osstorchconnector.tools.generate_tar_archive",
            "-ep",
            srv.endpoint,
            "--cred-path",
            srv.cred_path,
            "--region",
            srv.region,
            "--tar-path",
            f"oss://{B}/cli.tar",
            "--index-path",
            f"oss://{B}/cli.idx",
            "--source-path",
            str(tmp_path / "in"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("5 members, tar oss://tar-bucket/cli.tar")
    ds = OssMapDataset.from_tar(f"oss://{B}/cli.tar", f"oss://{B}/cli.idx", transform=name_and_bytes, **kw(srv))
    assert [ds[i] for i in range(5)] == [(f"{tmp_path}/in/{i}.txt", str(i).encode()) for i in range(5)]
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "osstorchconnector.tools.generate_tar_archive",
            "-ep",
            "",
            "--tar-path",
            "x",
            "--index-path",
            "y",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "endpoint must be non-empty" in bad.stderr


# Tars and the indexes upstream osstorchconnector 1.2.3 wrote for them, with
# what upstream's OssMapDataset.from_tar reported per member (go/tarindex
# reads them too): the read path stays covered where upstream can't be installed.
GOLDEN = GO / "tarindex" / "testdata" / "upstream"


def key_size_label_digest(obj):
    return [obj.key, obj.size, obj.label, hashlib.sha256(obj.read()).hexdigest()]


@pytest.mark.parametrize("name", ["three", "gold", "pax", "gnu", "empty", "local"])
def test_indexes_written_by_upstream_read_as_upstream_reads_them(srv, name):
    want = json.loads((GOLDEN / "members.json").read_text())[name]
    for ext in ("tar", "idx"):
        srv.put_object(B, f"golden/{name}.{ext}", (GOLDEN / f"{name}.{ext}").read_bytes())
    uris = (f"oss://{B}/golden/{name}.tar", f"oss://{B}/golden/{name}.idx")
    ds = OssMapDataset.from_tar(*uris, transform=key_size_label_digest, **kw(srv))
    assert len(ds) == len(want)
    assert [ds[i] for i in range(len(ds))] == want
    assert ds.__getitems__(list(range(len(ds)))) == want
    it = OssIterableDataset.from_tar(*uris, transform=key_size_label_digest, **kw(srv))
    assert list(it) == want


def test_members_carry_upstreams_key_and_label(srv):
    """Keys are member names (the source's full path), labels the member's position."""
    ds = OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", **kw(srv))
    names = sorted(expected())
    for i in (0, 1, 4321):
        obj = ds[i]
        assert (obj.key, obj.label, obj.size) == (names[i], str(i), len(content(int(names[i][-9:-4]))))
    srv.put_object(B, "src/000.bin", b"zero")
    srv.put_object(B, "src/001.bin", b"")
    srv.put_object(B, "src/folder/", b"")  # a folder marker, not a file
    from osstorchconnector import OssClient

    client = OssClient(srv.endpoint, srv.cred_path, region=srv.region)
    assert client.gen_tar_archive(f"oss://{B}/t/src.tar", f"oss://{B}/t/src.idx", f"oss://{B}/src/") == 0
    got = [
        key_size_label_digest(o)
        for o in OssIterableDataset.from_tar(f"oss://{B}/t/src.tar", f"oss://{B}/t/src.idx", **kw(srv))
    ]
    assert [g[:3] for g in got] == [[f"/{B}/src/000.bin", 4, "0"], [f"/{B}/src/001.bin", 0, "1"]]


def test_upstream_index_alone_is_read_through_the_tar_headers(srv, caplog):
    """Without our checksum file (upstream wrote the index, or it was lost)
    members come from their tar headers: same keys and bytes, not checked."""
    from osstorchconnector import _native

    c = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
    srv.put_object(B, "alone/shard.idx", c.get(B, "shard.idx"))
    ds = OssMapDataset.from_tar(
        f"oss://{B}/shard.tar", f"oss://{B}/alone/shard.idx", transform=name_and_bytes, **kw(srv)
    )
    names = sorted(expected())
    srv.reset_stats()
    got = ds.__getitems__(list(range(100, 164)))
    assert got == [(n, expected()[n]) for n in names[100:164]]
    assert srv.settled_stats()["requests"]["GetObject"] == {"206": 1}  # a run is still one ranged read


def test_upstreams_oss_tar_iterable_reads_all_members_or_the_given_runs(srv):
    """osstorchconnector._oss_tar_iterable, upstream's module: OssTarIterable
    over a client, all members in archive order, or the (start, count) runs."""
    from osstorchconnector import OssClient
    from osstorchconnector._oss_tar_iterable import OssTarIterable, generate_tar_archive  # noqa: F401

    client = OssClient(srv.endpoint, srv.cred_path, region=srv.region)
    tar, idx = f"oss://{B}/shard.tar", f"oss://{B}/shard.idx"
    names = sorted(expected())
    everything = OssTarIterable.from_tar(tar, idx, client)
    assert len(everything) == N
    got = list(everything)
    assert [o.key for o in got] == names and got[7].read() == expected()[names[7]]
    runs = OssTarIterable.from_tar(tar, idx, client, chunks=[(5, 2), (100, 1)])
    assert len(runs) == 3
    assert [(o.key, o.label) for o in runs] == [(names[i], str(i)) for i in (5, 6, 100)]
    assert [o.label for o in runs] == ["5", "6", "100"]  # iterable more than once
    with pytest.raises(ValueError, match="tar_uri"):
        OssTarIterable.from_tar(f"/{B}/shard.tar", idx, client)
