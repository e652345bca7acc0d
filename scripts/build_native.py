#!/usr/bin/env python3
"""Build the Go parts of the package into a target folder.

    python scripts/build_native.py DEST_PACKAGE_DIR

writes DEST/_lib/libosstorch.so, DEST/_lib/libosstorch_fork.so (the same
library, made byte-different, that forked DataLoader workers load: see
python/osstorchconnector/_native/loader.py) and DEST/_bin/ossemu (the local OSS
server). Needs Go (see go.mod for the version).
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def version() -> str:
    text = (ROOT / "python" / "osstorchconnector" / "_version.py").read_text()
    return re.search(r'__version__ = "([^"]+)"', text).group(1)


def go(*args: str) -> None:
    env = dict(os.environ, CGO_ENABLED="1")
    cmd = ["go", *args]
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def build(dest: pathlib.Path) -> None:
    if shutil.which("go") is None:
        sys.exit("building osstorchconnector from source needs Go >= 1.26 on PATH (https://go.dev/dl/)")
    lib, bin_ = dest / "_lib", dest / "_bin"
    lib.mkdir(parents=True, exist_ok=True)
    bin_.mkdir(parents=True, exist_ok=True)
    v = version()
    for flavor, name in (("primary", "libosstorch.so"), ("fork", "libosstorch_fork.so")):
        go(
            "build",
            "-buildmode=c-shared",
            "-trimpath",
            "-ldflags",
            f"-s -w -X main.version={v} -X main.flavor={flavor}",
            "-o",
            str(lib / name),
            "./go/capi",
        )
        (lib / name.replace(".so", ".h")).unlink(missing_ok=True)  # our header is include/osstorch.h
    go("build", "-trimpath", "-ldflags", "-s -w", "-o", str(bin_ / "ossemu"), "./go/cmd/ossemu")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build(pathlib.Path(sys.argv[1]).resolve())
