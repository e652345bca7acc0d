"""The manifest fuzz harness (scripts/fuzz_manifest.py) in CI: its committed
corpus replayed, then a brief hypothesis run of the same check. The long,
coverage-guided run is `make fuzz` (atheris)."""
import importlib.util
import os

import pytest
from hypothesis import HealthCheck, given, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "fuzz_corpus", "manifest")

_spec = importlib.util.spec_from_file_location("fuzz_manifest", os.path.join(ROOT, "scripts", "fuzz_manifest.py"))
fuzz_manifest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fuzz_manifest)
fuzz_manifest.it, fuzz_manifest.native = fuzz_manifest._load(None)


@pytest.mark.parametrize("name", sorted(os.listdir(CORPUS)))
def test_manifest_corpus(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        fuzz_manifest.check(f.read())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_manifest.hypothesis_inputs())
def test_manifest_inputs(data):
    fuzz_manifest.check(data)
