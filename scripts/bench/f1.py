"""F1, fsspec (issue #17): our fsspec filesystem against ossfs from PyPI, in
the same run against the same server with the emulated network on (as D1):

* small: one ``fs.cat(paths)`` of many objects of ~100 KB (the paths
  given: no listing);
* big: one large object read front to back, ``fs.open(path).read(8 MiB)``
  until the end.

Systems: ours (osstorchconnector.fsspec), ossfs (ossfs.OSSFileSystem, what
fsspec's built-in "oss" names) and, for the small files, ossfs-async
(ossfs.AioOSSFileSystem, whose cat runs the GETs concurrently). Every
measurement runs in a fresh fork of our measurement host (worker.py); the
order of the systems alternates between repeats. ossfs's small-file case
fetches one object after another, so it gets the profile's slow_repeats.
"""

from __future__ import annotations

import pathlib
from typing import Any, Dict, List, Optional

import common
from common import MIB, Profile, log, record

# per profile: small objects, their size, the big object's size
SIZES = {
    "full": {"small": 2_000, "small_bytes": 100_000, "big_bytes": 1 << 30},
    "quick": {"small": 300, "small_bytes": 100_000, "big_bytes": 128 << 20},
}
SMALL_SYSTEMS = ("ours", "ossfs", "ossfs-async")
BIG_SYSTEMS = ("ours", "ossfs")


def run(
    profile: Profile,
    tools: Dict[str, str],
    scratch: pathlib.Path,
    hosts: Dict[str, Optional[common.Host]],
    notes: List[str],
) -> List[Dict[str, Any]]:
    size = SIZES.get(profile.name, SIZES["quick"])
    host = hosts["ours"]
    samples: Dict[str, List[Dict[str, Any]]] = {}
    with common.BenchServer() as srv:
        srv.fill(size["small"], "f1/small/%05d", size=size["small_bytes"])
        srv.fill(1, "f1/big-%d", size=size["big_bytes"])
        log(
            f"F1: stored {size['small']} objects of {size['small_bytes']} bytes and one of "
            f"{size['big_bytes'] / MIB:.0f} MiB"
        )
        srv.realism_on()
        env = srv.connection_env()
        env["BENCH_CONFIG_PATH"] = common.write_config(scratch / "config.json", scratch)
        for rep in range(max(1, profile.repeats)):
            for case, systems, args in (
                ("small", SMALL_SYSTEMS, {"count": size["small"], "expect_bytes": size["small"] * size["small_bytes"]}),
                ("big", BIG_SYSTEMS, {"expect_bytes": size["big_bytes"]}),
            ):
                for system in systems[::-1] if rep % 2 else systems:
                    if system == "ossfs" and case == "small" and rep >= profile.slow_repeats:
                        continue  # one GET after another: as D1's sequential baselines, fewer repeats
                    out = srv.run_on(host, "f1", dict(args, system=system, case=case), env, timeout=900)
                    samples.setdefault(f"{system}/{case}", []).append(out)
                    _log(system, case, rep, out)
    return _records(samples, size, notes)


def _log(system: str, case: str, rep: int, out: Dict[str, Any]) -> None:
    label = f"{system} {case}"
    if "error" in out:
        log(f"  {label:<18} rep {rep + 1}: FAILED {out['error']} {out.get('detail', '')[-800:]}")
    elif case == "small":
        log(
            f"  {label:<18} rep {rep + 1}: {out['objects'] / out['seconds']:8.0f} objects/s "
            f"({out['objects']} in {out['seconds']:.2f} s, CPU {out['cpu_s'] / out['objects'] * 1e3:.2f} ms/object)"
        )
    else:
        gb = out["bytes"] / 1e9
        log(
            f"  {label:<18} rep {rep + 1}: {out['bytes'] / out['seconds'] / 1e6:8.0f} MB/s "
            f"({gb:.2f} GB in {out['seconds']:.2f} s, CPU {out['cpu_s'] / gb:.2f} s/GB)"
        )


def _records(samples: Dict[str, List[Dict[str, Any]]], size: Dict[str, int], notes: List[str]) -> List[Dict[str, Any]]:
    recs = []
    for key, outs in samples.items():
        system, case = key.split("/")
        ok = common.successes(outs, notes, f"F1 {system} {case}")
        if not ok:
            continue
        if case == "small":
            params = {"case": "small", "objects": size["small"], "object_bytes": size["small_bytes"]}
            params["network"] = "emulated"
            recs.append(
                record("F1", system, params, "throughput", [o["objects"] / o["seconds"] for o in ok], "objects/s")
            )
            recs.append(record("F1", system, params, "time", [o["seconds"] for o in ok], "s"))
            recs.append(
                record("F1", system, params, "client_cpu", [o["cpu_s"] / o["objects"] * 1e3 for o in ok], "ms/object")
            )
            recs.append(
                record(
                    "F1",
                    system,
                    params,
                    "server_cpu",
                    [o["server_cpu_s"] / o["objects"] * 1e3 for o in ok],
                    "ms/object",
                )
            )
        else:
            params = {"case": "big", "object_bytes": size["big_bytes"], "read_bytes": 8 * MIB, "network": "emulated"}
            recs.append(
                record("F1", system, params, "throughput", [o["bytes"] / o["seconds"] / 1e6 for o in ok], "MB/s")
            )
            recs.append(record("F1", system, params, "time", [o["seconds"] for o in ok], "s"))
            recs.append(
                record("F1", system, params, "client_cpu", [o["cpu_s"] / (o["bytes"] / 1e9) for o in ok], "s/GB")
            )
            recs.append(
                record("F1", system, params, "server_cpu", [o["server_cpu_s"] / (o["bytes"] / 1e9) for o in ok], "s/GB")
            )
    return recs
