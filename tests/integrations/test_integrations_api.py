"""The framework integrations' names, without the frameworks: importing the
package (and dir()) imports neither Ultralytics nor MMDetection, the five
names are in __all__ and resolve lazily, `from osstorchconnector import *`
works where the frameworks are missing, and using a name then raises an
ImportError that says what to install. get_oss_ann_path needs no framework."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import osstorchconnector
from osstorchconnector.integrations import get_oss_ann_path

NAMES = ["OSSYOLODataset", "make_oss_trainer", "OSSDetDataset", "OSSLoadImageFromFile", "get_oss_ann_path"]
HEAVY = ["ultralytics", "mmdet", "mmcv", "mmengine", "cv2", "osstorchconnector.integrations"]

# imports of the frameworks fail in the interpreter that runs this first, as where they are not installed
BLOCK = textwrap.dedent(
    """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("ultralytics", "mmdet"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, Block())
    """
)


def run(code: str) -> dict:
    """The JSON the code printed last, run in a fresh interpreter with this one's path."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_names_are_in_all_and_resolved_lazily():
    assert set(NAMES) <= set(osstorchconnector.__all__)
    got = run(
        "import sys, json, osstorchconnector as m\n"
        "names = dir(m)\n"
        f"print(json.dumps({{'dir': names, 'loaded': [n for n in {HEAVY!r} if n in sys.modules]}}))"
    )
    assert set(NAMES) <= set(got["dir"])
    assert got["loaded"] == [], "import osstorchconnector and dir() must not import a framework"


def test_star_import_works_without_the_frameworks_and_use_says_what_to_install():
    got = run(
        BLOCK
        + textwrap.dedent(
            """
            import json
            from osstorchconnector import *
            out = {"ann": list(get_oss_ann_path("oss://b/coco", "ann/train.json", "/cache"))}
            for name, use in [
                ("trainer", lambda: make_oss_trainer("http://127.0.0.1:1")),
                ("yolo", lambda: OSSYOLODataset(img_path="/b/x", oss_endpoint="e")),
                ("subclass", lambda: type("Mine", (OSSYOLODataset,), {})),
                ("det", lambda: OSSDetDataset("oss://b/x", "a.json", "e")),
                ("transform", lambda: OSSLoadImageFromFile()),
            ]:
                try:
                    use()
                    out[name] = "no error"
                except ImportError as e:
                    out[name] = str(e)
            import osstorchconnector.integrations as i
            out["kept"] = "OSSYOLODataset" in vars(i) or "OSSYOLODataset" in vars(__import__("osstorchconnector"))
            print(json.dumps(out))
            """
        )
    )
    assert got["ann"] == ["b", "coco/ann/train.json", "/cache/oss_ann_b_coco_ann_train.json"]
    for name in ("trainer", "yolo", "subclass"):
        assert "needs ultralytics" in got[name] and "pip install 'osstorchconnector[ultralytics]'" in got[name], name
    for name in ("det", "transform"):
        assert "needs mmdet" in got[name] and "pip install 'osstorchconnector[mmdet]'" in got[name], name
    assert got["kept"] is False, "a stand-in must not be cached: installing the framework later must fix the name"


def test_get_oss_ann_path():
    assert get_oss_ann_path("oss://bkt/COCO", "annotations/instances_train2017.json") == (
        "bkt",
        "COCO/annotations/instances_train2017.json",
        "/tmp/oss_ann_bkt_COCO_annotations_instances_train2017.json",
    )
    # a trailing or leading slash changes nothing; a whole oss:// URI stands as it is
    assert get_oss_ann_path("oss://bkt/COCO/", "/a.json", "/c") == ("bkt", "COCO/a.json", "/c/oss_ann_bkt_COCO_a.json")
    assert get_oss_ann_path("oss://bkt", "a.json", "/c")[:2] == ("bkt", "a.json")
    assert get_oss_ann_path("oss://bkt/x", "oss://other/y/a.json", "/c")[:2] == ("other", "y/a.json")
    for root in ("/data/coco", "s3://bkt/coco", "coco", "", "oss://"):
        with pytest.raises(ValueError, match="data_root must be an oss://bucket/prefix URI"):
            get_oss_ann_path(root, "a.json")
    for ann in ("", "dir/"):
        with pytest.raises(ValueError):
            get_oss_ann_path("oss://bkt/coco", ann)


def test_an_mmdet_that_refuses_its_mmcv_still_lets_the_package_import():
    """mmdet 3.3 asserts at import that the installed mmcv is below 2.2: the
    names resolve to stand-ins that say so, and star-import still works."""
    got = run(
        textwrap.dedent(
            """
            import json, sys
            class Refuse:
                def find_spec(self, name, path=None, target=None):
                    if name in ("mmcv", "mmdet"):  # the first the integration imports, installed or not
                        raise AssertionError("MMCV==2.2.0 is used but incompatible")
            sys.meta_path.insert(0, Refuse())
            from osstorchconnector import *
            try:
                OSSDetDataset("oss://b/x", "a.json", "e")
            except ImportError as e:
                print(json.dumps(str(e)))
            """
        )
    )
    assert "needs mmdet" in got and "MMCV==2.2.0 is used but incompatible" in got
