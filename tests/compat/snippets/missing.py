"""Case c: what iterable and map datasets do with a missing object among
present ones."""

from _compat import *

from osstorchconnector import OssIterableDataset, OssMapDataset

A, MISSING, BB = (f"oss://{B}/{k}" for k in (ARGS["a"], ARGS["missing"], ARGS["b"]))

# ---- c: a missing object among present ones
URIS = [A, MISSING, BB]


def read_bytes(o):
    return o.read()


def key_or_none(o):
    return None if o is None else o.key


# the dataset outlives the call: upstream 1.2.3 hangs destroying a map dataset
# whose __getitems__ met a missing object
keyed = OssMapDataset.from_objects(URIS, EP, transform=key_or_none, **KW)
check("map __getitems__([0, 1, 2]), transform sees", lambda: keyed.__getitems__([0, 1, 2]))


check("iterable, default transform", lambda: [describe(o) for o in OssIterableDataset.from_objects(URIS, EP, **KW)])
check(
    "iterable, transform o.read()",
    lambda: [digest(x) for x in OssIterableDataset.from_objects(URIS, EP, transform=read_bytes, **KW)],
)

ds = OssMapDataset.from_objects(URIS, EP, **KW)
for i in range(3):
    check(f"map ds[{i}]", lambda: describe(ds[i]))
