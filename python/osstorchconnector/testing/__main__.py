"""python -m osstorchconnector.testing serve [options]: run a local OSS server."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import FAULT_OPTIONS, LocalOssServer


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m osstorchconnector.testing")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="run a local OSS-compatible server until Ctrl-C")
    s.add_argument("--addr", default="127.0.0.1:0", help="listen address (default: a free loopback port)")
    s.add_argument("--bucket", action="append", default=None, help="bucket to create (repeatable; default test-bucket)")
    s.add_argument("--region", default="cn-hangzhou")
    s.add_argument("--data-dir", default=None, help="keep objects in this directory across restarts")
    s.add_argument("--anonymous", action="store_true", help="accept unsigned requests")
    for name in FAULT_OPTIONS:
        if name in ("ops",):
            s.add_argument(
                "--fault-op", dest="ops", action="append", help="limit faults to this operation (repeatable)"
            )
        elif name == "key_pattern":
            s.add_argument("--fault-keys", dest="key_pattern", help="limit faults to keys matching this pattern")
        else:
            s.add_argument("--" + name.replace("_", "-"), dest=name, type=float if "rate" in name else int)
    a = p.parse_args(argv)
    faults = {k: getattr(a, k) for k in FAULT_OPTIONS if getattr(a, k, None) is not None}
    srv = LocalOssServer(
        a.bucket or ["test-bucket"], region=a.region, data_dir=a.data_dir, anonymous=a.anonymous, **faults
    )
    done = threading.Event()
    # before the endpoint is printed: whoever reads it may send SIGTERM at once
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    srv.start(a.addr)
    try:
        print(f"endpoint:    {srv.endpoint}")
        print(f"region:      {srv.region}")
        print(f"buckets:     {', '.join(srv.buckets)}")
        print(f"credentials: {srv.cred_path}  (upstream's JSON format; pass as cred_path=)")
        print("Ctrl-C to stop.", flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    finally:
        srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
