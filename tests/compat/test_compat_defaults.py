"""Case d: with cred_path="" and config_path="" upstream reads
/root/.alibabacloud/credentials and /etc/oss-connector/config.json (and
without that config file it refuses to start: "failed to parse config
file"). Both sides run with the two files in place and nothing passed;
compared: that each call reads the object (the credentials were read) and
that the config's logPath was written (the config was read).

The files are placed in a private mount namespace for each run (bind mount
over an existing file, else an overlay of the nearest existing folder):
nothing on the machine changes. Without a namespace they are created for
the run only where no file exists, and removed; a real file there skips
the case."""

from __future__ import annotations

import json

import _runner
import pytest
from _compare import expect, show

up = _runner.up
A = "obj/a.bin"
CALLS = [
    "OssMapDataset.from_objects(..., cred_path='')[0]",
    "OssIterableDataset.from_objects(..., cred_path='')",
    "OssCheckpoint(EP).reader(a).read()",
    "OssClient(EP).head_object",
]


@pytest.fixture(scope="module")
def defaults(compat):
    def run(side):
        log_dir = compat.tmp / f"defaults-{side}"
        log_dir.mkdir(exist_ok=True)
        cfg = {"logLevel": 0, "logPath": str(log_dir / "connector.log"), "auditPath": str(log_dir / "audit.log")}
        files = {up.DEFAULT_CRED_PATH: compat.cred_json(), up.DEFAULT_CONFIG_PATH: json.dumps(cfg)}
        return compat.run(
            side, "defaults.py", {"a": A, "log_path": cfg["logPath"]}, files=files, cred_path="", config_path=""
        )

    if compat.namespace:
        return compat.each(run)
    return run("ours"), run("upstream")  # the same real paths: one side at a time


@pytest.mark.parametrize("call", CALLS)
def test_default_credentials(defaults, call):
    ours, upstream = defaults
    u, o = upstream.get_or_fail(call), ours.get_or_fail(call)
    expect("ok" in u, f"upstream does not read {up.DEFAULT_CRED_PATH} here: {show(u)}")
    expect(o == u, f"{call} with cred_path='' and config_path='': upstream {show(u)}; ours {show(o)}")


def test_default_config(defaults):
    ours, upstream = defaults
    name = "config read (its logPath written)"
    expect(upstream.get_or_fail(name) is True, f"upstream did not write the logPath of {up.DEFAULT_CONFIG_PATH}")
    expect(ours.get_or_fail(name) is True, f"ours did not read {up.DEFAULT_CONFIG_PATH} (its logPath is not written)")
