"""Modules of scripts/, imported by name. scripts/ is a folder of programs,
not a package, so it is not put on sys.path: a test that needs one of them
(the upstream sandbox, the signature recorder, the fuzz harness) loads that
one file."""

import importlib.util
import sys
from types import ModuleType

from support.paths import SCRIPTS


def load(name: str) -> ModuleType:
    """scripts/<name>.py as the module `name` (loaded once per process)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # before it runs: dataclasses and pickle look a module up by name
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[name]
        raise
    return mod
