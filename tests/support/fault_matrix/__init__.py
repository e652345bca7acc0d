"""The fault matrix: every fault of issue #8 against the surfaces where it
matters (datasets through DataLoader workers, checkpoints, tar shards), with
per-sample accounting, a hang bound per case and a secret scan of everything
the stack printed. Driven by tests/faults/test_faults.py (the CI-bounded run)
and `make test-faults` (OSSTORCH_FAULTS_FULL=1: more objects, repetitions and
worker configurations).

Where things are:

* cases/: one module per fault (a row group of the table), each with its
  FAULT name and cases(); cases/__init__.py puts them in table order.
* case.py: what a case is (Case), `faulted` (a surface under server faults,
  which most cases are), and what the cases expecting a clear error share.
* surfaces.py: the surfaces (datasets, DataLoaders, checkpoints, tars) a case
  runs under the faults, feeding a Tally (tally.py) in a Ctx (context.py).
* settings.py: CI-bounded or full sizes, the bucket and the credentials;
  data.py: the deterministic objects.
* runner.py: the one runner; report.py: verdicts and the table;
  secret_scan.py: the scan of everything the run wrote.

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

from .case import DATA_SURFACES, Case
from .cases import F_CANARY, FAULTS, build_cases
from .data import dataset_names, digest, payload
from .report import table, verdict
from .runner import Result, run_matrix
from .secret_scan import scan_for_secrets, scanned_volume
from .settings import CANARY, FULL, ROTATED_SECRET, ROTATED_TOKEN, SECRET, TOKEN
from .surfaces import SURFACES
from .tally import Tally

__all__ = [
    "CANARY",
    "DATA_SURFACES",
    "F_CANARY",
    "FAULTS",
    "FULL",
    "ROTATED_SECRET",
    "ROTATED_TOKEN",
    "SECRET",
    "SURFACES",
    "TOKEN",
    "Case",
    "Result",
    "Tally",
    "build_cases",
    "dataset_names",
    "digest",
    "payload",
    "run_matrix",
    "scan_for_secrets",
    "scanned_volume",
    "table",
    "verdict",
]
