"""The seed document's examples run with only endpoint, credentials and data
changed (seed_examples/, beside this file)."""

import io
import json
import os
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seed_examples")


def jpeg(i):
    from PIL import Image

    img = Image.new("RGB", (40 + i, 30 + i), (i * 20 % 256, 100, 200))
    buf = io.BytesIO()
    img.save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from osstorchconnector.testing import LocalOssServer

    with LocalOssServer(["examplebucket"]) as srv:
        for c in range(2):
            for i in range(6):
                srv.put_object("examplebucket", f"dataset_folder/class{c + 1}/image{i}.JPEG", jpeg(i + c))
        lines = [
            json.dumps(
                {
                    "data": {
                        "source": f"oss://examplebucket.oss-cn-wulanchabu.aliyuncs.com/dataset_folder/class1/image{i}.JPEG"
                    }
                }
            )
            for i in range(3)
        ]
        srv.put_object("examplebucket", "manifests/train.jsonl", "\n".join(lines))
        cfg = tmp_path_factory.mktemp("cfg") / "config.json"
        cfg.write_text(json.dumps({"logPath": str(cfg.parent / "c.log"), "auditPath": str(cfg.parent / "a.log")}))
        env = dict(
            os.environ,
            OSS_ENDPOINT=srv.endpoint,
            OSS_CRED_PATH=srv.cred_path,
            OSS_CONFIG_PATH=str(cfg),
            OSS_REGION=srv.region,
            OSS_DATA_FOLDER_URI="oss://examplebucket/dataset_folder/",
            OSS_MANIFEST_FILE_PATH="oss://examplebucket/manifests/train.jsonl",
            OSS_URIS=json.dumps(
                [
                    "oss://examplebucket.oss-cn-wulanchabu.aliyuncs.com/dataset_folder/class1/image1.JPEG",
                    "oss://examplebucket.oss-cn-wulanchabu.aliyuncs.com/dataset_folder/class2/image2.JPEG",
                ]
            ),
            PYTHONPATH=os.pathsep.join([os.path.join(HERE, "shim"), os.environ.get("PYTHONPATH", "")]),
        )
        yield srv, env


@pytest.mark.timeout(300)
def test_seed_dataset_examples(seeded):
    srv, env = seeded
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "dataset_examples.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [12, 3, 2, 12, 3, 2]


@pytest.mark.timeout(300)
def test_seed_full_training_example(seeded):
    srv, env = seeded
    # the example starts by loading a checkpoint: put a resnet18 state dict there first (with our writer)
    import torch
    import torchvision.models as models

    from osstorchconnector import OssCheckpoint

    ck = OssCheckpoint(endpoint=srv.endpoint, cred_path=srv.cred_path, region=srv.region)
    with ck.writer("oss://examplebucket/checkpoints/resnet18.pt") as w:
        torch.save(models.resnet18().state_dict(), w)
    env = dict(env, OSS_CHECKPOINT_PATH="oss://examplebucket/checkpoints/resnet18.pt", BATCH_SIZE="4", NUM_WORKERS="2")
    srv.reset_stats()
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "full_example.py")], env=env, capture_output=True, text=True, timeout=280
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "seen 12"
    st = srv.stats()["requests"]
    assert st["CompleteMultipartUpload"] == {"200": 1} or st["PutObject"] == {"200": 1}  # the checkpoint was saved
