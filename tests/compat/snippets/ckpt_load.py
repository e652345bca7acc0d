"""Case b: torch.load from a checkpoint reader of a missing object, alone
in its process (upstream 1.2.3 dies of SIGSEGV here)."""

import torch
from _compat import *

from osstorchconnector import OssCheckpoint

ckpt = OssCheckpoint(EP, **KW)
emit("started", True)
check(
    "torch.load(OssCheckpoint.reader(missing))",
    lambda: type(torch.load(ckpt.reader(f"oss://{B}/{ARGS['missing']}"), weights_only=True)).__name__,
)
