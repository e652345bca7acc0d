"""Case e: endpoint="" reads local files (upstream's undocumented local
mode): from_objects, from_prefix and from_manifest_file, map and iterable.
Each result: [key, label, digest of the bytes] per item, in order. No
credentials; the config file as everywhere (upstream needs one: without
config_path it fails unless /etc/oss-connector/config.json exists)."""

from _compat import *

from osstorchconnector import OssIterableDataset, OssMapDataset, imagenet_manifest_parser

D = ARGS["dir"]  # an absolute folder: /.../local
FILES = ARGS["files"]  # names in it
URIS = [f"{D}/{n}" for n in FILES]


def item(o):
    return None if o is None else [o.key, o.label, digest(o.read())]


def keep(x):
    KEEP.append(x)
    return x


KEEP = []  # datasets outlive their checks (see missing.py)
kinds = {
    "from_objects": lambda cls: cls.from_objects(URIS, "", config_path=CFG),
    "from_prefix": lambda cls: cls.from_prefix(D + "/", "", config_path=CFG),
    "from_manifest_file": lambda cls: cls.from_manifest_file(
        ARGS["manifest"], imagenet_manifest_parser, D + "/", "", config_path=CFG
    ),
}
for kind, make in kinds.items():
    check(f"OssIterableDataset.{kind}", lambda: [item(o) for o in keep(make(OssIterableDataset))])
    check(
        f"OssMapDataset.{kind}", lambda: (lambda ds: [item(ds[i]) for i in range(len(ds))])(keep(make(OssMapDataset)))
    )
