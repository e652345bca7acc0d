"""Case f: the API surface. Signatures of the public API, dir(), a few
attributes and behaviours that scripts rely on."""

import importlib
import inspect
import pkgutil
import re

from _compat import *

import osstorchconnector as oc

# methods worth comparing besides public names
DUNDERS = ("__init__", "__iter__", "__len__", "__getitem__", "__getitems__", "__enter__", "__exit__", "__call__")


def _native_sig(obj):
    """pybind11 functions: parameters from the first line of the docstring."""
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    m = re.match(r"^\w+\((.*)\)( -> .*)?$", doc[0]) if doc else None
    if not m:
        return None
    params, depth, cur = [], 0, ""
    for ch in m.group(1):
        if ch == "," and depth == 0:
            params.append(cur.strip())
            cur = ""
            continue
        depth += ch in "([{"
        depth -= ch in ")]}"
        cur += ch
    if cur.strip():
        params.append(cur.strip())
    out = []
    for p in params:
        name, _, rest = p.partition(":")
        default = rest.split("=", 1)[1].strip() if "=" in rest else None
        if name.strip() == "self":
            continue
        out.append([name.strip(), "POSITIONAL_OR_KEYWORD", default])
    return out


def sig(obj):
    try:
        s = inspect.signature(obj)
    except (TypeError, ValueError):
        s = None
    if s is None:
        n = _native_sig(obj)
        return {"native": True, "params": n} if n is not None else {"unavailable": True}
    return {
        "params": [
            [p.name, p.kind.name, None if p.default is p.empty else repr(p.default)] for p in s.parameters.values()
        ]
    }


def members(cls):
    """name -> signature of the methods a class gets from this package
    (not from torch or object)."""
    out = {}
    for klass in cls.__mro__:
        if not (getattr(klass, "__module__", "") or "").startswith("osstorchconnector"):
            continue
        for name, raw in vars(klass).items():
            if name in out or (name.startswith("_") and name not in DUNDERS):
                continue
            if isinstance(raw, property):
                out[name] = {"property": True}
                continue
            attr = getattr(cls, name)
            if callable(attr):
                out[name] = sig(attr)
    return out


def api(names, modules):
    out = {}
    for name in names:
        obj = getattr(oc, name, None)
        if obj is None:
            out[name] = {"missing": True}
        elif inspect.isclass(obj):
            out[name] = {"class": True, "init": sig(obj), "members": members(obj)}
        elif callable(obj):
            out[name] = {"function": True, **sig(obj)}
    for mod in modules:
        try:
            m = importlib.import_module("osstorchconnector." + mod)
        except ImportError as e:
            out[mod] = {"missing": True, "error": str(e)}
            continue
        for name, obj in vars(m).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != m.__name__ or f"{name}" in names:
                continue
            if inspect.isclass(obj):
                out[f"{mod}.{name}"] = {"class": True, "init": sig(obj), "members": members(obj)}
            elif inspect.isfunction(obj):
                out[f"{mod}.{name}"] = {"function": True, **sig(obj)}
    return out


from osstorchconnector import OssClient, OssIterableDataset, OssMapDataset, new_data_object

emit("public_names", sorted(n for n in dir(oc) if not n.startswith("_") and not inspect.ismodule(getattr(oc, n, None))))
emit("dir", dir(oc))
emit("all", list(getattr(oc, "__all__", [])))
emit("submodules", sorted(m.name for m in pkgutil.iter_modules(oc.__path__)))
emit("api", api(ARGS["names"], ARGS["modules"]))
check("new_data_object", lambda: describe(new_data_object("/b/x"), read=False))
emit(
    "hasattr",
    {
        "OssClient.gen_tar_archive": hasattr(OssClient, "gen_tar_archive"),
        "OssIterableDataset.shuffle": hasattr(OssIterableDataset, "shuffle"),
        "OssMapDataset.is_continuous": hasattr(OssMapDataset, "is_continuous"),
    },
)
client = OssClient(EP, CRED, CFG, region=REGION)
check("head_prefix", lambda: describe(client.head_object(B, ARGS["prefix"]), read=False))


def objects(client, **kw):
    return [new_data_object(u, size, label) for u, size, label in ARGS["custom"]]


def _map_custom():
    ds = OssMapDataset(EP, CRED, CFG, objects, region=REGION)
    return [len(ds), [describe(ds[i]) for i in range(len(ds))]]


check("custom_map", _map_custom)
# upstream yields the callable's objects as they are (no I/O: reading one
# raises); compared: what it yields
check(
    "custom_iterable",
    lambda: [[o.key, o.size, o.label] for o in OssIterableDataset(EP, CRED, CFG, objects, region=REGION)],
)


CLIENTS = []  # kept alive (see defaults.py)


def share(i, total, uuid=""):
    c = OssClient(EP, CRED, CFG, uuid=uuid, region=REGION)
    CLIENTS.append(c)
    c._id, c._total = i, total
    objs = [new_data_object(u, 0, str(n)) for n, u in enumerate(ARGS["share_uris"])]
    return sorted([o.key, o.label] for o in c.list_objects_from_uris_with_preload(objs))


for total in (2, 3):
    for i in range(total):
        check(f"share {i} of {total}", lambda: share(i, total))
check("share 1 of 2, with a uuid", lambda: share(1, 2, "compat-uuid"))
