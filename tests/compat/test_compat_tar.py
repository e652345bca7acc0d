"""Case a: tar shards made by one side are read alike by both.

Upstream's generate_tar_archive over oss://cmp/src/ names each member by
its source's full path (/cmp/src/000.bin), leaves out empty objects, and
writes the members in the order its concurrent downloads finish (it differs
from run to run); a member's label is its number in the tar ('0', '1',
...). index_only=True indexes a tar made by Python's tarfile: regular files
only (the empty one too), labelled by their number among them. Compared:
the sorted [key, size, label, sha256 of the bytes] of every member, as
OssIterableDataset.from_tar, OssMapDataset.from_tar's ds[i] and its
__getitems__ deliver them; between two tars of the same source, whose
member order may differ, the labels are compared as a set."""

from __future__ import annotations

import io
import tarfile

import _runner
import pytest
from _compare import digest, expect, show
from _runner import BUCKET, SRC

B = _runner.BUCKET
READERS = ["OssIterableDataset.from_tar", "OssMapDataset.from_tar ds[i]", "OssMapDataset.from_tar __getitems__"]
LONG = "d/" + "long-name-" * 12 + ".bin"  # 124 characters: a PAX header
UNICODE = "données-数据-ü.bin"


def python_tar() -> bytes:
    """A tar as Python's tarfile writes it (PAX): a directory entry, a long
    name, an empty file, a non-ASCII name and a symlink among files."""
    buf = io.BytesIO()

    def add(name, data=None, kind=tarfile.REGTYPE, target=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mtime, ti.mode = kind, 1_700_000_000, 0o755 if kind == tarfile.DIRTYPE else 0o644
        ti.linkname = target
        ti.size = len(data) if data is not None else 0
        tf.addfile(ti, io.BytesIO(data) if data is not None else None)

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        add("d", kind=tarfile.DIRTYPE)
        add("d/one.bin", b"one " * 300)
        add(LONG, b"long " * 50)
        add("empty.bin", b"")
        add(UNICODE, "non-ASCII ✓".encode())
        add("link.bin", kind=tarfile.SYMTYPE, target="d/one.bin")
        add("last.bin", b"the last one")
    return buf.getvalue()


PY_FILES = {
    "d/one.bin": b"one " * 300,
    LONG: b"long " * 50,
    "empty.bin": b"",
    UNICODE: "non-ASCII ✓".encode(),
    "last.bin": b"the last one",
}


def without_labels(members):
    """Members as [key, size, digest] (sorted), and the sorted labels."""
    return sorted([m[0], m[1], m[3]] for m in members), sorted(m[2] for m in members)


def expected_from_src():
    """What upstream's own tar of oss://cmp/src/ holds (see above)."""
    files = sorted((f"/{B}/{k}", len(v), digest(v)) for k, v in SRC.items() if v)
    return [list(f) for f in files], sorted(str(i) for i in range(len(files)))


@pytest.fixture(scope="module")
def tar(compat):
    compat.server.put_object(B, "t-py/data.tar", python_tar())
    gen = {
        side: {
            "jobs": [
                {
                    "name": "from prefix",
                    "tar": f"oss://{B}/t-{side}/data.tar",
                    "idx": f"oss://{B}/t-{side}/data.idx",
                    "src": f"oss://{B}/src/",
                },
                {
                    "name": "index_only",
                    "tar": f"oss://{B}/t-py/data.tar",
                    "idx": f"oss://{B}/t-py/{side}.idx",
                    "src": "",
                    "index_only": True,
                },
            ]
        }
        for side in ("ours", "upstream")
    }
    made = dict(zip(("ours", "upstream"), compat.each(lambda side: compat.run(side, "tar_gen.py", gen[side]))))
    jobs = [
        {"name": f"{kind} made by {side}", "tar": job["tar"], "idx": job["idx"]}
        for side in ("upstream", "ours")
        for kind, job in zip(("prefix", "python tar"), gen[side]["jobs"])
    ]
    ours, up = compat.both("tar_read.py", {"jobs": jobs})
    return {"made": made, "ours": ours, "upstream": up}


def _upstream_made(tar, kind):
    r = tar["made"]["upstream"].get_or_fail(kind)
    expect("ok" in r, f"upstream's generate_tar_archive ({kind}) failed: {show(r)}")


@pytest.mark.parametrize("reader", READERS)
def test_upstream_tar_read_alike(tar, reader):
    """Upstream generates from a prefix; both read it."""
    _upstream_made(tar, "from prefix")
    name = f"prefix made by upstream: {reader}"
    up = tar["upstream"].get_or_fail(name)
    expect(
        "ok" in up and without_labels(up["ok"]) == expected_from_src(),
        f"upstream's own reading is not what the test expects: {show(up)}",
    )
    ours = tar["ours"].get_or_fail(name)
    expect(ours == up, f"ours reads upstream's tar as {show(ours)}; upstream as {show(up)}")


@pytest.mark.parametrize("reader", READERS)
def test_ours_tar_read_alike(tar, reader):
    """Ours generates from the same prefix; upstream (and ours) read it as
    upstream reads its own."""
    _upstream_made(tar, "from prefix")
    want = tar["upstream"].get_or_fail(f"prefix made by upstream: {reader}")
    expect("ok" in want, f"upstream cannot read its own tar: {show(want)}")
    made = tar["made"]["ours"].get_or_fail("from prefix")
    expect("ok" in made, f"ours: generate_tar_archive failed: {show(made)}")
    up = tar["upstream"].get_or_fail(f"prefix made by ours: {reader}")
    # Deliberate difference (README): upstream's generate_tar_archive leaves
    # empty objects out, ours keeps them as members (a sample is never dropped
    # silently). Upstream reads them from our tar like any other member.
    expect(
        "ok" in up and without_labels([m for m in up["ok"] if m[1] != 0])[0] == without_labels(want["ok"])[0],
        f"upstream reads our tar as {show(up)}; its own as {show(want)}",
    )
    expect(
        without_labels(up["ok"])[1] == sorted(str(i) for i in range(len(up["ok"]))),
        f"labels are not the members' positions: {show(up)}",
    )
    expect(
        sorted(m[0] for m in up["ok"] if m[1] == 0) == sorted(f"/{BUCKET}/{k}" for k, v in SRC.items() if not v),
        f"the empty objects are not the members of size 0 in our tar: {show(up)}",
    )
    ours = tar["ours"].get_or_fail(f"prefix made by ours: {reader}")
    expect(ours == up, f"ours reads our tar as {show(ours)}; upstream as {show(up)}")


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("indexer", ["upstream", "ours"])
def test_index_only_python_tar(tar, indexer, reader):
    """index_only=True over Python's tarfile output (directory, PAX long
    name, empty file, non-ASCII name, symlink): the index made by `indexer`
    is read by both sides as upstream reads upstream's index."""
    _upstream_made(tar, "index_only")
    want = tar["upstream"].get_or_fail(f"python tar made by upstream: {reader}")
    expect("ok" in want, f"upstream cannot read its own index: {show(want)}")
    expect(
        sorted(m[0] for m in want["ok"]) == sorted(PY_FILES),
        f"upstream's members are not the tar's regular files: {show(want)}",
    )
    expect(
        all(m[3] == digest(PY_FILES[m[0]]) and m[1] == len(PY_FILES[m[0]]) for m in want["ok"]),
        f"upstream's sizes or bytes are not the tar's: {show(want)}",
    )
    expect(
        all(m[2] == str(list(PY_FILES).index(m[0])) for m in want["ok"]),
        f"upstream's labels are not the members' numbers among the regular files: {show(want)}",
    )
    if indexer == "ours":
        made = tar["made"]["ours"].get_or_fail("index_only")
        expect("ok" in made, f"ours: generate_tar_archive(index_only=True) failed: {show(made)}")
    for side in ("upstream", "ours"):
        got = tar[side].get_or_fail(f"python tar made by {indexer}: {reader}")
        expect(
            got == want, f"{side} reads the index made by {indexer} as {show(got)}; upstream its own as {show(want)}"
        )
