"""Case a: read tars through their indexes with OssIterableDataset.from_tar
and OssMapDataset.from_tar (ds[i], and __getitems__ over all). Each result:
sorted [key, size, label, digest of the bytes]."""

from _compat import *

from osstorchconnector import OssIterableDataset, OssMapDataset

KEEP = []  # datasets outlive their checks (see missing.py)


def by_index(ds):
    KEEP.append(ds)
    return sorted((describe(ds[i]) for i in range(len(ds))), key=repr)


def batch(ds):
    KEEP.append(ds)
    return sorted((describe(o) for o in ds.__getitems__(list(range(len(ds))))), key=repr)


for job in ARGS["jobs"]:
    tar, idx = job["tar"], job["idx"]
    check(
        f"{job['name']}: OssIterableDataset.from_tar",
        lambda: sorted((describe(o) for o in OssIterableDataset.from_tar(tar, idx, EP, **KW)), key=repr),
    )
    check(f"{job['name']}: OssMapDataset.from_tar ds[i]", lambda: by_index(OssMapDataset.from_tar(tar, idx, EP, **KW)))
    check(
        f"{job['name']}: OssMapDataset.from_tar __getitems__", lambda: batch(OssMapDataset.from_tar(tar, idx, EP, **KW))
    )
