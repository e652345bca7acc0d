"""Fork/spawn/forkserver trials, run as a fresh process by
tests/native/test_fork_safety.py.

    python tests/support/fork_trials.py METHOD TRIALS CHILDREN ENDPOINT CRED_PATH REGION BUCKET

The parent lists through the Go core (so a Go runtime lives in it), then in
each trial starts CHILDREN processes with the given start method; each child
lists and reads every object and sends back what it got and which copy of the
library it loaded. A child still running after its deadline counts as a hang
and is killed. Prints one JSON line with the tally.
"""

import json
import multiprocessing as mp
import os
import sys
import threading
import time

from osstorchconnector import _native

DEADLINE_S = 30.0


def child(conn, options, bucket):
    try:
        c = _native.NativeClient(options)
        objs = c.list(bucket)
        data = {o["key"]: c.get(bucket, o["key"]).hex() for o in objs}
        conn.send({"ok": True, "pid": os.getpid(), "source": _native.library_source(), "data": data})
    except BaseException as e:  # report, never hang
        conn.send({"ok": False, "error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def busy(client, bucket, stop):
    # Keep Go goroutines and a Python thread inside Go calls while the parent forks.
    while not stop.is_set():
        client.list(bucket)


def main():
    method, trials, children, endpoint, cred_path, region, bucket = sys.argv[1:8]
    trials, children = int(trials), int(children)
    options = {"endpoint": endpoint, "cred_path": cred_path, "region": region}
    parent = _native.NativeClient(options)
    expected = {o["key"]: parent.get(bucket, o["key"]).hex() for o in parent.list(bucket)}
    stop = threading.Event()
    t = threading.Thread(target=busy, args=(parent, bucket, stop), daemon=True)
    t.start()
    ctx = mp.get_context(method)
    tally = {
        "method": method,
        "trials": trials,
        "children": 0,
        "ok": 0,
        "hangs": 0,
        "wrong": 0,
        "errors": [],
        "sources": {},
        "parent_source": _native.library_source(),
    }
    for _ in range(trials):
        procs = []
        for _ in range(children):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=child, args=(w, options, bucket))
            p.start()
            w.close()
            procs.append((p, r))
        deadline = time.monotonic() + DEADLINE_S
        for p, r in procs:
            tally["children"] += 1
            if not r.poll(max(0.0, deadline - time.monotonic())):
                tally["hangs"] += 1
                p.kill()
                p.join()
                continue
            msg = r.recv()
            p.join(5)
            if not msg["ok"]:
                tally["errors"].append(msg["error"])
            elif msg["data"] != expected:
                tally["wrong"] += 1
            else:
                tally["ok"] += 1
                src = os.path.basename(msg["source"])
                tally["sources"][src] = tally["sources"].get(src, 0) + 1
    stop.set()
    t.join()
    # the parent's runtime still works after all the forks
    tally["parent_ok_after"] = {o["key"]: parent.get(bucket, o["key"]).hex() for o in parent.list(bucket)} == expected
    print(json.dumps(tally))


if __name__ == "__main__":
    main()
