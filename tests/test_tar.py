"""Tar datasets: generate_tar_archive, from_tar on both dataset kinds."""
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.dirname(__file__))
import _tar_helpers as H  # noqa: E402

from osstorchconnector import OssIterableDataset, OssMapDataset, generate_tar_archive  # noqa: E402
from osstorchconnector.testing import LocalOssServer  # noqa: E402

B = "tar-bucket"
N = 10_000


def content(i):
    return hashlib.md5(str(i).encode()).digest() * (1 + i % 7)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    src = tmp_path_factory.mktemp("src")
    for i in range(N):
        d = src / f"c{i % 10}"
        d.mkdir(exist_ok=True)
        (d / f"{i:05d}.bin").write_bytes(content(i))
    with LocalOssServer([B]) as s:
        n = generate_tar_archive(s.endpoint, s.cred_path, "", f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", str(src),
                                 region=s.region)
        assert n == N
        yield s


def kw(s, **extra):
    return dict(endpoint=s.endpoint, cred_path=s.cred_path, region=s.region, **extra)


def expected():
    return {f"c{i % 10}/{i:05d}.bin": content(i) for i in range(N)}


@pytest.mark.timeout(600)
@pytest.mark.parametrize("kind", ["map", "iterable"])
@pytest.mark.parametrize("workers", [0, 2, 4])
def test_ten_thousand_members_exactly_once(srv, kind, workers):
    if kind == "map":
        ds = OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=H.name_and_bytes, **kw(srv))
        assert len(ds) == N
    else:
        ds = OssIterableDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=H.name_and_bytes,
                                         shuffle=True, shuffle_chunk_size=100, **kw(srv))
    dl = DataLoader(ds, batch_size=64, num_workers=workers, collate_fn=list, timeout=300 if workers else 0)
    seen = {}
    for batch in dl:
        for name, data in batch:
            assert name not in seen
            seen[name] = data
    assert seen == expected()


def test_contiguous_runs_are_one_request_each(srv):
    ds = OssMapDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=H.name_and_bytes, **kw(srv))
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
        ds = OssIterableDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=H.name_and_bytes,
                                         shuffle=True, shuffle_chunk_size=50, seed=seed, **kw(srv))
        return [n for n, _ in ds]
    a, b, c = order(1), order(1), order(2)
    assert a == b and a != c
    assert sorted(a) == sorted(expected()) and len(set(a)) == N
    plain = OssIterableDataset.from_tar(f"oss://{B}/shard.tar", f"oss://{B}/shard.idx", transform=H.name_and_bytes, **kw(srv))
    assert [n for n, _ in plain] == sorted(expected())  # archive order without shuffle


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
        n = generate_tar_archive(srv.endpoint, srv.cred_path, "", f"oss://{B}/ext/{label}.tar", f"oss://{B}/ext/{label}.idx",
                                 "", index_only=True, region=srv.region)
        assert n == len(files)
        ds = OssMapDataset.from_tar(f"oss://{B}/ext/{label}.tar", f"oss://{B}/ext/{label}.idx", transform=H.name_and_bytes,
                                    **kw(srv))
        assert dict(ds[i] for i in range(len(ds))) == files, label
    # a local tar indexed to a local index file
    n = generate_tar_archive(srv.endpoint, srv.cred_path, "", str(py_tar), str(tmp_path / "py.idx"), "", index_only=True,
                             region=srv.region)
    assert n == len(files) and (tmp_path / "py.idx").read_bytes().startswith(b"OSTARIDX")


def test_bad_indexes_and_arguments(srv, tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("only.bin")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"abc"))
    srv.put_object(B, "bad/one.tar", raw.getvalue())
    generate_tar_archive(srv.endpoint, srv.cred_path, "", f"oss://{B}/bad/one.tar", f"oss://{B}/bad/one.idx", "",
                         index_only=True, region=srv.region)
    from osstorchconnector import _native
    c = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region})
    idx = c.get(B, "bad/one.idx")
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
        generate_tar_archive(srv.endpoint, srv.cred_path, "", f"oss://{B}/bad/garbage.tar", f"oss://{B}/bad/g.idx", "",
                             index_only=True, region=srv.region)
    with pytest.raises(ValueError, match="endpoint must be non-empty"):
        generate_tar_archive("", srv.cred_path, "", "a", "b", "c")
    with pytest.raises(ValueError, match="neither cred_path nor cred_provider"):
        generate_tar_archive(srv.endpoint, "", "", "a", "b", "c")


def test_command_line(srv, tmp_path):
    (tmp_path / "in").mkdir()
    for i in range(5):
        (tmp_path / "in" / f"{i}.txt").write_text(str(i))
    out = subprocess.run([sys.executable, "-m", "osstorchconnector.tools.generate_tar_archive", "-ep", srv.endpoint,
                          "--cred-path", srv.cred_path, "--region", srv.region, "--tar-path", f"oss://{B}/cli.tar",
                          "--index-path", f"oss://{B}/cli.idx", "--source-path", str(tmp_path / "in")],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("5 members, tar oss://tar-bucket/cli.tar")
    bad = subprocess.run([sys.executable, "-m", "osstorchconnector.tools.generate_tar_archive", "-ep", "",
                          "--tar-path", "x", "--index-path", "y"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "endpoint must be non-empty" in bad.stderr
