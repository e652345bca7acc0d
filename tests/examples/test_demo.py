"""The README's main command runs end to end (scripts/demo.py)."""

import subprocess
import sys

import pytest

from support.paths import SCRIPTS


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_trains_and_round_trips_the_checkpoint():
    out = subprocess.run([sys.executable, str(SCRIPTS / "demo.py")], capture_output=True, text=True, timeout=580)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "tensors identical: True" in out.stdout
    assert out.stdout.strip().endswith("demo OK")
    assert out.stdout.count("2000 samples") == 2
    assert "each of the 2000 images exactly once: True" in out.stdout
