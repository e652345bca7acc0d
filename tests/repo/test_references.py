"""Every file the code and the docs cite resolves: a newcomer who follows a
comment's "see docs/..." or "tests/..." finds the file. Design notes the code
relies on live in docs/, so nothing may cite the design folder outside the
repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A path that starts at one of the repository's top-level folders and ends in
# a file name or a folder slash.
CITED = re.compile(r"(?<![\w./-])((?:docs|go|python|scripts|include|tests|bench)/[\w./{},-]*[\w/}])")
# Folders whose files are made by a build, a test or a benchmark: cited, but
# not tracked.
GENERATED = (
    "python/osstorchconnector/_lib",
    "python/osstorchconnector/_bin",
    "bench/results/quick",
    "bench/results/soak",
    "bench/results/tmp",
)
SUFFIXES = (".py", ".go", ".h", ".c", ".md", ".sh", ".toml", ".mk", "")


def _tracked() -> list[str]:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (the references are checked in the source tree)")
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [p for p in out.splitlines() if p]


def _sources(tracked: list[str]) -> list[str]:
    roots = ("docs/", "go/", "python/", "scripts/", "include/", "tests/", ".ci/")
    top = {"README.md", "CONTRIBUTING.md", "Makefile", "pyproject.toml"}
    return [
        p
        for p in tracked
        if (p.startswith(roots) or p in top)
        and p.endswith(SUFFIXES)
        and "/testdata/" not in p
        and not p.startswith("tests/fuzz_corpus/")
    ]


def _cited(text: str) -> set[str]:
    return {m.rstrip("./") if not m.endswith("/") else m for m in CITED.findall(text)}


def test_every_cited_path_resolves():
    tracked = _tracked()
    files = set(tracked)
    dirs = {str(parent) for p in tracked for parent in Path(p).parents}
    missing = []
    for src in _sources(tracked):
        text = (ROOT / src).read_text(errors="replace")
        for ref in _cited(text):
            path = ref.rstrip("/")
            if path in files or path in dirs or path.startswith(GENERATED):
                continue
            if "*" in path or "{" in path:  # a pattern (latest.{json,md}), not a path
                continue
            missing.append(f"{src}: {ref}")
    assert not missing, "cited but not in the repository:\n" + "\n".join(sorted(missing))


def test_nothing_cites_the_design_folder():
    offenders = []
    for src in _sources(_tracked()):
        text = (ROOT / src).read_text(errors="replace")
        if re.search(r"(?<![\w-])design/[\w-]+\.md", text):
            offenders.append(src)
    assert not offenders, "cite docs/ (in the repository), not design/: " + ", ".join(offenders)


def test_finds_a_broken_reference():
    # the checker itself: a path that is not there is reported, one that is, is not
    # (the example path is assembled so that this file does not cite it)
    missing = "docs/" + "no-such-note.md"
    assert _cited(f"see {missing}, and tests/repo/") == {missing, "tests/repo/"}
