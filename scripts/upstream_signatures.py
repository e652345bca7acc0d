"""Record the public signatures of an osstorchconnector installation as JSON.

Run it under upstream's interpreter to refresh the table the API test
compares against (tests/api/upstream_signatures.json), or under ours to see the
same table for this package:

    /path/to/upstream/venv/bin/python scripts/upstream_signatures.py tests/api/upstream_signatures.json

Each entry is "module.Name[.method]" -> [[parameter, kind, default], ...]
(default "<none>" for none; callables by name). Methods implemented in C
(upstream's DataObject) have no Python signature and are left out.
"""

import importlib
import inspect
import json
import sys

NAMES = {
    "osstorchconnector": [
        "OssIterableDataset",
        "OssMapDataset",
        "OssCheckpoint",
        "OssSafetensor",
        "OssDCPFileSystem",
        "OssStorageReader",
        "OssStorageWriter",
        "OssClient",
        "imagenet_manifest_parser",
        "generate_tar_archive",
    ],
    "osstorchconnector._oss_bucket_iterable": ["parse_oss_uri", "identity", "imagenet_manifest_parser"],
    "osstorchconnector.oss_safetensor": ["oss_safe_open"],
}
METHODS = {"__init__", "__iter__", "__getitem__", "__getitems__", "__len__", "__enter__", "__exit__"}


def params(f):
    try:
        sig = inspect.signature(f)
    except (ValueError, TypeError):
        return None

    def default(v):
        if v is inspect.Parameter.empty:
            return "<none>"
        return f"<callable {v.__name__}>" if callable(v) else repr(v)

    return [[p.name, p.kind.name, default(p.default)] for p in sig.parameters.values()]


def table():
    out = {}
    for modname, names in NAMES.items():
        mod = importlib.import_module(modname)
        for n in names:
            obj = getattr(mod, n)
            if not inspect.isclass(obj):
                out[f"{modname}.{n}"] = params(obj)
                continue
            for a in sorted(vars(obj)):  # defined by the class itself, not inherited from torch or object
                if a.startswith("_") and a not in METHODS:
                    continue
                attr = inspect.getattr_static(obj, a)
                if isinstance(attr, (staticmethod, classmethod)):
                    attr = attr.__func__
                if inspect.isfunction(attr):
                    out[f"{modname}.{n}.{a}"] = params(attr)
    return {k: v for k, v in out.items() if v is not None}


if __name__ == "__main__":
    t = table()
    text = "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(t[k])}" for k in sorted(t)) + "\n}\n"
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
