"""Ultralytics YOLO over OSS (osstorchconnector.integrations.ultralytics),
against the local server, with Ultralytics from PyPI: OSSYOLODataset lists
a prefix or reads a manifest, fetches all labels in concurrent batches and a
DataLoader batch's images in one concurrent call, treats a missing label as
a background image and every other failure as an error; make_oss_trainer
trains a YOLO model for one epoch on CPU, with exactly the GETs the data
needs. Skips without Ultralytics (`make test-integrations` installs it)."""

import inspect
import json
import os
import subprocess
import sys
import tempfile

# Set before Ultralytics is imported: it decides whether it is online by resolving DNS names at import (which
# can stall a machine without network), and writes its settings file in the user's config directory.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp(prefix="osstorch-yolo-config-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

pytest.importorskip(
    "ultralytics", reason="Ultralytics is not installed (pip install '.[ultralytics]'; make test-integrations)"
)

from ultralytics import YOLO  # noqa: E402
from ultralytics.utils import DEFAULT_CFG  # noqa: E402

from osstorchconnector import OssError  # noqa: E402
from osstorchconnector.integrations.ultralytics import (  # noqa: E402
    OSSYOLODataset,
    make_oss_trainer,
    parse_oss_data_yaml,
)
from osstorchconnector.testing import LocalOssServer  # noqa: E402
from support.detection_data import SIZE, box, gets, jpeg, put_yolo_split  # noqa: E402
from support.paths import REPO  # noqa: E402

B = "yolo"


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([B]) as s:
        put_yolo_split(s, B, "ds", "train", 8, without_label=[5])
        put_yolo_split(s, B, "ds", "val", 4)
        yield s


def dataset(s, img_path, **kw):
    args = dict(
        img_path=img_path,
        imgsz=SIZE,
        batch_size=4,
        augment=False,
        hyp=DEFAULT_CFG,
        data={"names": {0: "box"}, "channels": 3},
        oss_endpoint=s.endpoint,
        oss_cred_path=s.cred_path,
        oss_region=s.region,
    )
    args.update(kw)
    return OSSYOLODataset(**args)


def expected_xywhn(i):
    x, y, w, h = box(i)
    return [(x + w / 2) / SIZE, (y + h / 2) / SIZE, w / SIZE, h / SIZE]


def test_upstream_names_and_arguments():
    got = [(p.name, p.default) for p in inspect.signature(make_oss_trainer).parameters.values()]
    assert got == [("endpoint", inspect.Parameter.empty), ("cred_path", ""), ("config_path", "")] + [
        ("cred_provider", None),
        ("region", ""),
    ]
    params = inspect.signature(OSSYOLODataset.__init__).parameters
    for name, default in [
        ("oss_endpoint", inspect.Parameter.empty),
        ("oss_cred_path", ""),
        ("oss_config_path", ""),
        ("oss_cred_provider", None),
        ("oss_region", ""),
    ]:
        assert params[name].default == default and params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    import osstorchconnector

    assert osstorchconnector.OSSYOLODataset is OSSYOLODataset
    assert osstorchconnector.make_oss_trainer is make_oss_trainer


def test_a_prefix_is_listed_and_its_labels_fetched_concurrently(fresh):
    fresh.set_faults(latency_ms=100, ops=["GetObject"])  # labels fetched one by one would never overlap
    ds = dataset(fresh, f"/{B}/ds/images/train")
    st = fresh.settled_stats()
    assert ds.im_files == [f"/{B}/ds/images/train/{i:02d}.jpg" for i in range(8)]
    # one GET per label (the 404 is image 5's missing label), all in flight together
    assert st["requests"]["GetObject"] == {"200": 7, "404": 1}
    assert st["requests"]["ListObjectsV2"] == {"200": 1}
    assert st["peak_concurrent"] >= 4, st
    assert fresh.endpoint in repr(ds) and fresh.access_key_secret not in repr(ds)
    for i, lb in enumerate(ds.labels):
        if i == 5:  # no label object: a background image, as a missing label file is in Ultralytics
            assert lb["cls"].shape == (0, 1) and lb["bboxes"].shape == (0, 4)
        else:
            assert lb["cls"].tolist() == [[0.0]]
            np.testing.assert_allclose(lb["bboxes"][0], expected_xywhn(i), atol=1e-5)


def test_a_batch_of_images_is_one_concurrent_fetch(fresh):
    ds = dataset(fresh, f"oss://{B}/ds/images/train")
    fresh.settled_stats()
    fresh.reset_stats()
    fresh.set_faults(latency_ms=100, ops=["GetObject"])
    batch = ds.__getitems__([0, 1, 2, 3])  # what DataLoader calls with a batch's indices
    st = fresh.settled_stats()
    assert st["requests"]["GetObject"] == {"200": 4} and st["peak_concurrent"] >= 4, st
    assert [b["im_file"] for b in batch] == ds.im_files[:4]
    assert all(tuple(b["img"].shape) == (3, SIZE, SIZE) for b in batch)
    assert ds[6]["img"].shape[1:] == (SIZE, SIZE)  # outside a batch: one GET
    assert gets(fresh) == {"200": 5}


def test_a_manifest_names_images_in_upstreams_forms(fresh):
    lines = [
        f"/{B}/ds/images/train/00.jpg",  # /bucket/key
        f"oss://{B}/ds/images/train/01.jpg",
        "./train/02.jpg",  # relative to the manifest's directory (ds/images/)
        "train/03.jpg",
        "",
        "train/notes.md",  # not an image: left out, as Ultralytics does
    ]
    fresh.put_object(B, "ds/images/some.txt", "\n".join(lines) + "\n")
    ds = dataset(fresh, f"/{B}/ds/images/some.txt")
    assert ds.im_files == [f"/{B}/ds/images/train/{i:02d}.jpg" for i in range(4)]
    assert gets(fresh) == {"200": 5}  # the manifest and four labels: no listing, no image yet
    assert fresh.settled_stats()["requests"].get("ListObjectsV2") is None


def test_a_missing_image_raises_file_not_found_when_loaded(fresh):
    fresh.put_object(B, "ds/images/gone.txt", f"/{B}/ds/images/train/00.jpg\n/{B}/ds/images/train/99.jpg\n")
    ds = dataset(fresh, f"/{B}/ds/images/gone.txt")
    assert len(ds) == 2 and len(ds.labels[1]["cls"]) == 0  # its label is missing too: a background image so far
    with pytest.raises(FileNotFoundError, match="99.jpg"):
        ds.__getitems__([0, 1])
    with pytest.raises(FileNotFoundError, match="99.jpg"):
        ds[1]


def test_a_corrupt_label_drops_its_image_as_ultralytics_does(fresh):
    for i in range(3):
        fresh.put_object(B, f"bad/images/t/{i}.jpg", jpeg(i))
    fresh.put_object(B, "bad/labels/t/0.txt", "0 0.5 0.5 0.2 0.2\n")
    fresh.put_object(B, "bad/labels/t/1.txt", "0 1.7 0.5 0.2 0.2\n")  # not normalized
    fresh.put_object(B, "bad/labels/t/2.txt", "zero 0.5 0.5 0.2 0.2\n")  # no number
    ds = dataset(fresh, f"/{B}/bad/images/t")
    assert ds.im_files == [f"/{B}/bad/images/t/0.jpg"]
    fresh.put_object(B, "bad/labels/t/0.txt", "3 0.5 0.5 0.2 0.2\n")  # class 3 of a 1-class dataset
    with pytest.raises(RuntimeError, match="no valid images"):
        dataset(fresh, f"/{B}/bad/images/t")


def test_a_label_that_cannot_be_read_raises_rather_than_training_as_background(fresh, tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text(json.dumps({"maxAttempts": 1}))  # no retry: the 503 below is final at once
    fresh.set_faults(error_rate_503=1.0, ops=["GetObject"], key_pattern="ds/labels/train/03.txt")
    with pytest.raises(OssError) as ei:
        dataset(fresh, f"/{B}/ds/images/train", oss_config_path=str(cfg))
    assert ei.value.status == 503 and not isinstance(ei.value, FileNotFoundError)
    fresh.clear_faults()
    fresh.put_object(B, "ds/images/elsewhere.txt", "/no-such-bucket/ds/images/0.jpg\n")
    with pytest.raises(FileNotFoundError, match="NoSuchBucket"):  # a missing bucket is no missing label
        dataset(fresh, f"/{B}/ds/images/elsewhere.txt")


def test_bad_arguments_raise_clear_errors(fresh):
    with pytest.raises(ValueError, match="not an OSS path"):
        dataset(fresh, "images/train")
    with pytest.raises(FileNotFoundError, match="holds no object"):
        dataset(fresh, f"/{B}/nothing/here")
    with pytest.raises(ValueError, match="cache='disk'"):
        dataset(fresh, f"/{B}/ds/images/train", cache="disk")
    with pytest.raises(ValueError, match="oss_endpoint is required"):
        dataset(fresh, f"/{B}/ds/images/train", oss_endpoint="")
    with pytest.raises(ValueError, match="endpoint is required"):
        make_oss_trainer("")


def test_cache_ram_fetches_every_image_once_at_start(fresh):
    ds = dataset(fresh, f"/{B}/ds/images/val", cache="ram")
    # four labels; Ultralytics' memory estimate first loads min(4, 30) images one at a time; then the cache
    # fetches the four images
    assert gets(fresh) == {"200": 4 + 4 + 4}
    fresh.reset_stats()
    assert [ds[i]["img"].shape[1:] for i in range(4)] == [(SIZE, SIZE)] * 4
    assert gets(fresh) == {}  # every image from memory
    # the caching alone: one concurrent fetch (Ultralytics' would be a thread pool of single reads)
    ds = dataset(fresh, f"/{B}/ds/images/val")
    ds.cache = "ram"
    fresh.settled_stats()
    fresh.reset_stats()
    fresh.set_faults(latency_ms=100)
    ds.cache_images()
    st = fresh.settled_stats()
    assert st["requests"]["GetObject"] == {"200": 4} and st["peak_concurrent"] >= 4, st


def test_the_data_yaml(tmp_path):
    y = tmp_path / "d.yaml"
    y.write_text("path: oss://bkt/coco/\ntrain: images/train\nvalidation: [images/v1.txt, oss://other/v2]\nnc: 2\n")
    d = parse_oss_data_yaml(y)
    assert (d["train"], d["val"]) == ("/bkt/coco/images/train", ["/bkt/coco/images/v1.txt", "/other/v2"])
    assert d["names"] == {0: "class0", 1: "class1"} and d["nc"] == 2 and d["channels"] == 3
    assert parse_oss_data_yaml(y, single_cls=True)["names"] == {0: "item"}
    for text, match in [
        ("path: /local/coco\ntrain: a\nval: b\nnc: 1\n", "must be an oss://bucket/prefix URI"),
        ("path: oss://bkt\ntrain: a\nnc: 1\n", "'val:' is missing"),
        ("path: oss://bkt\ntrain: a\nval: b\n", "'names' .* is missing"),
        ("path: oss://bkt\ntrain: a\nval: b\nnc: 2\nnames: [x]\n", "nc=2 but 1 names"),
    ]:
        y.write_text(text)
        with pytest.raises(ValueError, match=match):
            parse_oss_data_yaml(y)


def test_dataloader_workers_fetch_a_batch_in_one_call(fresh):
    ds = dataset(fresh, f"/{B}/ds/images/train")
    fresh.settled_stats()
    fresh.reset_stats()
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=ds.collate_fn)  # workers get it pickled
    got = [f for batch in loader for f in batch["im_file"]]
    assert got == ds.im_files and gets(fresh) == {"200": 8}


def test_the_trainer_keeps_the_workers_asked_for_on_cpu(tmp_path):
    data = tmp_path / "oss.yaml"
    data.write_text(f"path: oss://{B}/ds\ntrain: images/train\nval: images/val\nnames: [box]\n")
    cls = make_oss_trainer("http://127.0.0.1:1")  # nothing is read before training starts
    common = dict(model="yolov8n.yaml", data=str(data), device="cpu", project=str(tmp_path), exist_ok=True)
    assert cls(overrides=dict(common, name="a", workers=3)).args.workers == 3
    trainer = cls(overrides=dict(common, name="b"))
    assert trainer.args.workers == 0  # Ultralytics' own choice on CPU when none is asked for
    assert trainer.data["train"] == f"/{B}/ds/images/train" and trainer.data["names"] == {0: "box"}


@pytest.mark.timeout(600)
def test_yolo_trains_one_epoch_from_oss_with_the_gets_the_data_needs(fresh, tmp_path):
    """YOLO (yolov8n.yaml, random weights: nothing is downloaded) trains one
    epoch on CPU, then validates. Counted at the server, every GET is one the
    data needs: each label once when its split is built (12, one a 404:
    image 5 has no label), each training image once (8: the mosaic takes
    its extra images from those already in memory), each validation image
    once per validation (4 after the epoch, 4 when Ultralytics validates
    best.pt at the end). In-process loading (workers=0): with workers,
    Ultralytics' endless DataLoader also prefetches batches of an epoch that
    never comes (test_dataloader_workers_fetch_a_batch_in_one_call covers
    workers)."""
    data = tmp_path / "oss.yaml"
    data.write_text(f"path: oss://{B}/ds\ntrain: images/train\nval: images/val\nnames:\n  0: box\n")
    model = YOLO("yolov8n.yaml")
    model.train(
        trainer=make_oss_trainer(fresh.endpoint, cred_path=fresh.cred_path, region=fresh.region),
        data=str(data),
        epochs=1,
        imgsz=SIZE,
        batch=4,
        workers=0,
        device="cpu",
        close_mosaic=0,  # keep the mosaic on: its extra images must come from memory, not from more GETs
        amp=False,  # the AMP check downloads a model
        plots=False,  # plotting downloads a font
        val=False,
        pretrained=False,
        project=str(tmp_path),
        name="run",
        exist_ok=True,
        verbose=False,
    )
    trainer = model.trainer
    assert len(trainer.train_loader.dataset) == 8 and len(trainer.test_loader.dataset) == 4
    assert trainer.best.exists() and trainer.last.exists()
    assert (tmp_path / "run" / "results.csv").read_text().count("\n") == 2  # header and epoch 1
    assert gets(fresh) == {"200": 11 + 8 + 4 + 4, "404": 1}


@pytest.mark.timeout(600)
def test_the_readmes_example_runs(tmp_path):
    """The README's runnable YOLO example, as it is, prints the GETs it says."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- example: yolo -->\n```python\n", 1)[1].split("```", 1)[0]
    # as a user runs it: Ultralytics puts a relative `project` under its own package folder when it sees pytest
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "config")
    # Ultralytics saves runs under the git checkout its package is in (this repository's .venv): here instead
    setup = f"from ultralytics import settings\nsettings.update(runs_dir={str(tmp_path / 'runs')!r})\n"
    out = subprocess.run(
        [sys.executable, "-c", setup + block], cwd=tmp_path, capture_output=True, text=True, timeout=500, env=env
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "{'200': 28}"
    assert (tmp_path / "runs" / "detect" / "train" / "weights" / "best.pt").exists()
