"""Case d: cred_path="" and config_path="" read upstream's default files,
/root/.alibabacloud/credentials and /etc/oss-connector/config.json (the
runner places them, in a private mount namespace where it can). Nothing
here passes a credentials or config path."""

import os

from _compat import *

from osstorchconnector import OssCheckpoint, OssClient, OssIterableDataset, OssMapDataset

A = f"oss://{B}/{ARGS['a']}"
check(
    "OssMapDataset.from_objects(..., cred_path='')[0]",
    lambda: describe(OssMapDataset.from_objects([A], EP, region=REGION)[0]),
)
check(
    "OssIterableDataset.from_objects(..., cred_path='')",
    lambda: [describe(o) for o in OssIterableDataset.from_objects([A], EP, region=REGION)],
)
# kept alive while their objects are in use: upstream 1.2.3's readers do not
# keep their OssCheckpoint alive, and reading after it is gone is SIGSEGV
ckpt = OssCheckpoint(EP, region=REGION)
check("OssCheckpoint(EP).reader(a).read()", lambda: digest(ckpt.reader(A).read()))
client = OssClient(EP, region=REGION)
check("OssClient(EP).head_object", lambda: describe(client.head_object(B, ARGS["a"]), read=False))
# the config file names this log (upstream appends "_0" to the name): it
# exists once the connector has read the config
log_dir, log_name = os.path.split(ARGS["log_path"])
emit("config read (its logPath written)", any(n.startswith(log_name) for n in os.listdir(log_dir)))
