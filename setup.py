"""Builds the Go core into the package: `pip install .` needs Go on PATH; the
wheel made by `python -m build` carries the compiled library and server, and
installs without Go."""
import os
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    bdist_wheel = None

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithGo(build_py):
    """Compiles libosstorch.so, its fork copy and the ossemu server into the
    package being built (scripts/build_native.py)."""

    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "osstorchconnector")
        subprocess.run([sys.executable, os.path.join(HERE, "scripts", "build_native.py"), dest], check=True)


class SdistWithGo(sdist):
    """The source distribution carries the Go sources, so that a wheel can be
    built from it."""

    def add_defaults(self):
        super().add_defaults()
        self.filelist.extend(["go.mod", "go.sum", "README.md", "scripts/build_native.py"])
        for top in ("go", "include"):
            for root, dirs, files in os.walk(os.path.join(HERE, top)):
                dirs[:] = [d for d in dirs if d != "testdata" or top != "go"]
                for f in files:
                    self.filelist.append(os.path.relpath(os.path.join(root, f), HERE))


cmdclass = {"build_py": BuildPyWithGo, "sdist": SdistWithGo}

if bdist_wheel is not None:
    class PlatformWheel(bdist_wheel):
        """The wheel holds native code but no CPython extension: one wheel per
        platform serves every Python 3 version (py3-none-<platform>)."""

        def get_tag(self):
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    cmdclass["bdist_wheel"] = PlatformWheel



class BinaryDistribution(Distribution):
    """Native code inside: build into the platform tree, not the pure one."""

    def has_ext_modules(self):
        return True


setup(cmdclass=cmdclass, distclass=BinaryDistribution)
