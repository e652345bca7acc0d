"""The repository's folders, for tests that read sources, build C programs or
run scripts."""

import pathlib

SUPPORT = pathlib.Path(__file__).resolve().parent
TESTS = SUPPORT.parent
REPO = TESTS.parent
SCRIPTS = REPO / "scripts"
INCLUDE = REPO / "include"
GO = REPO / "go"
