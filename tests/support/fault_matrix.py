"""The fault matrix: every fault of issue #8 against the surfaces where it
matters (datasets through DataLoader workers, checkpoints, tar shards), with
per-sample accounting, a hang bound per case and a secret scan of everything
the stack printed. Shared by tests/faults/test_faults.py (the CI-bounded run) and
`make test-faults` (OSSTORCH_FAULTS_FULL=1: more objects, repetitions and
worker configurations).

How a run works:

* The cases run in a *runner* process forked from the test process (torch is
  already imported there; a fresh interpreter would pay ~10 s to import it
  again). The runner is its own session, so its LocalOssServers and DataLoader
  workers share its process group.
* The runner reports "start" and "end" of every case over a pipe. The parent
  gives each case a generous bound: a case that does not end within it is a
  *hang* (the parent kills the runner's whole group and starts a new runner
  for the remaining cases); a runner that dies by a signal is a *crash*.
  Bounds only detect hangs, nothing here depends on how fast the machine is.
* Every object's bytes are a function of its name (`payload`), so every
  delivered sample is checked byte for byte. A sample whose bytes differ but
  that came without an error is "corrupt accepted".
* The connector logs at DEBUG (config.json logLevel 0) with an audit line for
  nearly every request; the runner's stdout/stderr (which DataLoader workers
  and Python logging inherit), both logs, the servers' logs and the str/repr
  of every exception and of the datasets, clients, checkpoints and
  DataObjects the cases create are kept for `scan_for_secrets`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import faulthandler
import hashlib
import json
import logging
import multiprocessing
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import zlib
from collections import Counter
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

from support.transforms import keep_list, no_collate

FULL = os.environ.get("OSSTORCH_FAULTS_FULL", "") not in ("", "0")
BUCKET = "fault-bkt"

# ---- the credentials every case uses (scanned for in all output) ----
#
# One random tag per run, in every secret and nowhere else: the scan also
# looks for the tag alone, so a truncated or re-encoded secret is caught too.
# The token has '/', '+' and '=' as real STS tokens do (they change under URL
# encoding, which the scan also tries).
_TAG = secrets.token_hex(8)
SECRET = f"FaultSuiteSecret{_TAG}Ak9"
TOKEN = f"FaultSuiteToken/{_TAG}+Sts=="
ROTATED_SECRET = f"FaultSuiteRotatedSecret{_TAG}Bq"
ROTATED_TOKEN = f"FaultSuiteRotatedToken/{_TAG}+Rt="
WRONG_SECRET = f"FaultSuiteWrongSecret{_TAG}Cz"
# Not a credential: a name the canary case sends through every channel (key
# names reach logs, audit lines, errors and reprs), to prove the scan reads them.
CANARY = f"FaultSuiteCanary{secrets.token_hex(6)}"
SECRETS = {"AccessKeySecret": SECRET, "SecurityToken": TOKEN, "rotated AccessKeySecret": ROTATED_SECRET,
           "rotated SecurityToken": ROTATED_TOKEN, "wrong AccessKeySecret": WRONG_SECRET, "secret tag": _TAG}

# ---- sizes: CI-bounded vs full ----

N_OBJECTS = 160 if FULL else 48
MAX_SIZE = 96 << 10 if FULL else 20 << 10
CKPT_MIB = 24 if FULL else 4
REPS = 3 if FULL else 1  # repetitions (different fault seeds) of each case
BOUND_S = 240 if FULL else 90  # per case: only to tell a hang from a slow machine


# ---- deterministic data ----

def payload(name: str) -> bytes:
    """The bytes of object/member `name`: 2 KiB .. MAX_SIZE, a function of the name."""
    size = 2048 + zlib.crc32(name.encode()) % (MAX_SIZE - 2048)
    return hashlib.shake_256(name.encode()).digest(size)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def dataset_names(n: int = None, prefix: str = "ds/") -> List[str]:
    return [f"{prefix}{i:04d}.bin" for i in range(N_OBJECTS if n is None else n)]


# Module-level transforms and collates: DataLoader workers started with spawn
# get them pickled (full mode runs some cases under spawn). The collates are
# the dataset tests' (support/transforms.py).

def digest_transform(obj):
    """(name, sha256) of a fetched object; None for a missing one (the transform gets None)."""
    if obj is None:
        return None
    key = obj.key
    if key.startswith(f"/{BUCKET}/"):
        key = key[len(BUCKET) + 2:]
    elif "/tar-src/" in key:  # a tar member: named by its path in the folder the tar was made from
        key = key.split("/tar-src/", 1)[1]
    return key, digest(obj.read())


# ---- accounting ----

class Tally:
    """Per-sample accounting of one case. A sample is named "e<epoch>:<name>"."""

    def __init__(self) -> None:
        self.expected: Dict[str, str] = {}
        self.seen: Counter = Counter()
        self.corrupt = 0
        self.errored: set = set()
        self.unattributed = 0  # errors that name no sample (e.g. a failed ranged read of a tar run)
        self.unclear: List[str] = []
        self.unexpected = 0
        self.partial = 0
        self.violations: List[str] = []
        self.notes: List[str] = []
        self.first_error = ""
        self.last_error = ""
        self.error_types: Counter = Counter()
        self.worker_signals = 0  # errors saying a DataLoader worker died by a signal
        self.epoch = 0

    def expect(self, names: Iterable[str], digests: Optional[Dict[str, str]] = None, epoch: int = None) -> None:
        ep = self.epoch if epoch is None else epoch
        for n in names:
            self.expected[f"e{ep}:{n}"] = digests[n] if digests else digest(payload(n))

    def deliver(self, name: str, dig: str) -> None:
        k = f"e{self.epoch}:{name}"
        if k not in self.expected:
            self.unexpected += 1
            self.violations.append(f"delivered {name!r}, which is not in the data set")
            return
        self.seen[k] += 1
        if dig != self.expected[k]:
            self.corrupt += 1
            self.violations.append(f"corrupt bytes accepted for {name}")

    def error(self, exc: Any, names: Sequence[str] = (), *, clear: Optional[bool] = None, rest: bool = False) -> None:
        """A surfaced error: for `names`, for every sample not yet delivered
        this epoch (rest=True: the epoch was aborted), or for no known sample."""
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        TEXTS.append(text)
        if len(self.error_types) + self.unattributed + len(self.errored) < 20:  # into the runner log at once
            print(f"[surfaced] {text[-2000:]}", file=sys.stderr, flush=True)
        if not isinstance(exc, str):
            TEXTS.append(repr(exc))
            self.error_types[type(exc).__name__] += 1
        if not self.first_error:
            self.first_error = _one_line(text)
        self.last_error = text[-600:]
        if "killed by signal" in text:
            self.worker_signals += 1
        if clear is None:
            clear = bool(text.strip())
        if not clear:
            self.unclear.append(_one_line(text))
        if rest:
            pre = f"e{self.epoch}:"
            for k in self.expected:
                if k.startswith(pre) and not self.seen[k]:
                    self.errored.add(k)
        elif names:
            for n in names:
                self.errored.add(f"e{self.epoch}:{n}")
        else:
            self.unattributed += 1

    def violate(self, msg: str) -> None:
        self.violations.append(msg)

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def summary(self) -> Dict[str, Any]:
        delivered = sum(1 for k, c in self.seen.items() if c)
        dup = sum(c - 1 for c in self.seen.values() if c > 1)
        lost = [k for k in self.expected if not self.seen[k] and k not in self.errored]
        errors = len(self.errored - {k for k, c in self.seen.items() if c}) + self.unattributed
        return {"samples": len(self.expected), "delivered": delivered - self.corrupt, "corrupt": self.corrupt,
                "errors": errors, "errored_samples": len(self.errored), "unattributed": self.unattributed,
                "lost": len(lost), "lost_names": lost[:5], "dup": dup, "partial": self.partial,
                "unexpected": self.unexpected, "unclear": self.unclear[:3], "violations": self.violations[:10],
                "notes": self.notes, "first_error": self.first_error, "error_types": dict(self.error_types),
                "worker_signals": self.worker_signals}


def _one_line(text: str, limit: int = 160) -> str:
    """The most telling line of an error text (DataLoader re-raises carry a traceback)."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    for ln in reversed(lines):  # the innermost exception line
        if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", ln):
            return ln[:limit]
    return (lines[0] if lines else "")[:limit]


# Everything the runner collected for the secret scan (sent to the parent with each case's result).
TEXTS: List[str] = []


def probe(*objs: Any) -> None:
    """Keep str() and repr() of objects the suite created."""
    for o in objs:
        try:
            TEXTS.append(repr(o))
            TEXTS.append(str(o))
        except Exception as e:  # a failing repr is itself worth scanning
            TEXTS.append(f"repr failed: {type(e).__name__}: {e}")


# ---- the case context (inside the runner) ----

class Ctx:
    def __init__(self, art: str, case: "Case", rep: int) -> None:
        self.art, self.case, self.rep = art, case, rep
        self.seed = rep + 1
        self.tmp = tempfile.mkdtemp(prefix="case-", dir=os.path.join(art, "work"))
        self._servers: List[Any] = []

    def config(self, **extra: Any) -> str:
        """A config.json: DEBUG logs and audit lines into the artifacts (scanned
        later), 1 MiB parts and read chunks so checkpoints span several."""
        cfg = {"logLevel": 0, "logPath": os.path.join(self.art, "logs", "connector.log"),
               "auditPath": os.path.join(self.art, "logs", "audit.log"), "auditThresholdMs": 1,
               "partSize": 1 << 20, "readChunkSize": 1 << 20, "checkpointConfig": {"uploadConcurrency": 8}}
        cfg.update(extra)
        path = os.path.join(self.tmp, f"config-{len(os.listdir(self.tmp))}.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def server(self, **kw: Any):
        from osstorchconnector.testing import LocalOssServer
        kw.setdefault("access_key_secret", SECRET)
        kw.setdefault("security_token", TOKEN)
        srv = LocalOssServer([BUCKET], **kw)
        srv.start()
        self._servers.append(srv)
        probe(srv)
        return srv

    def kw(self, srv, config_path: str = None, **extra: Any) -> Dict[str, Any]:
        d = dict(endpoint=srv.endpoint, cred_path=srv.cred_path, region=srv.region,
                 config_path=config_path or self.config())
        d.update(extra)
        return d

    def close(self) -> None:
        for i, srv in enumerate(self._servers):
            try:  # keep the server's own log for the scan
                src = os.path.join(srv._tmp, "ossemu.log")
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(self.art, "ossemu", f"{self.case.id.replace('/', '_')}-{self.rep}-{i}.log"))
            except Exception:
                pass
            with contextlib.suppress(Exception):
                # SIGKILL, not SIGTERM: ossemu's graceful shutdown waits up to 5 s for a connection a client
                # dialled but never used (Go's StateNew), which this process's clients often hold
                srv.kill()
                srv.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# ---- surfaces ----
#
# A surface has a setup (before the faults: data, tar, checkpoint) and a run
# (under the faults) that feeds a Tally.

def put_dataset(srv, names: Sequence[str]) -> None:
    for n in names:
        srv.put_object(BUCKET, n, payload(n))


def loader(ds, workers: int, batch: Optional[int], method: str = "fork", **kw: Any):
    from torch.utils.data import DataLoader
    args = dict(batch_size=batch, num_workers=workers, collate_fn=keep_list if batch else no_collate)
    if workers:
        args.update(multiprocessing_context=method, prefetch_factor=2)
    args.update(kw)
    return DataLoader(ds, **args)


def run_map_loader(tally: Tally, dl, names: Sequence[str], batch: Optional[int],
                   after_batch: Callable[[int], None] = None, clear: Callable[[str], bool] = None) -> None:
    """Iterate a map-style DataLoader in index order. Batch k holds indices
    [k*b, (k+1)*b): a batch that raises surfaces an error for each of them.
    A None from the transform is a missing object (a per-sample error)."""
    b = batch or 1
    it = iter(dl)
    k = 0
    while True:
        idx = names[k * b:(k + 1) * b]
        try:
            out = next(it)
        except StopIteration:
            break
        except Exception as e:  # a failed batch (or sample): the loader goes on with the next one
            tally.error(e, idx, clear=clear(str(e)) if clear else None)
            k += 1
            if not idx:
                break
            continue
        items = out if batch else [out]
        for n, item in zip(idx, items):
            if item is None:
                tally.error(f"transform got None for {n} (missing object)", [n])
            else:
                if item[0] != n:
                    tally.violate(f"sample {item[0]} arrived in the place of {n}")
                tally.deliver(item[0], item[1])
        k += 1
        if after_batch:
            after_batch(k)


_KEY_IN_ERROR = re.compile(r"oss://" + re.escape(BUCKET) + r"/([^\s:]+)")
# tar members are named by their path in the folder the tar was made from
_TAR_MEMBER_IN_ERROR = re.compile(r'tar member "(?:[^"]*/tar-src/)?([^"]+)"')


def run_iter_loader(tally: Tally, dl, clear: Callable[[str], bool] = None, after_batch=None, batched=True) -> int:
    """Iterate an iterable DataLoader; errors are tied to the object their
    message names. Returns how many None (missing objects) came. With
    batched False the loader has batch_size None: one sample per next().

    A batch that raises drops the samples DataLoader had already collected
    into it (torch's fetcher), and no message names them: cases that expect
    per-sample errors from an iterable dataset use batch_size None."""
    nones = 0
    it = iter(dl)
    k = 0
    got = 0
    while True:
        if got > 3 * len(tally.expected) + 100:  # an epoch that does not end: report it, do not spin
            top = Counter(tally.seen).most_common(3)
            tally.violate(f"endless epoch: {got} samples and errors so far for {len(tally.expected)} expected; "
                          f"most repeated {top}; last error {tally.last_error!r}")
            break
        try:
            out = next(it)
        except StopIteration:
            break
        except Exception as e:
            got += 1
            m = _TAR_MEMBER_IN_ERROR.search(str(e)) or _KEY_IN_ERROR.search(str(e))
            name = m.group(1) if m else None
            tally.error(e, [name] if name and f"e{tally.epoch}:{name}" in tally.expected else (),
                        clear=clear(str(e)) if clear else None)
            continue
        items = out if batched else [out]
        got += len(items)
        for item in items:
            if item is None:
                nones += 1
            else:
                tally.deliver(item[0], item[1])
        k += 1
        if after_batch:
            after_batch(k)
    return nones


def surface_map_dl(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, workers=2, batch=8, method="fork",
                   config: Dict[str, Any] = None) -> None:
    from osstorchconnector import OssMapDataset
    names = dataset_names()
    put_dataset(srv, names)
    tally.expect(names)
    srv.set_faults(seed=ctx.seed, **faults)
    try:  # the listing runs under the faults too
        ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform,
                                       **ctx.kw(srv, ctx.config(**(config or {}))))
    except Exception as e:
        tally.error(e, rest=True)
        return
    probe(ds)
    run_map_loader(tally, loader(ds, workers, batch, method), names, batch)


def surface_iter_dl(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, workers=2, batch=8, method="fork",
                    config: Dict[str, Any] = None) -> None:
    from osstorchconnector import OssIterableDataset
    names = dataset_names()
    put_dataset(srv, names)
    tally.expect(names)
    srv.set_faults(seed=ctx.seed, **faults)
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform,
                                        **ctx.kw(srv, ctx.config(**(config or {}))))
    probe(ds)
    run_iter_loader(tally, loader(ds, workers, batch, method), batched=bool(batch))


def build_tar(ctx: Ctx, srv, names: Sequence[str], cfg: str) -> None:
    from osstorchconnector import generate_tar_archive
    src = os.path.join(ctx.tmp, "tar-src")
    for n in names:
        p = os.path.join(src, n)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(payload(n))
    generate_tar_archive(srv.endpoint, srv.cred_path, cfg, f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/shard.idx",
                         src, region=srv.region)


def surface_tar(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, kind="map", workers=2, batch=8,
                config: Dict[str, Any] = None) -> None:
    from osstorchconnector import OssIterableDataset, OssMapDataset
    names = sorted(dataset_names())
    cfg = ctx.config(**(config or {}))
    build_tar(ctx, srv, names, ctx.config())  # setup: the default config (no tiny timeouts)
    tally.expect(names)
    srv.set_faults(seed=ctx.seed, **faults)
    args = dict(transform=digest_transform, **ctx.kw(srv, cfg))
    try:
        if kind == "map":
            ds = OssMapDataset.from_tar(f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/shard.idx", **args)
        else:  # small chunks: several ranged reads per worker
            ds = OssIterableDataset.from_tar(f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/shard.idx", shuffle=True,
                                             shuffle_chunk_size=6, seed=ctx.seed, **args)
    except Exception as e:
        tally.error(e, rest=True)
        return
    probe(ds)
    if kind == "map":
        run_map_loader(tally, loader(ds, workers, batch), names, batch)
    else:
        run_iter_loader(tally, loader(ds, workers, batch), batched=bool(batch))


# ---- checkpoints ----

def ckpt_state(tag: str, mib: int = None):
    import torch
    g = torch.Generator().manual_seed(zlib.crc32(tag.encode()))
    return {"w": torch.randn((mib or CKPT_MIB) << 18, generator=g), "b": torch.arange(1000) * zlib.crc32(tag.encode()),
            "tag": tag}


def ckpt_same(a, b) -> bool:
    import torch
    return (isinstance(a, dict) and set(a) == set(b) and torch.equal(a["w"], b["w"]) and torch.equal(a["b"], b["b"])
            and a["tag"] == b["tag"])


def checkpoint(ctx: Ctx, srv, cfg: str = None, **kw: Any):
    from osstorchconnector import OssCheckpoint
    args = ctx.kw(srv, cfg)
    args.update(kw)
    ck = OssCheckpoint(args.pop("endpoint"), **args)
    probe(ck)
    return ck


def save_with_writer(ck, sd, uri: str) -> None:
    """torch.save through the writer, as a training script does."""
    import torch
    with ck.writer(uri) as f:
        probe(f)
        torch.save(sd, f)


def visible_check(ctx: Ctx, srv, tally: Tally, uri: str, acceptable: Dict[str, Any], label: str) -> Optional[str]:
    """After the faults: what a fresh, fault-free client sees at uri must be
    nothing or exactly one of the acceptable versions (by name). Anything else
    is a partial (or wrong) object visible."""
    srv.clear_faults()
    ck = checkpoint(ctx, srv)
    try:
        back = ck.load(uri)
    except FileNotFoundError:
        return None
    except Exception as e:  # visible, but not a loadable checkpoint: a partial object
        tally.partial += 1
        tally.violate(f"{label}: a visible object that does not load: {_one_line(str(e))}")
        TEXTS.append(str(e))
        return "unloadable"
    for name, sd in acceptable.items():
        if ckpt_same(back, sd):
            return name
    tally.partial += 1
    tally.violate(f"{label}: the visible object is none of {sorted(acceptable)}")
    return "other"


def surface_ckpt_save(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, config: Dict[str, Any] = None) -> None:
    """Save v2 over v1 under the faults: afterwards v2 (save succeeded) or v1 (save raised)."""
    uri = f"oss://{BUCKET}/ckpt/model.pt"
    cfg = ctx.config(**(config or {}))
    v1, v2 = ckpt_state(f"v1-{ctx.rep}"), ckpt_state(f"v2-{ctx.rep}")
    checkpoint(ctx, srv).save(v1, uri)  # setup: the default config
    ck = checkpoint(ctx, srv, cfg)
    tally.expected["e0:save"] = "exact"
    srv.set_faults(seed=ctx.seed, **faults)
    ok = False
    try:
        save_with_writer(ck, v2, uri)
        ok = True
    except Exception as e:
        tally.error(e, ["save"], clear=isinstance(e, OSError))
    seen = visible_check(ctx, srv, tally, uri, {"v1": v1, "v2": v2}, "save")
    if ok:
        if seen == "v2":
            tally.deliver("save", "exact")
        else:
            tally.violate(f"save returned but the object is {seen or 'absent'}")
    elif seen == "v2":
        tally.note("save raised although v2 was committed")


def surface_ckpt_load(ctx: Ctx, srv, faults: Dict[str, Any], tally: Tally, config: Dict[str, Any] = None) -> None:
    uri = f"oss://{BUCKET}/ckpt/model.pt"
    cfg = ctx.config(**(config or {}))
    sd = ckpt_state(f"load-{ctx.rep}")
    checkpoint(ctx, srv).save(sd, uri)  # setup: the default config
    ck = checkpoint(ctx, srv, cfg)
    tally.expected["e0:load"] = "exact"
    srv.set_faults(seed=ctx.seed, **faults)
    try:
        with ck.reader(uri) as f:
            probe(f)
            import torch
            back = torch.load(f)
    except Exception as e:
        tally.error(e, ["load"], clear=isinstance(e, (OSError, RuntimeError)))
        return
    tally.deliver("load", "exact" if ckpt_same(back, sd) else "mismatch")


SURFACES = {
    "map DL(w2,b8)": surface_map_dl,
    "map DL(w2,b=None)": lambda ctx, srv, f, t, **kw: surface_map_dl(ctx, srv, f, t, batch=None, **kw),
    "map in-process(b8)": lambda ctx, srv, f, t, **kw: surface_map_dl(ctx, srv, f, t, workers=0, batch=8, **kw),
    "iter DL(w2)": surface_iter_dl,
    "ckpt save": surface_ckpt_save,
    "ckpt load": surface_ckpt_load,
    "tar map DL(w2,b8)": lambda ctx, srv, f, t, **kw: surface_tar(ctx, srv, f, t, kind="map", **kw),
    "tar iter DL(w2)": lambda ctx, srv, f, t, **kw: surface_tar(ctx, srv, f, t, kind="iter", **kw),
}
if FULL:  # more worker configurations
    SURFACES.update({
        "map DL(w4,b16)": lambda ctx, srv, f, t, **kw: surface_map_dl(ctx, srv, f, t, workers=4, batch=16, **kw),
        "iter DL(w4)": lambda ctx, srv, f, t, **kw: surface_iter_dl(ctx, srv, f, t, workers=4, **kw),
        "iter DL(w2,spawn)": lambda ctx, srv, f, t, **kw: surface_iter_dl(ctx, srv, f, t, method="spawn", **kw),
    })


# ---- the cases ----

@dataclasses.dataclass
class Case:
    fault: str      # the row group of the table (the fault list)
    surface: str
    fn: Callable[[Ctx, Tally], None]
    expect: str     # "all": every sample delivered, no error; "each": delivered or a per-sample error; "raise": errors only
    bound_s: float = BOUND_S
    known: str = ""  # a known bug or limit this case shows (reported; the test xfails on exactly it)
    reps: int = REPS  # runs, each with another fault seed
    id: str = ""

    def __post_init__(self) -> None:
        self.id = f"{self.fault} / {self.surface}"


def faulted(surface: str, faults: Dict[str, Any], config: Dict[str, Any] = None, skew: bool = False, **kw: Any):
    """A case: `surface` under `faults`. The fault must actually happen
    (else the case proves nothing): faults injected, or for clock skew the
    server's RequestTimeTooSkewed answers."""
    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server()
        SURFACES[surface](ctx, srv, faults, tally, config=config, **kw)
        st = srv.stats()
        if skew:
            n = sum(v.get("403", 0) for v in st["requests"].values())
            tally.note(f"{n} RequestTimeTooSkewed answers")
        else:
            n = st["faults_injected"]
            tally.note(f"{n} faults injected")
        if not n:
            tally.violate("the fault never happened")
    return fn


F_THROTTLE, F_500, F_RESET, F_TRUNC, F_STALL, F_FLIP = (
    "503 throttling (x-oss-qos-delay-time)", "bursts of 500", "connection reset mid-body", "truncated body",
    "stall > read timeout", "flipped bytes")
F_RESTART, F_DOWN, F_CREDS, F_SKEW, F_WRONG, F_MISSING, F_KILL = (
    "server restart during checkpoint write", "server down at start", "credentials expire mid-epoch, rewritten",
    "clock skew ±20 min", "wrong secret", "missing objects", "DataLoader worker SIGKILL mid-epoch")
FAULTS = [F_THROTTLE, F_500, F_RESET, F_TRUNC, F_STALL, F_FLIP, F_RESTART, F_DOWN, F_CREDS, F_SKEW, F_WRONG,
          F_MISSING, F_KILL]

# spawn workers import torch (~10-50 s each here): only in the cases that name them
DATA_SURFACES = [s for s in SURFACES if not s.startswith(("ckpt", "tar")) and "spawn" not in s]

KNOWN_READER_FOREIGN = ("checkpoint reader, objects larger than its cache that were not written by this connector "
                        "(no part checksum file): OSS has no checksum for a range, so a chunk is handed out before "
                        "anything can check it; a corrupt chunk surfaces as an integrity error when it is read again "
                        "or once the whole object has been read (torch.load reads it all, so it fails), not on the "
                        "read that returned it (go/connector/reader.go)")


def build_cases() -> List[Case]:
    c: List[Case] = []
    gets = ["GetObject"]
    # 503 throttling: a burst of 503 answers carrying x-oss-qos-delay-time (fewer than maxAttempts, so
    # deterministic), one check that the delay asked for is waited, and the QPS limiter asked for more
    # than it allows for seconds on end (TotalQpsLimitExceeded)
    throttle = dict(error_rate_503=1.0, qos_delay_ms=150, fault_limit=4)
    for s in DATA_SURFACES + ["ckpt save", "ckpt load", "tar iter DL(w2)"]:
        c.append(Case(F_THROTTLE, s, faulted(s, throttle), "all"))
    c.append(Case(F_THROTTLE, "map in-process, qos delay honoured", qos_delay_honoured, "all"))
    c.append(Case(F_THROTTLE, "map DL(w2,b24), QPS limit, sustained (10 qps)", faulted(
        "map DL(w2,b8)", dict(qps_limit=10, qos_delay_ms=100), batch=24), "all"))
    c.append(Case(F_THROTTLE, "ckpt save, QPS limit, sustained (1 qps)", faulted(
        "ckpt save", dict(qps_limit=1, qos_delay_ms=100)), "all"))
    # 500 bursts: the first few requests all fail (fewer than maxAttempts), then a second burst mid-way
    burst = dict(error_rate_500=1.0, fault_limit=4)
    for s in DATA_SURFACES + ["ckpt save", "ckpt load", "tar map DL(w2,b8)"]:
        c.append(Case(F_500, s, faulted(s, burst), "all"))
    # a burst that outlasts the retries, mid-checkpoint: a clear error, and nothing new visible
    c.append(Case(F_500, "ckpt save, burst outlasts retries", faulted("ckpt save", dict(
        error_rate_500=1.0, ops=["UploadPart"]), {"maxAttempts": 2, "checkpointConfig": {"uploadConcurrency": 1}}),
        "each"))
    # the listing of an iterable data set fails for good (every attempt a 500), in the workers: each
    # worker's share ends with the error, and the epoch ends (a loop that goes on after errors must not spin)
    c.append(Case(F_500, "iter DL(w2), listing fails for good", iter_listing_fails, "raise"))
    # resets after 1000 bytes of a response body (reads resume) or 100 kB of an upload (the part is sent again)
    reset_get = dict(reset_rate=0.5, reset_after_bytes=1000, ops=gets, fault_limit=12)
    for s in DATA_SURFACES + ["ckpt load", "tar map DL(w2,b8)", "tar iter DL(w2)"]:
        c.append(Case(F_RESET, s, faulted(s, reset_get), "all"))
    if FULL:
        c.append(Case(F_RESET, "iter DL(w2,spawn)", faulted("iter DL(w2,spawn)", reset_get), "all", reps=1,
                      bound_s=BOUND_S + 120))
    c.append(Case(F_RESET, "ckpt save (UploadPart)", faulted("ckpt save", dict(
        reset_rate=1.0, reset_after_bytes=100_000, ops=["UploadPart"], fault_limit=4)), "all"))
    # truncated bodies (clean close before Content-Length)
    trunc = dict(truncate_rate=0.5, truncate_after_bytes=1000, ops=gets, fault_limit=12)
    for s in DATA_SURFACES + ["ckpt load", "tar map DL(w2,b8)"]:
        c.append(Case(F_TRUNC, s, faulted(s, trunc), "all"))
    # a stall longer than readWriteTimeoutMs: the connection is given up and the read resumes
    stall_cfg = {"readWriteTimeoutMs": 2000}
    stall = dict(stall_rate=1.0, stall_ms=5000, stall_after_bytes=1000, ops=gets, fault_limit=3)
    for s in DATA_SURFACES + ["ckpt load", "tar map DL(w2,b8)"]:
        c.append(Case(F_STALL, s, faulted(s, stall, stall_cfg), "all", bound_s=BOUND_S + 60))
    if FULL:
        c.append(Case(F_STALL, "iter DL(w2,spawn)", faulted("iter DL(w2,spawn)", stall, stall_cfg), "all", reps=1,
                      bound_s=BOUND_S + 120))
    c.append(Case(F_STALL, "ckpt save (UploadPart)", faulted("ckpt save", dict(
        stall_rate=1.0, stall_ms=5000, stall_after_bytes=100_000, ops=["UploadPart"], fault_limit=1), stall_cfg),
        "all", bound_s=BOUND_S + 60))
    # flipped bytes: one flip is read again; objects flipped every time fail their CRC, per sample
    once = dict(flip_rate=1.0, fault_limit=1, ops=gets)
    for s in ["map DL(w2,b8)", "iter DL(w2)", "ckpt load"]:
        c.append(Case(F_FLIP, s, faulted(s, once), "each"))
    c.append(Case(F_FLIP, "map DL(w2,b=None), 3 keys always", faulted("map DL(w2,b=None)", dict(
        flip_rate=1.0, key_pattern="ds/000[0-2].bin", ops=gets)), "each"))
    c.append(Case(F_FLIP, "iter DL(w2,b=None), 1 key always", faulted("iter DL(w2)", dict(
        flip_rate=1.0, key_pattern="ds/0001.bin", ops=gets), batch=None), "each"))
    c.append(Case(F_FLIP, "ckpt save (UploadPart)", faulted("ckpt save", dict(
        flip_rate=1.0, ops=["UploadPart"], fault_limit=2)), "each"))
    c.append(Case(F_FLIP, "ckpt reader, chunk read twice", reader_reread_case("writer"), "each"))
    c.append(Case(F_FLIP, "ckpt reader, chunk read twice, small object put by another tool",
                  reader_reread_case("put"), "each"))
    c.append(Case(F_FLIP, "ckpt reader, chunk read twice, large object put by another tool",
                  reader_reread_case("put large"), "each", known=KNOWN_READER_FOREIGN))
    # the tar's ranged reads, not the index: every read damaged, so one member of each run fails its CRC-64
    c.append(Case(F_FLIP, "tar map DL(w2,b8)", faulted("tar map DL(w2,b8)", dict(
        flip_rate=1.0, ops=gets, key_pattern="shard.tar")), "each"))
    c.append(Case(F_FLIP, "tar iter DL(w2,b=None)", faulted("tar iter DL(w2)", dict(
        flip_rate=1.0, ops=gets, key_pattern="shard.tar"), batch=None), "each"))
    # the server is killed mid-upload and comes back on the same port and data directory
    for pause in ([0.3, 3.0] if FULL else [0.3]):
        c.append(Case(F_RESTART, f"ckpt writer, SIGKILL, back after {pause:g} s",
                      restart_case(pause, graceful=False), "each", bound_s=BOUND_S + 90))
    c.append(Case(F_RESTART, "ckpt writer, SIGTERM restart", restart_case(0.0, graceful=True), "each",
                  bound_s=BOUND_S + 90))
    # nothing listening at the endpoint
    for s in ["map from_prefix", "iter DL(w2)", "ckpt save", "ckpt load", "tar map from_tar"]:
        c.append(Case(F_DOWN, s, down_case(s), "raise"))
    # credentials expire mid-epoch; the server rotates its keys and the file is rewritten
    c.append(Case(F_CREDS, "map DL(w2,b8)", creds_map_dl, "all"))
    c.append(Case(F_CREDS, "iter DL(w2, persistent), 2 epochs", creds_iter_dl, "all"))
    c.append(Case(F_CREDS, "ckpt save/load", creds_ckpt, "all"))
    c.append(Case(F_CREDS, "map in-process, file rewritten late", creds_late, "each"))
    # server clock off by +-20 min: the client corrects from the server's Date
    for off in (20, -20):
        faults = dict(clock_offset_ms=off * 60_000)
        for s in ["map DL(w2,b8)", "iter DL(w2)", "ckpt save", "ckpt load", "tar map DL(w2,b8)"]:
            c.append(Case(F_SKEW, f"{s}, {off:+d} min", faulted(s, faults, skew=True), "all"))
    c.append(Case(F_SKEW, "map in-process, +20 min, then the clocks agree again", skew_jump, "all"))
    # a wrong AccessKeySecret
    for s in ["map from_prefix", "map from_prefix (V1 signing)", "iter DL(w2)", "ckpt save", "ckpt load",
              "tar map from_tar"]:
        c.append(Case(F_WRONG, s, wrong_secret_case(s), "raise"))
    # objects that do not exist
    for s in ["map DL(w2,b=None)", "map in-process __getitems__", "iter DL(w2)", "ckpt load", "tar index missing",
              "tar archive missing"]:
        c.append(Case(F_MISSING, s, missing_case(s), "raise" if s.startswith(("ckpt", "tar")) else "each"))
    # a DataLoader worker SIGKILLed mid-epoch; the next epoch must work
    for s in ["map DL(w2,b4)", "iter DL(w2)"]:
        c.append(Case(F_KILL, s, kill_case(s), "each"))
    c.append(Case(F_CANARY, "map DL(w2,b=None) + in-process", canary_case, "each"))
    return c


F_CANARY = "secret-scan canary"


def canary_case(ctx: Ctx, tally: Tally) -> None:
    """A missing object whose key is CANARY, read through workers and in
    process: the scan must find CANARY in the connector log, the audit log,
    the runner's output and the collected exception texts and reprs."""
    from osstorchconnector import OssMapDataset
    srv = ctx.server()
    key = f"canary/{CANARY}.bin"
    put_dataset(srv, ["canary/present.bin"])
    tally.expect(["canary/present.bin"])
    tally.expected[f"e0:{key}"] = "missing"
    ds = OssMapDataset.from_objects([f"oss://{BUCKET}/canary/present.bin", f"oss://{BUCKET}/{key}"],
                                    transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    run_map_loader(tally, loader(ds, 2, None), ["canary/present.bin", key], None)
    obj = ds._get_client().get_object(BUCKET, key)
    probe(obj, obj.error_msg(), obj.exception())


# ---- special cases ----

def iter_listing_fails(ctx: Ctx, tally: Tally) -> None:
    from osstorchconnector import OssIterableDataset
    srv = ctx.server()
    put_dataset(srv, dataset_names(8))
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    srv.set_faults(error_rate_500=1.0, ops=["ListObjectsV2"])
    tally.expected["e0:epoch"] = "must-raise"
    inner = Tally()  # the loader's own accounting: errors only, and an end
    run_iter_loader(inner, loader(ds, 2, 4), clear=lambda t: "ListObjectsV2" in t and "InternalError" in t)
    if inner.violations:  # "endless epoch": the loader kept raising
        tally.violations += inner.violations
    if inner.unclear:
        tally.unclear += inner.unclear
    n = inner.unattributed + len(inner.errored)
    if n:
        tally.error(inner.first_error, ["epoch"])
        tally.note(f"{n} errors (one per worker expected), then the epoch ended")
    else:
        tally.violate("no error although the listing failed")


def qos_delay_honoured(ctx: Ctx, tally: Tally) -> None:
    """Three 503s with x-oss-qos-delay-time: 1000 on one object read alone:
    the read must take at least the 3 s the server asked for (a lower bound,
    so a slow machine cannot fail it)."""
    from osstorchconnector import OssMapDataset
    srv = ctx.server()
    names = dataset_names(2)
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    srv.set_faults(error_rate_503=1.0, qos_delay_ms=1000, fault_limit=3, ops=["GetObject"])
    t0 = time.monotonic()
    try:
        tally.deliver(*ds[0])
    except Exception as e:
        tally.error(e, [names[0]])
    took = time.monotonic() - t0
    tally.note(f"3 x 503 with a 1 s delay asked: the read took {took:.1f} s")
    if took < 3.0:
        tally.violate(f"retried sooner than x-oss-qos-delay-time asked ({took:.2f} s < 3 s)")
    tally.deliver(*ds[1])


def reader_reread_case(origin: str):
    """One flipped response to a full-chunk read, then a small read of the
    same chunk (fetched again, clean), then the rest: every read must return
    the object's bytes or raise. origin: "writer" (12 MiB written by our
    writer in 1 MiB parts, so it has a part checksum file), "put" (4 MiB put
    by another tool, within the reader's cache) or "put large" (12 MiB put by
    another tool: nothing to check a range against)."""

    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server()
        size = (4 if origin == "put" else 12) << 20
        data = hashlib.shake_256(b"reader-reread" + origin.encode()).digest(size)
        ck = checkpoint(ctx, srv, ctx.config(readChunkSize=1 << 20))
        if origin == "writer":
            with ck.writer(f"oss://{BUCKET}/ckpt/raw.bin") as w:
                w.write(data)
        else:
            srv.put_object(BUCKET, "ckpt/raw.bin", data)
        tally.expected.update({"e0:read chunk 0": digest(data[:1 << 20]), "e0:read rest": digest(data[1 << 20:])})
        # only the object's own GETs: not its part checksum file's
        srv.set_faults(flip_rate=1.0, fault_limit=1, ops=["GetObject"], key_pattern="ckpt/raw.bin")
        try:
            with ck.reader(f"oss://{BUCKET}/ckpt/raw.bin") as f:
                a = f.read(1 << 20)  # a whole chunk, straight into the caller's buffer
                tally.deliver("read chunk 0", digest(a))
                f.seek(0)
                f.read(10)  # a small read goes through the cache: the chunk is fetched again
                f.seek(1 << 20)
                tally.deliver("read rest", digest(f.read()))
        except Exception as e:
            tally.error(e, [n[3:] for n in tally.expected if not tally.seen[n]], clear=isinstance(e, OSError))

    return fn


def restart_case(pause: float, graceful: bool):
    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server(data_dir=os.path.join(ctx.tmp, "data"))
        uri = f"oss://{BUCKET}/ckpt/model.pt"
        v1, v2 = ckpt_state(f"v1-{ctx.rep}", CKPT_MIB * 2), ckpt_state(f"v2-{ctx.rep}", CKPT_MIB * 2)
        ck = checkpoint(ctx, srv, ctx.config(checkpointConfig={"uploadConcurrency": 2}))
        ck.save(v1, uri)
        tally.expected["e0:save"] = "exact"
        srv.reset_stats()
        srv.set_faults(bandwidth_total=2 << 20)  # slow enough to be mid-upload when it dies
        outcome: Dict[str, Any] = {}

        def save() -> None:
            try:
                save_with_writer(ck, v2, uri)
                outcome["ok"] = True
            except BaseException as e:  # expected: the server went away
                outcome["exc"] = e

        t = threading.Thread(target=save, daemon=True)
        t.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and t.is_alive():
            if srv.stats()["requests"].get("UploadPart", {}).get("200", 0) >= 1:
                break
            time.sleep(0.05)
        parts = srv.stats()["requests"].get("UploadPart", {}).get("200", 0)
        if graceful:
            srv.restart()  # SIGTERM, wait, start on the same port
        else:
            srv.kill()
            time.sleep(pause)
            srv.restart()
        t.join()  # the parent's bound catches a hang here
        tally.note(f"killed after {parts} parts")
        if "exc" in outcome:
            tally.error(outcome["exc"], ["save"], clear=isinstance(outcome["exc"], OSError))
            tally.note(f"save raised {type(outcome['exc']).__name__}")
        seen = visible_check(ctx, srv, tally, uri, {"v1": v1, "v2": v2}, "restart")
        tally.note(f"afterwards: {seen or 'nothing'} visible")
        if outcome.get("ok"):
            if seen == "v2":
                tally.deliver("save", "exact")
            else:
                tally.violate(f"save returned but {seen or 'nothing'} is visible")
        elif seen not in ("v1", "v2"):
            tally.violate(f"save raised and {seen or 'nothing'} is visible (want v1)")
    return fn


def _closed_endpoint() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return f"http://127.0.0.1:{port}"


def _expect_raise(tally: Tally, name: str, fn: Callable[[], Any], check: Callable[[BaseException], bool]) -> None:
    tally.expected[f"e0:{name}"] = "must-raise"
    t0 = time.monotonic()
    try:
        got = fn()
        probe(got)
    except Exception as e:
        tally.error(e, [name], clear=check(e))
        tally.note(f"{type(e).__name__} after {time.monotonic() - t0:.1f} s")
        return
    tally.violate(f"{name}: no error")


def _dl_first(ds) -> Any:
    return next(iter(loader(ds, 2, 8)))


def down_case(surface: str):
    def check(e: BaseException) -> bool:
        return isinstance(e, (ConnectionError, OSError)) and "connection refused" in str(e)

    def fn(ctx: Ctx, tally: Tally) -> None:
        ep = _closed_endpoint()
        cred = os.path.join(ctx.tmp, "cred.json")
        with open(cred, "w") as f:
            json.dump({"AccessKeyId": "LTAIfaultsuite", "AccessKeySecret": SECRET, "SecurityToken": TOKEN}, f)
        kw = dict(endpoint=ep, cred_path=cred, region="cn-hangzhou", config_path=ctx.config())
        _expect_raise(tally, surface, _first_call(surface, kw, "x.pt"), check)
    return fn


def _first_call(surface: str, kw: dict, save_key: str) -> Callable[[], Any]:
    """The first call a user makes on surface, with the client arguments kw:
    where a failure that no retry can mend (no server, wrong keys) must
    surface. "ckpt save" writes ckpt/<save_key>; "ckpt load" reads ckpt/x.pt."""
    from osstorchconnector import OssCheckpoint, OssIterableDataset, OssMapDataset
    if surface.startswith("map from_prefix"):
        return lambda: OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", **kw)
    return {
        "iter DL(w2)": lambda: _dl_first(OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/",
                                                                        transform=digest_transform, **kw)),
        "ckpt save": lambda: OssCheckpoint(**kw).save({"x": 1}, f"oss://{BUCKET}/ckpt/{save_key}"),
        "ckpt load": lambda: OssCheckpoint(**kw).load(f"oss://{BUCKET}/ckpt/x.pt"),
        "tar map from_tar": lambda: OssMapDataset.from_tar(f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/shard.idx",
                                                          **kw),
    }[surface]


def wrong_secret_case(surface: str):
    def fn(ctx: Ctx, tally: Tally) -> None:
        srv = ctx.server()
        names = dataset_names(8)
        put_dataset(srv, names)
        ck = checkpoint(ctx, srv)
        ck.save({"x": 1}, f"oss://{BUCKET}/ckpt/x.pt")
        cfg = ctx.config()
        build_tar(ctx, srv, names, cfg)
        bad = os.path.join(ctx.tmp, "wrong.json")
        with open(bad, "w") as f:
            json.dump({"AccessKeyId": srv.access_key_id, "AccessKeySecret": WRONG_SECRET, "SecurityToken": TOKEN}, f)
        region = "" if "V1" in surface else srv.region
        kw = dict(endpoint=srv.endpoint, cred_path=bad, region=region, config_path=cfg)

        def check(e: BaseException) -> bool:
            s = str(e)
            if isinstance(e, PermissionError) and getattr(e, "code", None):  # raised here: the details are attributes
                return e.code == "SignatureDoesNotMatch" and e.status == 403 and bool(e.request_id)
            return "SignatureDoesNotMatch" in s and "request id" in s  # re-raised by DataLoader: the message says it

        _expect_raise(tally, surface, _first_call(surface, kw, "y.pt"), check)
        if surface == "ckpt save" and visible_check(ctx, srv, tally, f"oss://{BUCKET}/ckpt/y.pt", {}, "wrong secret"):
            tally.violate("an object was written with a wrong secret")
    return fn


def missing_case(surface: str):
    def fn(ctx: Ctx, tally: Tally) -> None:
        from osstorchconnector import OssCheckpoint, OssIterableDataset, OssMapDataset
        srv = ctx.server()
        present = dataset_names(16)
        put_dataset(srv, present)
        missing = [f"ds/missing-{i}.bin" for i in range(4)]
        mixed = present[:4] + missing[:2] + present[4:12] + missing[2:] + present[12:]
        uris = [f"oss://{BUCKET}/{n}" for n in mixed]
        kw = ctx.kw(srv)
        nf = lambda e: isinstance(e, FileNotFoundError) and "NoSuch" in str(e)  # noqa: E731
        if surface == "map DL(w2,b=None)":
            tally.expect(present)
            for n in missing:
                tally.expected[f"e0:{n}"] = "missing"
            ds = OssMapDataset.from_objects(uris, transform=digest_transform, **kw)
            probe(ds)
            run_map_loader(tally, loader(ds, 2, None), mixed, None)
        elif surface == "map in-process __getitems__":
            tally.expect(present)
            for n in missing:
                tally.expected[f"e0:{n}"] = "missing"
            ds = OssMapDataset.from_objects(uris, transform=digest_transform, **kw)
            probe(ds, ds._get_client())
            for n, item in zip(mixed, ds.__getitems__(list(range(len(mixed))))):
                if item is None:
                    tally.error(f"transform got None for {n} (missing object)", [n])
                else:
                    tally.deliver(*item)
            err = ds._get_client().get_object(BUCKET, missing[0])  # the DataObject behind the None
            probe(err, err.error_msg(), err.exception())
            if not (err.err() == 2 and "NoSuchKey" in err.error_msg()):
                tally.violate(f"the missing object's DataObject says err={err.err()} {err.error_msg()!r}")
        elif surface == "iter DL(w2)":
            tally.expect(present)
            ds = OssIterableDataset.from_objects(uris, transform=digest_transform, **kw)
            probe(ds)
            nones = run_iter_loader(tally, loader(ds, 2, 4))
            if nones:  # missing objects are skipped (named in the log and counted), never handed over as None
                tally.violate(f"the transform got None {nones} times")
            if ds.skipped != len(missing):
                tally.violate(f"dataset.skipped counts {ds.skipped} of {len(missing)} missing objects")
        elif surface == "ckpt load":
            _expect_raise(tally, surface, lambda: OssCheckpoint(**kw).load(f"oss://{BUCKET}/ckpt/none.pt"), nf)
        elif surface == "tar index missing":
            cfg = kw["config_path"]
            build_tar(ctx, srv, present, cfg)
            _expect_raise(tally, surface, lambda: OssMapDataset.from_tar(
                f"oss://{BUCKET}/shard.tar", f"oss://{BUCKET}/no-such.idx", **kw), nf)
        elif surface == "tar archive missing":
            cfg = kw["config_path"]
            build_tar(ctx, srv, present, cfg)
            from osstorchconnector import _native
            nc = _native.NativeClient({"endpoint": srv.endpoint, "cred_path": srv.cred_path, "region": srv.region,
                                       "config_path": cfg})
            srv.put_object(BUCKET, "copy.idx", nc.get(BUCKET, "shard.idx"))  # an index whose tar is not there
            _expect_raise(tally, surface, lambda: OssMapDataset.from_tar(
                f"oss://{BUCKET}/gone.tar", f"oss://{BUCKET}/copy.idx", **kw),
                lambda e: isinstance(e, (FileNotFoundError, ValueError)) and "gone.tar" in str(e))
    return fn


def kill_case(surface: str):
    def fn(ctx: Ctx, tally: Tally) -> None:
        from osstorchconnector import OssIterableDataset, OssMapDataset
        srv = ctx.server()
        names = dataset_names()
        put_dataset(srv, names)
        kw = ctx.kw(srv)
        if surface.startswith("map"):
            ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **kw)
            dl = loader(ds, 2, 4)
        else:
            ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **kw)
            dl = loader(ds, 2, 4)
        probe(ds)
        killed = re.compile(r"DataLoader worker .*(killed by signal|exited unexpectedly)")
        for epoch in range(2):
            tally.epoch = epoch
            tally.expect(names)
            it = iter(dl)
            try:
                for k, batch in enumerate(it):
                    for item in batch:
                        tally.deliver(*item)
                    if epoch == 0 and k == 0:
                        victim = it._workers[0].pid
                        os.kill(victim, signal.SIGKILL)
                        tally.note(f"worker pid {victim} killed after the first batch")
                if epoch == 0:
                    tally.violate("the epoch ended without an error although a worker was killed")
            except RuntimeError as e:  # torch's SIGCHLD handler or its liveness check
                if epoch == 0:
                    tally.error(e, rest=True, clear=bool(killed.search(str(e))))
                else:
                    tally.error(e, rest=True, clear=False)
            finally:
                del it
        from osstorchconnector import _worker_share
        left = [f for f in os.listdir(_worker_share.share_dir()) if f.startswith(f"osstorch-{ds._uuid}")]
        if left:  # a killed worker never marks itself done; stale files are swept after a day
            tally.note(f"{len(left)} worker-share files left in {_worker_share.share_dir()}")
    return fn


def creds_map_dl(ctx: Ctx, tally: Tally) -> None:
    """Map dataset, 2 workers. Credentials expire after the first few
    batches; once every request the loader had dispatched has been served
    (so none is in flight with the old keys), the server rotates its keys and
    the file is rewritten; the rest of the epoch must use the new ones."""
    from osstorchconnector import OssMapDataset
    srv = ctx.server()
    exp = time.time() + 3
    srv.write_credentials_file(expiration=_rfc3339(exp))
    names = dataset_names()
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    srv.reset_stats()
    batch, workers, prefetch = 4, 2, 2
    nb = -(-len(names) // batch)
    half = 2  # after 2 batches: 2 + workers * prefetch dispatched, the other half still to come

    def rotate_at(k: int) -> None:
        if k != half:
            return
        dispatched = min(nb, k + workers * prefetch)  # batches handed to workers so far
        want = min(len(names), dispatched * batch)
        _wait(lambda: srv.stats()["requests"].get("GetObject", {}).get("200", 0) >= want and srv.stats()["concurrent"] == 0,
              "the workers to go idle")
        time.sleep(max(0.0, exp - time.time()) + 0.2)  # the credentials have now expired
        _rotate(srv)
        tally.note(f"rotated after batch {k} of {nb}")

    run_map_loader(tally, loader(ds, workers, batch), names, batch, after_batch=rotate_at)
    _check_new_keys_used(srv, tally)


def creds_iter_dl(ctx: Ctx, tally: Tally) -> None:
    """Iterable dataset, 2 persistent workers, 2 epochs: the credentials
    expire and are rotated in the middle of epoch 0 (after the workers have
    fetched their shares); epoch 1 (listing included) must use the new keys
    from the same worker processes."""
    from osstorchconnector import OssIterableDataset
    srv = ctx.server()
    exp = time.time() + 3
    srv.write_credentials_file(expiration=_rfc3339(exp))
    names = dataset_names()
    put_dataset(srv, names)
    ds = OssIterableDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    probe(ds)
    dl = loader(ds, 2, 8, persistent_workers=True)
    half = len(names) // 16

    def rotate_at(k: int) -> None:
        if tally.epoch == 0 and k == half:
            _wait(lambda: srv.stats()["requests"].get("GetObject", {}).get("200", 0) >= len(names)
                  and srv.stats()["concurrent"] == 0, "the workers to fetch their shares")
            time.sleep(max(0.0, exp - time.time()) + 0.2)
            _rotate(srv)
            tally.note(f"rotated after batch {k} of epoch 0")

    for epoch in range(2):
        tally.epoch = epoch
        tally.expect(names)
        run_iter_loader(tally, dl, after_batch=rotate_at)
    _check_new_keys_used(srv, tally)


def creds_ckpt(ctx: Ctx, tally: Tally) -> None:
    srv = ctx.server()
    exp = time.time() + 2
    srv.write_credentials_file(expiration=_rfc3339(exp))
    ck = checkpoint(ctx, srv)
    v1, v2 = ckpt_state("c1"), ckpt_state("c2")
    uri = f"oss://{BUCKET}/ckpt/model.pt"
    tally.expected.update({"e0:save v1": "exact", "e0:load v1": "exact", "e0:save v2": "exact", "e0:load v2": "exact"})
    ck.save(v1, uri)
    tally.deliver("save v1", "exact")
    time.sleep(max(0.0, exp - time.time()) + 0.2)
    _rotate(srv)
    for name, fn in (("load v1", lambda: ckpt_same(ck.load(uri), v1)),
                     ("save v2", lambda: save_with_writer(ck, v2, uri) or True),
                     ("load v2", lambda: ckpt_same(ck.load(uri), v2))):
        try:
            tally.deliver(name, "exact" if fn() else "mismatch")
        except Exception as e:
            tally.error(e, [name])
    _check_new_keys_used(srv, tally)


def creds_late(ctx: Ctx, tally: Tally) -> None:
    """The file is NOT rewritten before the server rotates: requests fail,
    one clear error per sample; once it is rewritten, the rest succeed."""
    from osstorchconnector import OssMapDataset
    srv = ctx.server()
    exp = time.time() + 1
    srv.write_credentials_file(expiration=_rfc3339(exp))
    names = dataset_names(24)
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    time.sleep(max(0.0, exp - time.time()) + 0.2)
    for i, n in enumerate(names):
        if i == 8:
            srv.set_credentials("LTAIrotated" + _TAG[:4], ROTATED_SECRET, ROTATED_TOKEN, write_file=False)
        if i == 12:
            srv.write_credentials_file(expiration=_rfc3339(time.time() + 3600))
        try:
            tally.deliver(*ds[i])
        except Exception as e:
            tally.error(e, [n], clear="InvalidAccessKeyId" in str(e) or "SignatureDoesNotMatch" in str(e))
    errs = len(tally.errored)
    if errs != 4:
        tally.violate(f"{errs} errors, want 4 (the samples read while only the server had the new keys)")


def skew_jump(ctx: Ctx, tally: Tally) -> None:
    """One client: the server clock is 20 min ahead (the client corrects),
    then the clocks agree again (NTP fixed the skew): the client must follow."""
    from osstorchconnector import OssMapDataset
    srv = ctx.server()
    names = dataset_names(10)
    put_dataset(srv, names)
    tally.expect(names)
    ds = OssMapDataset.from_prefix(f"oss://{BUCKET}/ds/", transform=digest_transform, **ctx.kw(srv))
    for i, n in enumerate(names):
        if i == 0:
            srv.set_faults(clock_offset_ms=20 * 60_000)
        if i == 8:
            srv.set_faults(clock_offset_ms=0)
        try:
            tally.deliver(*ds[i])
        except Exception as e:
            tally.error(e, [n], clear="RequestTimeTooSkewed" in str(e))


def _rfc3339(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rotate(srv) -> None:
    srv.set_credentials("LTAIrotated" + _TAG[:4], ROTATED_SECRET, ROTATED_TOKEN, write_file=False)
    srv.write_credentials_file(expiration=_rfc3339(time.time() + 3600))
    srv.reset_stats()


def _check_new_keys_used(srv, tally: Tally) -> None:
    st = srv.stats()["requests"]
    ok = sum(v.get("200", 0) + v.get("206", 0) for v in st.values())
    refused = sum(v.get("403", 0) for v in st.values())
    if not ok:
        tally.violate("no request was made with the rotated credentials")
    if refused:
        tally.violate(f"{refused} requests refused after the rotation")


def _wait(cond: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.05)


# ---- the runner (forked) and the parent ----

def _runner_main(cases: List[Case], conn, art: str, n: int) -> None:
    """Run the cases the parent hands out, one at a time, until it sends None."""
    os.setsid()  # own process group: the parent can kill the runner with its servers and workers
    # torch's OpenMP pool is not fork-safe: when the parent process ran a
    # parallel op (earlier tests in the same pytest run do), the first parallel
    # op in the forked runner (torch.equal on a checkpoint) waits forever for
    # threads that were not forked. One intra-op thread, as DataLoader workers do.
    import torch
    torch.set_num_threads(1)
    out = os.open(os.path.join(art, f"runner-{n}.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, force=True,
                        format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    faulthandler.enable(file=sys.stderr)
    while True:
        conn.send(("ready",))
        i = conn.recv()
        if i is None:
            break
        case = cases[i]
        for rep in range(case.reps):
            conn.send(("start", i, rep))
            print(f"==== case {case.id} rep {rep}", flush=True)
            # if the parent has to kill us for a hang, the stacks of every thread are in the log
            faulthandler.dump_traceback_later(max(5, case.bound_s - 5), exit=False, file=sys.stderr)
            tally, ctx = Tally(), Ctx(art, case, rep)
            t0 = time.monotonic()
            try:
                case.fn(ctx, tally)
            except Exception as e:  # the harness itself failed: a violation, with the traceback
                tally.violate(f"harness: {type(e).__name__}: {e}")
                TEXTS.append(traceback.format_exc())
                traceback.print_exc()
            finally:
                faulthandler.cancel_dump_traceback_later()
                ctx.close()
            res = tally.summary()
            res["seconds"] = time.monotonic() - t0
            texts = list(TEXTS)
            TEXTS.clear()
            conn.send(("end", i, rep, res, texts))
    conn.close()


@dataclasses.dataclass
class Result:
    case: Case
    runs: List[Dict[str, Any]] = dataclasses.field(default_factory=list)
    hangs: int = 0
    crashes: int = 0
    crash_detail: str = ""


PARALLEL = int(os.environ.get("OSSTORCH_FAULTS_PARALLEL", "2"))  # runners at once: cases mostly wait (backoff, stalls)


class _Slot:
    """One runner process and what it is doing."""

    def __init__(self, proc, conn) -> None:
        self.proc, self.conn = proc, conn
        self.assigned: Optional[int] = None  # the case handed to it
        self.current: Optional[tuple] = None  # (case, rep) running now
        self.deadline = time.monotonic() + 300  # until it asks for work (forking, first imports)


def _log(msg: str) -> None:
    print(msg, flush=True)  # progress as it happens, also when stdout is a file


def run_matrix(cases: List[Case], art: str, log: Callable[[str], None] = _log) -> List[Result]:
    """Run every case (its reps) in PARALLEL runner processes that take the
    next case when they are free; returns per-case results."""
    for d in ("logs", "ossemu", "work"):
        os.makedirs(os.path.join(art, d), exist_ok=True)
    results = [Result(c) for c in cases]
    texts_path = os.path.join(art, "texts.jsonl")
    mp = multiprocessing.get_context("fork")
    from multiprocessing.connection import wait as mp_wait
    queue = sorted(range(len(cases)), key=lambda i: -cases[i].bound_s * cases[i].reps)  # the slow ones first
    started = [0]

    def start() -> _Slot:
        parent, child = mp.Pipe()
        proc = mp.Process(target=_runner_main, args=(cases, child, art, started[0]), daemon=False)
        started[0] += 1
        proc.start()
        child.close()
        return _Slot(proc, parent)

    def blame(s: _Slot, what: str, detail: str) -> None:
        """The runner died or hung: charge the case it had."""
        i = s.current[0] if s.current else s.assigned
        if i is None:
            return
        res = results[i]
        if what == "hang":
            res.hangs += 1
            res.runs.append({"hang": True, "seconds": cases[i].bound_s})
        else:
            res.crashes += 1
            res.crash_detail = detail
            res.runs.append({"crash": True, "seconds": 0})
        log(f"{what.upper()}: {cases[i].id} {detail}")

    slots = [start() for _ in range(min(PARALLEL, len(queue)))]
    while slots:
        ready = mp_wait([s.conn for s in slots], timeout=max(0.0, min(s.deadline for s in slots) - time.monotonic()))
        now = time.monotonic()
        for s in list(slots):
            ended = False
            if s.conn in ready:
                try:
                    msg = s.conn.recv()
                except EOFError:  # the runner died (by a signal: a crash of the stack)
                    s.proc.join(10)
                    code = s.proc.exitcode
                    blame(s, "crash", f"runner exit code {code}" + (f" (signal {-code})" if code and code < 0 else ""))
                    ended = True
                else:
                    if msg[0] == "ready":
                        s.assigned = queue.pop(0) if queue else None
                        s.conn.send(s.assigned)
                        s.deadline = now + 300
                        ended = s.assigned is None
                    elif msg[0] == "start":
                        s.current = (msg[1], msg[2])
                        s.deadline = now + cases[msg[1]].bound_s
                    elif msg[0] == "end":
                        _, i, rep, res, texts = msg
                        results[i].runs.append(res)
                        with open(texts_path, "a") as f:
                            for t in texts:
                                f.write(json.dumps({"case": cases[i].id, "text": t}) + "\n")
                        s.current = None
                        s.deadline = now + 120
                        log(f"{cases[i].id} [{rep}]: {_brief(res)}")
            elif now >= s.deadline:  # a hang: kill the runner's group (its servers and DataLoader workers too)
                _kill_group(s.proc)
                blame(s, "hang", f"(no progress within {cases[s.current[0]].bound_s if s.current else 300:.0f} s)")
                ended = True
            if ended:
                s.proc.join(30)
                if s.proc.is_alive():
                    _kill_group(s.proc)
                slots.remove(s)
                if queue:  # a fresh runner for the rest
                    slots.append(start())
    return results


def _kill_group(proc) -> None:
    """Kill the runner with its servers and DataLoader workers. SIGABRT first:
    every Python process of the group (faulthandler is enabled in the runner
    and inherited by forked workers) writes all its threads' stacks to the
    runner log, so a hang can be diagnosed afterwards."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGABRT)
    proc.join(3)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.join(30)


def _brief(res: Dict[str, Any]) -> str:
    return (f"{res['delivered']}/{res['samples']} delivered, {res['errors']} errors, {res['corrupt']} corrupt, "
            f"{res['partial']} partial, {res['lost']} lost, {res['dup']} dup, {res['seconds']:.1f} s"
            + (f"; VIOLATIONS {res['violations']}" if res["violations"] else "")
            + (f"; unclear {res['unclear']}" if res["unclear"] else ""))


# ---- verdicts and the table ----

def verdict(res: Result) -> List[str]:
    """What is wrong with a case (empty: it meets the issue's expectations)."""
    out: List[str] = []
    c = res.case
    if res.hangs:
        out.append(f"hang (no end within {c.bound_s:.0f} s)")
    if res.crashes:
        out.append(f"crash: {res.crash_detail}")
    if len(res.runs) < c.reps and not (res.hangs or res.crashes):
        out.append(f"ran {len(res.runs)} of {c.reps} times")
    for r in res.runs:
        if r.get("hang") or r.get("crash"):
            continue
        out += r["violations"]
        if r["corrupt"]:
            out.append(f"{r['corrupt']} corrupt samples accepted")
        if r["partial"]:
            out.append(f"{r['partial']} partial objects visible")
        if r["dup"]:
            out.append(f"{r['dup']} samples delivered twice")
        if r["unclear"]:
            out.append(f"unclear errors: {r['unclear']}")
        if r["worker_signals"] and c.fault != F_KILL:
            out.append("a DataLoader worker crashed")
        if c.expect == "all" and (r["delivered"] != r["samples"] or r["errors"]):
            out.append(f"want all {r['samples']} delivered without error, got {r['delivered']} and "
                       f"{r['errors']} errors ({r['first_error']})")
        if c.expect in ("each", "all") and r["lost"]:
            out.append(f"{r['lost']} samples neither delivered nor reported, e.g. {r['lost_names']}")
        if c.expect == "raise" and (r["errors"] < 1 or r["delivered"]):
            out.append("want a clear error")
    return list(dict.fromkeys(out))


def _sum(res: Result, key: str) -> int:
    return sum(r.get(key, 0) for r in res.runs if not (r.get("hang") or r.get("crash")))


EXPECT_WORDS = {"all": "all delivered", "each": "delivered or per-sample error", "raise": "clear error"}


def table(results: List[Result]) -> str:
    """The markdown table: one row per case, then one per fault, then the known bugs."""
    mode = "full" if FULL else "CI-bounded"
    shown = [r for r in results if r.case.fault in FAULTS]
    known = list(dict.fromkeys(r.case.known for r in shown if r.case.known and verdict(r)))
    tag = {k: f"K{i + 1}" for i, k in enumerate(known)}
    lines = [f"### Fault matrix ({mode}: {N_OBJECTS} objects of 2 KiB-{MAX_SIZE >> 10} KiB, "
             f"{CKPT_MIB} MiB checkpoints, {REPS} run(s) per case)", "",
             "| fault | surface | expected | runs | samples | delivered | errors surfaced | corrupt accepted "
             "| partial visible | lost / dup | hangs | crashes | s | result | notes |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for res in shown:
        v = verdict(res)
        runs = [r for r in res.runs if not (r.get("hang") or r.get("crash"))]
        notes = sorted({n for r in runs for n in r["notes"]})
        if runs and runs[0]["first_error"]:
            notes.append(runs[0]["first_error"])
        if res.case.known and v:
            result = f"KNOWN {tag[res.case.known]}"
        else:
            result = "FAIL" if v else "ok"
        if v:
            notes = v[:2] + notes
        lines.append("| " + " | ".join([
            res.case.fault, res.case.surface, EXPECT_WORDS[res.case.expect], str(len(res.runs)),
            str(_sum(res, "samples")), str(_sum(res, "delivered")), str(_sum(res, "errors")), str(_sum(res, "corrupt")),
            str(_sum(res, "partial")), f"{_sum(res, 'lost')} / {_sum(res, 'dup')}", str(res.hangs), str(res.crashes),
            f"{sum(r.get('seconds', 0) for r in res.runs):.1f}", result, _md("; ".join(notes))[:240]]) + " |")
    lines += ["", "| fault | cases | samples | delivered | errors surfaced | corrupt accepted | partial visible | hangs "
              "| crashes | result |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for fault in FAULTS:
        rs = [r for r in shown if r.case.fault == fault]
        if not rs:
            continue
        bad = [r for r in rs if verdict(r)]
        if not bad:
            result = "ok"
        elif all(r.case.known for r in bad):
            result = "known " + ", ".join(sorted({tag[r.case.known] for r in bad}))
        else:
            result = "FAIL"
        lines.append("| " + " | ".join([
            fault, str(sum(len(r.runs) for r in rs)), *(str(sum(_sum(r, k) for r in rs)) for k in
                                                        ("samples", "delivered", "errors", "corrupt", "partial")),
            str(sum(r.hangs for r in rs)), str(sum(r.crashes for r in rs)), result]) + " |")
    if known:
        lines += ["", "Known bugs and limits (the test xfails on exactly these; anything else fails it):"]
        lines += [f"- **{tag[k]}**: {k}" for k in known]
    return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


# ---- the secret scan ----

def secret_forms(secret: str) -> List[str]:
    """The secret as it could appear in output: raw, URL-encoded, JSON-escaped."""
    forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret),
             json.dumps(secret)[1:-1], secret.replace("/", "\\/")}
    return sorted(f for f in forms if f)


def scan_text(text: str, secrets_: Dict[str, str] = None) -> List[str]:
    found = []
    for label, secret in (secrets_ or SECRETS).items():
        for form in secret_forms(secret):
            i = text.find(form)
            if i >= 0:
                found.append(f"{label} ({form!r}) at ...{text[max(0, i - 60):i + len(form) + 20]!r}")
    return found


def scan_for_secrets(art: str, secrets_: Dict[str, str] = None) -> Dict[str, List[str]]:
    """Every file under the artifacts directory (logs, audit lines, runner
    stdout/stderr, servers' logs, the collected exception texts and reprs),
    except the credentials/config files the cases wrote on purpose."""
    hits: Dict[str, List[str]] = {}
    for root, _, files in os.walk(art):
        if _under_work(art, root):  # credentials files written by the cases themselves
            continue
        for fn in files:
            p = os.path.join(root, fn)
            with open(p, "rb") as f:
                text = f.read().decode("utf-8", errors="replace")
            found = scan_text(text, secrets_)
            if found:
                hits[os.path.relpath(p, art)] = found[:5]
    return hits


def _under_work(art: str, root: str) -> bool:
    rel = os.path.relpath(root, art)
    return rel == "work" or rel.startswith("work" + os.path.sep)


def scanned_volume(art: str) -> Dict[str, int]:
    """How much was scanned (so the scan is known not to be vacuous)."""
    out: Dict[str, int] = Counter()
    for root, _, files in os.walk(art):
        if _under_work(art, root):
            continue
        for fn in files:
            p = os.path.join(root, fn)
            kind = ("connector log" if fn == "connector.log" else "audit log" if fn == "audit.log" else
                    "exception texts and reprs" if fn == "texts.jsonl" else
                    "runner stdout/stderr" if fn.startswith("runner-") else "server logs")
            out[kind] += os.path.getsize(p)
    return dict(out)
