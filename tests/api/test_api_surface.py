"""Upstream 1.2.3's public surface: names, signatures and defaults (recorded
from upstream itself in upstream_signatures.json, beside this file, by
scripts/upstream_signatures.py), new_data_object, head_object on a
"directory", and the OssClient attributes upstream's own integrations
(ultralytics, mmdet) set and call."""

import importlib
import inspect
import json
import os
import subprocess
import sys

import pytest

import osstorchconnector
from osstorchconnector import OssClient, new_data_object
from osstorchconnector.testing import LocalOssServer
from support import scripts

upstream_signatures = scripts.load("upstream_signatures")

BUCKET = "test-bucket"
UPSTREAM = json.load(open(os.path.join(os.path.dirname(__file__), "upstream_signatures.json")))

# Owned by the tar work (go/tarindex, tar parts of the package), done on its own branch.


def ours(entry):
    mod, rest = entry.split(".", 1)[0], entry.split(".")[1:]
    for i in range(len(rest), 0, -1):  # the longest importable module prefix, then attributes
        try:
            obj = importlib.import_module(".".join([mod] + rest[: i - 1]))
            names = rest[i - 1 :]
            break
        except ImportError:
            continue
    for n in names:
        try:  # on a class unbound, as the recorder sees it (classmethods with cls), found through the MRO
            obj = inspect.getattr_static(obj, n) if inspect.isclass(obj) else getattr(obj, n)
        except AttributeError:
            return None
        if isinstance(obj, (staticmethod, classmethod)):
            obj = obj.__func__
    return upstream_signatures.params(obj)


@pytest.mark.parametrize("entry", sorted(UPSTREAM))
def test_signature_as_upstream(entry):
    """Every upstream parameter, in order, with its name, kind and default;
    ours may add optional parameters after them."""
    mine = ours(entry)
    assert mine is not None, f"{entry} is missing"
    up = UPSTREAM[entry]
    assert mine[: len(up)] == up, f"{entry}:\n upstream {up}\n ours     {mine}"
    for name, kind, default in mine[len(up) :]:
        assert default != "<none>" or kind.startswith("VAR_"), f"{entry}: added parameter {name} must be optional"


def test_the_package_namespace_holds_the_api_only():
    """dir(osstorchconnector) in a fresh interpreter: the API and the errors
    submodule, no helper names (Any, importlib, annotations)."""
    code = "import osstorchconnector as m; print(' '.join(n for n in dir(m) if not n.startswith('_')))"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    public = set(
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout.split()
    )
    assert public == (set(osstorchconnector.__all__) | set(osstorchconnector._LAZY) | {"errors"}) - {"__version__"}


def test_new_data_object_as_upstream():
    assert [
        (o.key, o.size, o.label)
        for o in (
            new_data_object("/b/x"),
            new_data_object("oss://b/x", 5),
            new_data_object(key="/b/x", size=5, label="l"),
        )
    ] == [("/b/x", 0, ""), ("oss://b/x", 5, ""), ("/b/x", 5, "l")]
    with pytest.raises(RuntimeError, match="invalid oss key: b/x, should start with 'oss://' or '/'"):
        new_data_object("b/x")
    with pytest.raises(TypeError):
        new_data_object()


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([BUCKET]) as s:
        s.put_object(BUCKET, "pre/x/a.bin", b"a" * 5)
        s.put_object(BUCKET, "pre/x/b.bin", b"b" * 6)
        s.put_object(BUCKET, "pre/list.txt", b"pre/x/a.bin\n")
        yield s


def client(s):
    return OssClient(s.endpoint, s.cred_path, region=s.region)


def test_head_object_of_a_directory_has_size_0(srv):
    """Upstream answers size 0 for a key that is a "directory" of others;
    its ultralytics integration tells files (size > 0) from directories so."""
    c = client(srv)
    for key in ("pre", "pre/x", "pre/x/", ""):
        o = c.head_object(BUCKET, key)
        assert (o.key, o.size, o.label) == (f"/{BUCKET}/{key}", 0, "")
    assert c.head_object(BUCKET, "pre/list.txt").size == len(b"pre/x/a.bin\n")
    for key in ("pr", "nope/", "pre/x/a.bin/", "pre//"):
        with pytest.raises(RuntimeError) as ei:
            c.head_object(BUCKET, key)
        assert isinstance(ei.value, FileNotFoundError) and ei.value.code == "NoSuchKey", key
    with pytest.raises(FileNotFoundError, match="NoSuchBucket"):
        c.head_object("no-such-bucket", "pre")
    srv.reset_stats()
    c.head_object(BUCKET, "pre")
    assert srv.settled_stats()["requests"]["ListObjectsV2"] == {"200": 1}  # one request for one key, not a listing


def test_client_id_and_total_set_by_user_code(srv):
    """As upstream's integrations do in each DataLoader worker: the shares of
    the *_with_preload calls follow _id of _total; the rest ignore them."""
    descs = [new_data_object(f"/{BUCKET}/pre/x/{n}.bin", 0, n) for n in "ab"] + [
        new_data_object(f"oss://{BUCKET}/pre/list.txt", 0, "l")
    ]
    shares = []
    for i in range(2):
        c = client(srv)
        c._id, c._total = i, 2
        shares.append(sorted((o.key, o.label) for o in c.list_objects_from_uris_with_preload(descs)))
        listed = sorted(o.key for o in c.list_objects_with_preload(BUCKET, "pre/"))
        assert len(listed) in (1, 2)
        # not sharded: every object, in input order, keys as /bucket/key (mmdet maps them back so)
        got = [
            (o.key, o.label, o.size, o.read())
            for o in c.list_objects_from_uris(descs, prefetch=True, include_errors=True)
        ]
        assert got == [
            (f"/{BUCKET}/pre/x/a.bin", "a", 5, b"aaaaa"),
            (f"/{BUCKET}/pre/x/b.bin", "b", 6, b"bbbbbb"),
            (f"/{BUCKET}/pre/list.txt", "l", 12, b"pre/x/a.bin\n"),
        ]
    assert not set(shares[0]) & set(shares[1])
    assert sorted(shares[0] + shares[1]) == sorted(
        [(f"/{BUCKET}/pre/x/a.bin", "a"), (f"/{BUCKET}/pre/x/b.bin", "b"), (f"/{BUCKET}/pre/list.txt", "l")]
    )
    c = client(srv)
    for t in (0, 1, 2):
        assert c.get_object(BUCKET, "pre/x/b.bin", 6, type=t).read() == b"bbbbbb"


def test_upstream_signature_table_is_what_the_script_records():
    """The recorder gives our own package a table in the same form, and
    upstream's table was made with it (a sanity check of the test itself)."""
    mine = upstream_signatures.table()
    assert "osstorchconnector.OssMapDataset.from_prefix" in mine and not set(UPSTREAM) - set(mine)
    assert inspect.isfunction(upstream_signatures.params) and all(isinstance(v, list) for v in UPSTREAM.values())
