"""endpoint="": upstream's local-directory mode. Datasets read local files by
path, with upstream's keys and labels (checked against upstream 1.2.3): the
key is the path as given, the label "" unless a manifest names one; a prefix
is a directory, listed recursively (regular files, hidden ones included,
symbolic links not followed). Ours lists in key order, as OSS does."""

import logging

import pytest
from torch.utils.data import DataLoader

from osstorchconnector import OssClient, OssIterableDataset, OssMapDataset, imagenet_manifest_parser
from support.transforms import keep_list, key_and_bytes, key_and_read, no_collate

FILES = {
    "2.txt": b"two",
    "0.txt": b"zero",
    "10.txt": b"ten",
    "1.txt": b"one",
    "sub/s.txt": b"sub",
    "b/x.bin": b"deep",
    ".hidden": b"h",
    "empty.bin": b"",
}


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "data.v1"  # a dot in a directory name is no endpoint host here
    for name, data in FILES.items():  # created out of order: the listing sorts
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    (root / "link.txt").symlink_to(root / "0.txt")
    (root / "linkdir").symlink_to(root / "sub")
    (root / "nothing").mkdir()
    return str(root)


def listed(root):
    return [(f"{root}/{n}", d) for n, d in sorted(FILES.items())]


def key_bytes_size_label(obj):
    return obj.key, obj.read(), obj.size, obj.label


def test_from_prefix_lists_the_directory_recursively_in_key_order(tree, caplog):
    caplog.set_level(logging.WARNING)
    for prefix in (tree + "/", tree, "oss:/" + tree):
        ds = OssMapDataset.from_prefix(prefix, endpoint="", transform=key_and_bytes)
        assert [ds[i] for i in range(len(ds))] == listed(tree)
    assert "endpoint is empty, load from local directory" in caplog.text
    it = OssIterableDataset.from_prefix(tree, endpoint="", transform=key_and_bytes)
    assert list(it) == listed(tree)


def test_from_objects_keys_sizes_and_labels(tree):
    uris = [f"{tree}/1.txt", f"oss:/{tree}/sub/s.txt", f"{tree}/link.txt", f"{tree}/empty.bin"]
    ds = OssMapDataset.from_objects(uris, "", transform=key_bytes_size_label)
    assert [ds[i] for i in range(len(ds))] == [
        (f"{tree}/1.txt", b"one", 3, ""),
        (f"{tree}/sub/s.txt", b"sub", 3, ""),
        (f"{tree}/link.txt", b"zero", 4, ""),
        (f"{tree}/empty.bin", b"", 0, ""),
    ]
    assert ds.__getitems__([1, 0]) == [ds[1], ds[0]]


def test_from_manifest_file_prepends_the_base_and_keeps_labels(tree, tmp_path):
    man = tmp_path / "train.txt"
    man.write_text("0.txt\tzero\nsub/s.txt\ts\n1.txt\n")
    ds = OssMapDataset.from_manifest_file(
        str(man), imagenet_manifest_parser, tree + "/", "", transform=key_bytes_size_label
    )
    assert [ds[i] for i in range(3)] == [
        (f"{tree}/0.txt", b"zero", 4, "zero"),
        (f"{tree}/sub/s.txt", b"sub", 3, "s"),
        (f"{tree}/1.txt", b"one", 3, ""),
    ]
    full = tmp_path / "full.txt"
    full.write_text(f"{tree}/10.txt\tten\n")
    it = OssIterableDataset.from_manifest_file(
        str(full), imagenet_manifest_parser, "", "", transform=key_bytes_size_label
    )
    assert list(it) == [(f"{tree}/10.txt", b"ten", 3, "ten")]


def test_missing_files_as_missing_objects(tree):
    uris = [f"{tree}/0.txt", f"{tree}/missing.txt"]
    calls = []
    ds = OssMapDataset.from_objects(uris, "", transform=calls.append)
    with pytest.raises(RuntimeError, match="errno=2") as ei:
        ds[1]
    assert isinstance(ei.value, FileNotFoundError) and calls == []
    ds = OssMapDataset.from_objects(uris, "", transform=key_and_bytes)
    assert ds.__getitems__([1, 0]) == [None, (f"{tree}/0.txt", b"zero")]
    it = OssIterableDataset.from_objects(uris, "", transform=key_and_read)
    assert list(it) == [(f"{tree}/0.txt", b"zero")] and it.skipped == 1


def test_a_prefix_that_is_not_a_directory_is_an_error(tree):
    for prefix in (f"{tree}/1", f"{tree}/no-such-dir/", f"{tree}/0.txt"):
        with pytest.raises(RuntimeError, match="list"):
            OssMapDataset.from_prefix(prefix, "")
    with pytest.raises(FileNotFoundError):
        OssMapDataset.from_prefix(f"{tree}/no-such-dir/", "")
    assert len(OssMapDataset.from_prefix(f"{tree}/nothing", "")) == 0


@pytest.mark.timeout(300)
def test_dataloader_workers_share_the_files(tree):
    it = OssIterableDataset.from_prefix(tree, endpoint="", transform=key_and_bytes)
    got = list(DataLoader(it, batch_size=None, num_workers=2, collate_fn=no_collate, timeout=120))
    assert sorted(got) == listed(tree)
    ds = OssMapDataset.from_prefix(tree, endpoint="", transform=key_and_bytes)
    got = [x for b in DataLoader(ds, batch_size=3, num_workers=2, collate_fn=keep_list, timeout=120) for x in b]
    assert got == listed(tree)


def test_client_head_get_and_reader(tree):
    c = OssClient("")
    bucket, key = tree[1:].split("/", 1)
    assert c.head_object(bucket, key + "/10.txt").size == 3
    assert c.head_object(bucket, key + "/sub").size == 0  # a directory: size 0, as on OSS
    with pytest.raises(FileNotFoundError):
        c.head_object(bucket, key + "/missing")
    r = c.get_object(bucket, key + "/10.txt", type=1)
    buf = bytearray(2)
    assert r.seek(1) == 1 and r.readinto(buf) == 2 and bytes(buf) == b"en"
    assert [o.key for o in c.list_objects(bucket, key + "/sub/")] == [f"{tree}/sub/s.txt"]
