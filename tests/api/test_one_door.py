"""OssClient is the package's one door to the Go core: no other module of the
package reaches into a client (its native client, its share, its tar cache),
and only the client module uses the native layer. The share of a client is
passed explicitly by our datasets; user code written for upstream still sets
client._id / _total (upstream's ultralytics and mmdet integrations do)."""

import ast
import pathlib
import pickle

import pytest

import osstorchconnector
from osstorchconnector import OssClient, OssIterableDataset, new_data_object
from osstorchconnector.testing import LocalOssServer

PKG = pathlib.Path(osstorchconnector.__file__).resolve().parent
DOOR = PKG / "_oss_client.py"
NATIVE = PKG / "_native"
# an OssClient's insides: only _oss_client.py touches them
PRIVATE = {"_native", "_prefetch", "_prefetched", "_id", "_total", "_parse_uri", "_tars"}
BUCKET = "test-bucket"


def _sources():
    for path in sorted(PKG.rglob("*.py")):
        if path == DOOR or NATIVE in path.parents:
            continue
        yield path, ast.parse(path.read_text(), str(path))


def reaches_in(tree):
    """Lines that read or set one of PRIVATE on any object (docstrings and
    comments do not count: they are not attribute accesses)."""
    return sorted({(n.lineno, n.attr) for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in PRIVATE})


def imports_native(tree):
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            mod = n.module or ""
            if mod.split(".")[-1] == "_native" or any(a.name == "_native" for a in n.names):
                out.append(n.lineno)
        elif isinstance(n, ast.Import) and any(a.name.endswith("._native") for a in n.names):
            out.append(n.lineno)
    return out


def test_no_module_reaches_into_a_client():
    found = {str(p.relative_to(PKG)): hits for p, t in _sources() if (hits := reaches_in(t))}
    assert not found, f"only _oss_client.py may use an OssClient's insides: {found}"


def test_only_the_client_module_uses_the_native_layer():
    found = {str(p.relative_to(PKG)): lines for p, t in _sources() if (lines := imports_native(t))}
    assert not found, f"only _oss_client.py may import _native: {found}"


def test_the_checks_see_what_they_look_for():
    """The two checks above flag the accesses they forbid (a check of the test)."""
    tree = ast.parse(
        "client._native.list(b, p)\nself._client._id, self._client._total = 1, 2\n"
        "from . import _native\nfrom ._native import NativeClient\n"
    )
    assert reaches_in(tree) == [(1, "_native"), (2, "_id"), (2, "_total")]
    assert imports_native(tree) == [3, 4]


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET]) as s:
        for i in range(6):
            s.put_object(BUCKET, f"d/{i}.bin", bytes([i]) * (i + 1))
        yield s


def client(s):
    return OssClient(s.endpoint, s.cred_path, region=s.region)


def test_prefetch_takes_the_share_it_is_given(srv):
    c = client(srv)
    entries = c.list_entries(BUCKET, "d/")
    assert [e[1] for e in entries] == [f"d/{i}.bin" for i in range(6)]
    shares = [sorted(o.key for o in c.prefetch(entries, worker=(i, 3))) for i in range(3)]
    assert sorted(sum(shares, [])) == sorted(f"/{BUCKET}/{e[1]}" for e in entries)
    assert all(len(s) == 2 for s in shares)
    assert (c._id, c._total) == (0, 1)  # the client's own share is untouched
    assert len(list(c.prefetch(bucket=BUCKET, prefix="d/"))) == 6


def test_for_worker_gives_a_view_with_its_own_share(srv):
    c = client(srv)
    view = c.for_worker(1, 2)
    assert (view._id, view._total, c._id, c._total) == (1, 2, 0, 1)
    got = sorted(o.key for o in view.list_objects_with_preload(BUCKET, "d/"))
    assert len(got) == 3
    view._id = 0  # as upstream's integrations do: the view's share changes, not the client's
    assert sorted(o.key for o in view.list_objects_with_preload(BUCKET, "d/")) != got
    assert (c._id, c._total) == (0, 1)


def test_a_client_with_an_open_tar_pickles_without_its_handles(srv, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes(b"aaa")
    c = client(srv)
    c.gen_tar_archive(f"oss://{BUCKET}/t/x.tar", f"oss://{BUCKET}/t/x.idx", str(src))
    tar = c.open_tar(BUCKET, "t/x.tar", "t/x.idx")
    assert c.open_tar(BUCKET, "t/x.tar", "t/x.idx") is tar  # cached in this process
    c2 = pickle.loads(pickle.dumps(c))
    assert c2.open_tar(BUCKET, "t/x.tar", "t/x.idx") is not tar
    assert c2.list_objects_from_tar(BUCKET, "t/x.tar", "t/x.idx", [0])[0].read() == b"aaa"


def test_a_users_get_dataset_objects_gets_the_workers_share_not_the_datasets_client(srv):
    """The dataset hands the user's callable a client with the worker's
    share; the dataset's own client keeps its own."""
    seen = []

    def objects(c):
        seen.append(c)
        return c.list_objects_from_uris_with_preload([new_data_object(f"/{BUCKET}/d/{i}.bin") for i in range(6)])

    ds = OssIterableDataset(srv.endpoint, srv.cred_path, "", objects, region=srv.region)
    assert len(list(ds)) == 6
    assert (seen[0]._id, seen[0]._total) == (0, 1)
    assert seen[0] is not ds._get_client()
