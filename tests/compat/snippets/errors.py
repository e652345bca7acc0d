"""Case b: which exceptions upstream raises, and where."""

from _compat import *

from osstorchconnector import (
    OssCheckpoint,
    OssClient,
    OssIterableDataset,
    OssMapDataset,
    generate_tar_archive,
    new_data_object,
)

A, MISSING, BB = (f"oss://{B}/{k}" for k in (ARGS["a"], ARGS["missing"], ARGS["b"]))


def none(_):
    return None


# ---- b: errors of single calls
client = OssClient(EP, CRED, CFG, region=REGION)
check("head_object(missing)", lambda: none(client.head_object(B, ARGS["missing"])))
check("get_object(missing)", lambda: none(client.get_object(B, ARGS["missing"])))
check("get_object(missing).read()", lambda: none(client.get_object(B, ARGS["missing"]).read()))
ckpt = OssCheckpoint(EP, **KW)
check("OssCheckpoint.reader(missing)", lambda: none(ckpt.reader(MISSING)))
check("OssCheckpoint.reader(missing).read()", lambda: none(ckpt.reader(MISSING).read()))
check("OssMapDataset.from_objects([missing])[0]", lambda: none(OssMapDataset.from_objects([MISSING], EP, **KW)[0]))
# argument errors
check("OssMapDataset.from_prefix('s3://x')", lambda: none(OssMapDataset.from_prefix("s3://x", EP, **KW)))
check("OssMapDataset.from_prefix('')", lambda: none(OssMapDataset.from_prefix("", EP, **KW)))
check(
    "OssIterableDataset.from_prefix('s3://x') iterated",
    lambda: none(list(OssIterableDataset.from_prefix("s3://x", EP, **KW))),
)
check("OssMapDataset.from_objects(['s3://x/y'])", lambda: none(OssMapDataset.from_objects(["s3://x/y"], EP, **KW)))
check(
    "OssIterableDataset.from_objects(['s3://x/y']) iterated",
    lambda: none(list(OssIterableDataset.from_objects(["s3://x/y"], EP, **KW))),
)
check(
    "OssMapDataset.from_tar('s3://x/t.tar', ...)",
    lambda: none(OssMapDataset.from_tar("s3://x/t.tar", f"oss://{B}/t.idx", EP, **KW)),
)
check("OssCheckpoint('')", lambda: none(OssCheckpoint("", **KW)))
check("OssCheckpoint.reader('s3://x/y')", lambda: none(ckpt.reader("s3://x/y")))
check("OssCheckpoint.writer('s3://x/y')", lambda: none(ckpt.writer("s3://x/y")))
check("OssClient('')", lambda: none(OssClient("", CRED, CFG, region=REGION)))
check(
    "generate_tar_archive('', ...)",
    lambda: none(
        generate_tar_archive("", CRED, CFG, f"oss://{B}/x.tar", f"oss://{B}/x.idx", f"oss://{B}/src/", region=REGION)
    ),
)
check(
    "generate_tar_archive(no credentials)",
    lambda: none(
        generate_tar_archive(EP, "", CFG, f"oss://{B}/x.tar", f"oss://{B}/x.idx", f"oss://{B}/src/", region=REGION)
    ),
)
check("new_data_object('s3://x/y', 0, '')", lambda: none(new_data_object("s3://x/y", 0, "")))
