"""The Go core (libosstorch.so) through ctypes: the layer under OssClient,
which is the only part of the package that uses it.

One module per concern:

* ``loader``: loads the library once per process, fork-safely;
* ``abi``: the ctypes signature of every export, as include/osstorch.h has it;
* ``buffers``: memory crossing the boundary (core-allocated results, pinned
  Python buffers);
* ``errors``: a status and its error JSON turned into an OssError;
* ``credentials``: the cred_provider callback;
* ``handles``: reader, writer, prefetcher and tar handles, owned per process;
* ``client``: NativeClient and the calls that need no client.

The fork-safety rule all of them keep: a Go runtime does not survive fork(),
so nothing is loaded at import, every entry point checks the pid that loaded
the library, a forked process loads a fresh copy of its own, and a handle is
only ever used or freed by the process (and library copy) that created it.
docs/fork-safety.md explains why and how.
"""

from .client import NativeClient, build_flavor, parse_uri, runtime_stats, tar_index_from_file, version
from .credentials import register_provider
from .handles import NativePrefetcher, NativeReader, NativeTar, NativeWriter
from .loader import FORK_COPY, PRIMARY, lib, library_source, loaded_in_this_process

__all__ = [
    "NativeClient",
    "NativeReader",
    "NativePrefetcher",
    "NativeWriter",
    "NativeTar",
    "parse_uri",
    "tar_index_from_file",
    "version",
    "build_flavor",
    "runtime_stats",
    "register_provider",
    "lib",
    "library_source",
    "loaded_in_this_process",
    "PRIMARY",
    "FORK_COPY",
]
