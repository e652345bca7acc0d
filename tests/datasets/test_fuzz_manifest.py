"""The manifest fuzz harness (scripts/fuzz_manifest.py) in CI: its committed
corpus replayed, then a brief hypothesis run of the same check. The long,
coverage-guided run is `make fuzz` (atheris)."""

import os

import pytest
from hypothesis import HealthCheck, given, settings

from support import scripts
from support.paths import TESTS

CORPUS = os.path.join(TESTS, "fuzz_corpus", "manifest")

fuzz_manifest = scripts.load("fuzz_manifest")
fuzz_manifest.it, fuzz_manifest.native = fuzz_manifest._load(None)


@pytest.mark.parametrize("name", sorted(os.listdir(CORPUS)))
def test_manifest_corpus(name):
    with open(os.path.join(CORPUS, name), "rb") as f:
        fuzz_manifest.check(f.read())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fuzz_manifest.hypothesis_inputs())
def test_manifest_inputs(data):
    fuzz_manifest.check(data)
