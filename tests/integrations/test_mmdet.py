"""MMDetection over OSS (osstorchconnector.integrations.mmdet), against the
local server, with mmdet, mmengine and mmcv from PyPI: OSSDetDataset and
OSSLoadImageFromFile from mmdet's registries and a config, the annotation
file copied locally, a batch's images in one concurrent fetch, missing files
as errors, and RetinaNet training one epoch on CPU through mmengine's
Runner with exactly the GETs the data needs.

Where PyPI has no mmcv for our torch (mmcv must be compiled against it),
these tests run with ``mmcv-lite`` and a stand-in for mmcv's compiled ops
(tests/support/mmcv_ops_standin.py): every op raises if used, and none is
used by what runs here. Not run then: anything needing the compiled ops
(inference and validation: NMS; RoI-based detectors such as Faster R-CNN)."""

import copy
import inspect
import json
import logging
import pickle

import pytest

pytest.importorskip("mmengine", reason="mmengine is not installed (pip install '.[mmdet]'; make test-integrations)")
pytest.importorskip("mmcv", reason="mmcv is not installed (mmcv built for this torch, or mmcv-lite for these tests)")
try:
    import mmdet  # noqa: F401
except ModuleNotFoundError:
    pytest.skip("mmdet is not installed (pip install '.[mmdet]'; make test-integrations)", allow_module_level=True)
except AssertionError as e:  # mmdet checks the mmcv version range at import
    pytest.skip(f"mmdet refuses the installed mmcv: {e}", allow_module_level=True)

from support import mmcv_ops_standin  # noqa: E402

STANDIN = mmcv_ops_standin.install()  # before mmdet.datasets, which imports mmcv.ops

import torch  # noqa: E402
from mmengine.dataset import pseudo_collate  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from osstorchconnector.integrations.mmdet import (  # noqa: E402
    SOURCE_KEY,
    OSSDetDataset,
    OSSLoadImageFromFile,
    get_oss_ann_path,
)
from osstorchconnector.testing import LocalOssServer  # noqa: E402
from support.detection_data import SIZE, box, coco, gets, put_coco  # noqa: E402

B = "det"
N = 8
PIPELINE = [
    dict(type="OSSLoadImageFromFile"),
    dict(type="LoadAnnotations", with_bbox=True),
    dict(type="Resize", scale=(SIZE, SIZE), keep_ratio=True),
    dict(type="RandomFlip", prob=0.5),
    dict(type="PackDetInputs"),
]


@pytest.fixture(scope="module")
def srv():
    with LocalOssServer([B]) as s:
        put_coco(s, B, "coco", N)
        yield s


def cfg(s, tmp_path, **kw):
    out = dict(
        type="OSSDetDataset",
        data_root=f"oss://{B}/coco",
        ann_file="annotations/train.json",
        data_prefix=dict(img="train/"),
        metainfo=dict(classes=("box",)),
        pipeline=PIPELINE,
        oss_endpoint=s.endpoint,
        oss_cred_path=s.cred_path,
        oss_region=s.region,
        ann_cache_dir=str(tmp_path / "ann"),
    )
    out.update(kw)
    return out


def build(c):
    from mmdet.registry import DATASETS

    init_default_scope("mmdet")
    return DATASETS.build(c)


def test_registered_with_upstreams_arguments():
    from mmdet.registry import DATASETS, TRANSFORMS

    import osstorchconnector

    assert DATASETS.get("OSSDetDataset") is OSSDetDataset is osstorchconnector.OSSDetDataset
    assert TRANSFORMS.get("OSSLoadImageFromFile") is OSSLoadImageFromFile is osstorchconnector.OSSLoadImageFromFile
    assert osstorchconnector.get_oss_ann_path is get_oss_ann_path
    params = [(p.name, p.default) for p in inspect.signature(OSSDetDataset.__init__).parameters.values()]
    empty = inspect.Parameter.empty
    assert params == [
        ("self", empty),
        ("data_root", empty),
        ("ann_file", empty),
        ("oss_endpoint", empty),
        ("oss_cred_path", ""),
        ("oss_config_path", ""),
        ("oss_cred_provider", None),
        ("oss_region", ""),
        ("ann_cache_dir", "/tmp"),
        ("kwargs", empty),
    ]


def test_a_dataset_from_a_config_reads_its_annotation_and_images_from_oss(fresh, tmp_path):
    ds = build(cfg(fresh, tmp_path))
    local = get_oss_ann_path(f"oss://{B}/coco", "annotations/train.json", str(tmp_path / "ann"))[2]
    assert json.load(open(local)) == coco(N)  # the local copy CocoDataset parsed
    assert len(ds) == N and ds.get_data_info(3)["img_path"] == f"oss://{B}/coco/train/03.jpg"
    sample = ds[3]
    assert tuple(sample["inputs"].shape) == (3, SIZE, SIZE)
    x, y, w, h = box(3)
    got = sample["data_samples"].gt_instances.bboxes.tensor[0].tolist()
    flipped = sample["data_samples"].flip
    assert got == ([SIZE - x - w, y, SIZE - x, y + h] if flipped else [x, y, x + w, y + h])
    assert gets(fresh) == {"200": 2}  # the annotation file and one image


def test_a_batch_of_images_is_one_concurrent_fetch(fresh, tmp_path):
    ds = build(cfg(fresh, tmp_path))
    fresh.settled_stats()
    fresh.reset_stats()
    fresh.set_faults(latency_ms=100, ops=["GetObject"])
    batch = ds.__getitems__([0, 1, 2, 3])  # what DataLoader calls with a batch's indices
    st = fresh.settled_stats()
    assert st["requests"]["GetObject"] == {"200": 4} and st["peak_concurrent"] >= 4, st
    assert [b["data_samples"].img_path for b in batch] == [f"oss://{B}/coco/train/{i:02d}.jpg" for i in range(4)]


def test_dataloader_workers_and_copies(fresh, tmp_path):
    ds = build(cfg(fresh, tmp_path, data_prefix=dict(img=f"oss://{B}/coco/train/")))  # an oss:// prefix as it is
    fresh.settled_stats()
    fresh.reset_stats()
    loader = DataLoader(ds, batch_size=4, num_workers=2, collate_fn=pseudo_collate)
    paths = [s.img_path for batch in loader for s in batch["data_samples"]]
    assert paths == [f"oss://{B}/coco/train/{i:02d}.jpg" for i in range(N)] and gets(fresh) == {"200": N}
    # mix transforms deep-copy a sample's info: the image source is shared, not copied; the dataset pickles
    info = ds.get_data_info(0)
    assert copy.deepcopy(info)[SOURCE_KEY] is info[SOURCE_KEY]
    assert fresh.access_key_secret not in repr(info[SOURCE_KEY]) + repr(ds)
    assert len(pickle.loads(pickle.dumps(ds))) == N


def test_missing_files_and_bad_arguments_raise(fresh, tmp_path, caplog):
    with pytest.raises(FileNotFoundError, match=f"oss://{B}/coco/annotations/none.json"):
        build(cfg(fresh, tmp_path, ann_file="annotations/none.json"))
    with pytest.raises(ValueError, match="data_root must be an oss://bucket/prefix URI"):
        build(cfg(fresh, tmp_path, data_root="/data/coco"))
    with pytest.raises(ValueError, match="oss_endpoint is required"):
        build(cfg(fresh, tmp_path, oss_endpoint=""))
    with pytest.raises(KeyError, match="OSSDetDataset"):
        OSSLoadImageFromFile()({"img_path": f"oss://{B}/coco/train/00.jpg"})

    gone = coco(N)
    gone["images"][2]["file_name"] = "99.jpg"  # an image the annotation names but OSS does not hold
    fresh.put_object(B, "coco/annotations/gone.json", json.dumps(gone))
    ds = build(cfg(fresh, tmp_path, ann_file="annotations/gone.json"))
    with pytest.raises(FileNotFoundError, match="99.jpg"):
        ds[2]
    with pytest.raises(FileNotFoundError, match="99.jpg"):
        ds.__getitems__([1, 2])
    # ignore_empty=True (mmcv's option): the sample is skipped, named in a warning, and mmengine takes another
    skipping = [dict(PIPELINE[0], ignore_empty=True)] + PIPELINE[1:]
    ds = build(cfg(fresh, tmp_path, ann_file="annotations/gone.json", pipeline=skipping))
    with caplog.at_level(logging.WARNING, logger="osstorchconnector.integrations.mmdet"):
        sample = ds[2]
    assert sample["data_samples"].img_path != f"oss://{B}/coco/train/99.jpg"
    assert "99.jpg" in caplog.text and "ignore_empty" in caplog.text


RETINANET = dict(
    type="RetinaNet",
    data_preprocessor=dict(
        type="DetDataPreprocessor", mean=[0, 0, 0], std=[255, 255, 255], bgr_to_rgb=True, pad_size_divisor=32
    ),
    backbone=dict(type="ResNet", depth=18, num_stages=4, out_indices=(1, 2, 3), norm_eval=False, style="pytorch"),
    neck=dict(type="FPN", in_channels=[128, 256, 512], out_channels=32, add_extra_convs="on_input", num_outs=3),
    bbox_head=dict(
        type="RetinaHead",
        num_classes=1,
        in_channels=32,
        stacked_convs=1,
        feat_channels=32,
        anchor_generator=dict(
            type="AnchorGenerator", octave_base_scale=4, scales_per_octave=1, ratios=[1.0], strides=[8, 16, 32]
        ),
        bbox_coder=dict(type="DeltaXYWHBBoxCoder", target_means=[0.0] * 4, target_stds=[1.0] * 4),
        loss_cls=dict(type="FocalLoss", use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type="L1Loss", loss_weight=1.0),
    ),
    train_cfg=dict(
        assigner=dict(type="MaxIoUAssigner", pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0, ignore_iof_thr=-1),
        sampler=dict(type="PseudoSampler"),
        allowed_border=-1,
        pos_weight=-1,
        debug=False,
    ),
    test_cfg=dict(nms_pre=100, min_bbox_size=0, score_thr=0.05, nms=dict(type="nms", iou_threshold=0.5)),
)


@pytest.mark.timeout(600)
def test_retinanet_trains_one_epoch_from_oss_with_the_gets_the_data_needs(fresh, tmp_path):
    """mmdet's RetinaNet (ResNet-18, FPN; random weights: nothing is
    downloaded) trains one epoch on CPU through mmengine's Runner, the
    dataset built from its config in two DataLoader workers. Counted at the
    server: one GET for the annotation file, one per image (8)."""
    runner = Runner(
        model=RETINANET,
        work_dir=str(tmp_path / "work"),
        default_scope="mmdet",
        train_dataloader=dict(
            batch_size=2,
            num_workers=2,
            sampler=dict(type="DefaultSampler", shuffle=True),
            dataset=cfg(fresh, tmp_path, filter_cfg=dict(filter_empty_gt=True)),
        ),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type="SGD", lr=0.001, momentum=0.9)),
        default_hooks=dict(logger=dict(type="LoggerHook", interval=1), checkpoint=dict(type="CheckpointHook")),
    )
    before = {k: v.clone() for k, v in runner.model.state_dict().items() if v.is_floating_point()}
    runner.train()
    assert runner.iter == N // 2 and runner.epoch == 1
    assert (tmp_path / "work" / "epoch_1.pth").exists()
    after = runner.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before), "training changed no weight"
    assert gets(fresh) == {"200": 1 + N}
