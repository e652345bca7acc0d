"""What every case shares: full or CI-bounded mode, the bucket, the
credentials (scanned for in all output) and the sizes."""

from __future__ import annotations

import os
import secrets

FULL = os.environ.get("OSSTORCH_FAULTS_FULL", "") not in ("", "0")
BUCKET = "fault-bkt"

# ---- the credentials every case uses (scanned for in all output) ----
#
# One random tag per run, in every secret and nowhere else: the scan also
# looks for the tag alone, so a truncated or re-encoded secret is caught too.
# The token has '/', '+' and '=' as real STS tokens do (they change under URL
# encoding, which the scan also tries).
TAG = secrets.token_hex(8)
SECRET = f"FaultSuiteSecret{TAG}Ak9"
TOKEN = f"FaultSuiteToken/{TAG}+Sts=="
ROTATED_SECRET = f"FaultSuiteRotatedSecret{TAG}Bq"
ROTATED_TOKEN = f"FaultSuiteRotatedToken/{TAG}+Rt="
WRONG_SECRET = f"FaultSuiteWrongSecret{TAG}Cz"
# Not a credential: a name the canary case sends through every channel (key
# names reach logs, audit lines, errors and reprs), to prove the scan reads them.
CANARY = f"FaultSuiteCanary{secrets.token_hex(6)}"
SECRETS = {
    "AccessKeySecret": SECRET,
    "SecurityToken": TOKEN,
    "rotated AccessKeySecret": ROTATED_SECRET,
    "rotated SecurityToken": ROTATED_TOKEN,
    "wrong AccessKeySecret": WRONG_SECRET,
    "secret tag": TAG,
}

# ---- sizes: CI-bounded vs full ----

N_OBJECTS = 160 if FULL else 48
MAX_SIZE = 96 << 10 if FULL else 20 << 10
CKPT_MIB = 24 if FULL else 4
REPS = 3 if FULL else 1  # repetitions (different fault seeds) of each case
BOUND_S = 240 if FULL else 90  # per case: only to tell a hang from a slow machine
