# The seed's "Use OssMapDataset" / "Use OssIterableDataset" examples: prefix,
# manifest and URI list, for both dataset kinds.
import io
import json
import os
import re
from typing import Iterable, Tuple

import accimage
import torchvision.transforms as transforms

from osstorchconnector import OssIterableDataset, OssMapDataset

oss_endpoint = os.environ["OSS_ENDPOINT"]
endpoint = oss_endpoint
cred_path = os.environ["OSS_CRED_PATH"]
config_path = os.environ["OSS_CONFIG_PATH"]
oss_data_folder_uri = os.environ["OSS_DATA_FOLDER_URI"]
manifest_file_path = os.environ["OSS_MANIFEST_FILE_PATH"]
uris = json.loads(os.environ["OSS_URIS"])


def read_and_transform(data):
    normalize = transforms.Normalize(mean=[0.485, 0.456, 0.406],
                                     std=[0.229, 0.224, 0.225])
    transform = transforms.Compose([
        transforms.RandomResizedCrop(224),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        normalize,
    ])
    try:
        img = accimage.Image((data.read()))
        val = transform(img)
        label = data.label  # file name
    except Exception as e:
        print("read failed", e)
        return None, 0
    return val, label


read_and_trans = read_and_transform

dataset = OssMapDataset.from_prefix(
    oss_data_folder_uri,
    endpoint=oss_endpoint,
    transform=read_and_transform,
    cred_path=cred_path,
    config_path=config_path
)


def transform_oss_path(input_path):
    pattern = r'oss://(.*?)\.(.*?)/(.*)'
    match = re.match(pattern, input_path)
    if match:
        return f'oss://{match.group(1)}/{match.group(3)}'
    else:
        return input_path


def manifest_parser(reader: io.IOBase) -> Iterable[Tuple[str, str, int]]:
    lines = reader.read().decode("utf-8").strip().split("\n")
    for i, line in enumerate(lines):
        data = json.loads(line)
        yield transform_oss_path(data["data"]["source"]), ""


dataset2 = OssMapDataset.from_manifest_file(
    manifest_file_path,
    manifest_parser,
    "",
    endpoint=endpoint,
    transform=read_and_trans,
    cred_path=cred_path,
    config_path=config_path
)

dataset3 = OssMapDataset.from_objects(
    uris,
    endpoint=endpoint,
    transform=read_and_trans,
    cred_path=cred_path,
    config_path=config_path
)

# Access by prefix
it1 = OssIterableDataset.from_prefix(oss_data_folder_uri, endpoint=oss_endpoint, transform=read_and_transform, cred_path=cred_path, config_path=config_path)
# Access by manifest file
it2 = OssIterableDataset.from_manifest_file(manifest_file_path, manifest_parser, "", endpoint=endpoint, transform=read_and_trans, cred_path=cred_path, config_path=config_path)
# Access by URI list
it3 = OssIterableDataset.from_objects(uris, endpoint=endpoint, transform=read_and_trans, cred_path=cred_path, config_path=config_path)

counts = [len(dataset), len(dataset2), len(dataset3)]
for ds in (dataset, dataset2, dataset3):
    val, label = ds[0]
    assert tuple(val.shape) == (3, 224, 224), val.shape
for it in (it1, it2, it3):
    items = list(it)
    assert all(tuple(v.shape) == (3, 224, 224) for v, _ in items)
    counts.append(len(items))
print(json.dumps(counts))
