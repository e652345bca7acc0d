"""Case a: generate_tar_archive, a tar and its index from a prefix, or
(index_only=True) an index for an existing tar. ARGS["jobs"]: name, tar,
idx, src, index_only."""

from _compat import *

from osstorchconnector import generate_tar_archive

for job in ARGS["jobs"]:
    check(
        job["name"],
        lambda: generate_tar_archive(
            EP, CRED, CFG, job["tar"], job["idx"], job["src"], index_only=job.get("index_only", False), region=REGION
        ),
    )
