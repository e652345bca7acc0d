"""Case e: endpoint="" reads local files (upstream 1.2.3's undocumented
local-directory mode): from_objects(["/dir/0.txt", ...]), from_prefix("/dir/")
and from_manifest_file(local manifest, oss_base_uri="/dir/"), for map and
iterable datasets. Compared: keys, labels, order and bytes. Order only
where upstream has one: a map dataset's from_objects and from_manifest_file
keep the list's order; its from_prefix has the directory's (readdir,
recursive: unsorted, and not the same on every file system), and an
iterable dataset yields in the order its concurrent reads finish (it varies
from run to run): those are compared sorted.

No empty file: upstream's iterable datasets die of SIGSEGV on one in local
mode (its map datasets read it as b"")."""

from __future__ import annotations

import pytest
from _compare import digest, expect, show

FILES = {"0.txt": b"zero", "1.txt": b"one one", "2.txt": b"two", "3.bin": bytes(range(256)) * 40}
MANIFEST = [("0.txt", "cat"), ("2.txt", "dog"), ("3.bin", "")]
KINDS = ["from_objects", "from_prefix", "from_manifest_file"]


@pytest.fixture(scope="module")
def local(compat):
    d = compat.tmp / "local"
    (d / "sub").mkdir(parents=True)
    for name, data in FILES.items():
        (d / name).write_bytes(data)
    (d / "sub" / "4.txt").write_bytes(b"in a sub-folder")
    manifest = compat.tmp / "local-manifest.txt"
    manifest.write_text("".join(f"{k}\t{v}\n" if v else f"{k}\n" for k, v in MANIFEST))
    res = compat.both("local.py", {"dir": str(d), "files": list(FILES), "manifest": str(manifest)})
    return str(d), res


@pytest.mark.parametrize("cls", ["OssIterableDataset", "OssMapDataset"])
@pytest.mark.parametrize("kind", KINDS)
def test_local_mode(local, cls, kind):
    d, (ours, up) = local
    name = f"{cls}.{kind}"
    u, o = up.get_or_fail(name), ours.get_or_fail(name)
    expect("ok" in u and u["ok"], f"upstream no longer reads local files here: {show(u)}")
    for key, _label, dg in u["ok"]:
        rel = key[len(d) + 1 :] if key.startswith(d + "/") else None
        expect(rel in FILES or rel == "sub/4.txt", f"upstream yields {key!r}, not a file of {d}: {show(u)}")
        expect(
            dg == digest(FILES[rel] if rel in FILES else b"in a sub-folder"), f"upstream's bytes of {key}: {show(u)}"
        )
    if kind == "from_prefix" or cls == "OssIterableDataset":
        expect(
            "ok" in o and sorted(o["ok"], key=repr) == sorted(u["ok"], key=repr),
            f"{name}(..., endpoint=''), sorted: upstream {show(sorted(u['ok'], key=repr))}; ours {show(o)}",
        )
    else:
        expect(o == u, f"{name}(..., endpoint=''): upstream {show(u)}; ours {show(o)}")
