"""The README's fsspec example runs as it is printed."""

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## fsspec: oss:// for pandas, pyarrow, datasets"

# Run from a source tree (no entry points), oss:// is not ours by itself.
REGISTER = """\
import fsspec as _fsspec
from osstorchconnector.fsspec import OssFsspecFileSystem as _Ours
try:
    _theirs = _fsspec.get_filesystem_class("oss")
except ImportError:  # fsspec's built-in "oss" is ossfs, which may not be installed
    _theirs = None
if _theirs is not _Ours:
    _fsspec.register_implementation("oss", _Ours, clobber=True)
"""


def test_readme_fsspec_example_runs():
    pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    text = README.read_text()
    assert SECTION in text
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = subprocess.run(
        [sys.executable, "-c", REGISTER + code], capture_output=True, text=True, timeout=120, check=True
    ).stdout.splitlines()
    assert out == ["(1000, 2)", "200 ['data/small', 'data/tables']", "b'{\"i\": 7}'", "1000"], out
