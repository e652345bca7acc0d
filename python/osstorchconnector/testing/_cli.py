"""The `ossemu` console script: runs the packaged local OSS server binary."""

import os
import sys

from . import server_binary


def main() -> None:
    binary = server_binary()
    os.execv(binary, [binary, *sys.argv[1:]])
