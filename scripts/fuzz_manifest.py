#!/usr/bin/env python3
"""Fuzz the manifest path: fuzzed bytes -> a manifest file -> manifest_entries
with imagenet_manifest_parser (which joins each key to the base URI and splits
it with the Go core's parse_uri over ctypes).

Invariant: either entries, each with a non-empty bucket and a key that
parse_uri gives back unchanged from "oss://bucket/key", or a ValueError
(UnicodeDecodeError is one); never another exception, never a crash.

With atheris (the `fuzz` extra) this is a coverage-guided libFuzzer run and
takes libFuzzer's arguments:

    fuzz_manifest.py [-max_total_time=60] [WORK_CORPUS_DIR [SEED_CORPUS_DIR ...]]

Without atheris (or with --hypothesis) it runs hypothesis-generated inputs,
manifest-shaped and raw, for -max_total_time seconds instead (after replaying
the corpus directories), and ends with "Done N runs in S second(s)" as
libFuzzer does, then "FUZZ-SUMMARY execs=N new=0 corpus=N" for
scripts/fuzz.sh.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import time

# The base URIs a manifest's keys are joined to: none (full URIs in the
# manifest), plain prefixes, one without a trailing slash, a virtual-host
# style bucket, and one that is not a URI at all.
BASES = [
    "",
    "oss://bucket/",
    "oss://bucket/prefix",
    "/bucket/",
    "oss://bucket.oss-cn-hangzhou.aliyuncs.com/dir/",
    "bucket/",
    "oss://",
]

_manifest = ""


def _manifest_path() -> str:
    """The file each input is written to (manifest_entries reads a path)."""
    global _manifest
    if not _manifest:
        d = tempfile.mkdtemp(prefix="fuzz-manifest-")
        atexit.register(shutil.rmtree, d, True)
        _manifest = os.path.join(d, "manifest.txt")
    return _manifest


def _load(instrument):
    """Import the package (instrumented for atheris when asked: only our own
    code, not the standard library)."""
    if instrument is not None:
        with instrument(include=["osstorchconnector"]):
            from osstorchconnector import _native
            from osstorchconnector import _sources as it
    else:
        from osstorchconnector import _native
        from osstorchconnector import _sources as it
    return it, _native


it = native = None
_client = None


def _parsing_client():
    """A client of an OSS endpoint that is never contacted: with a local
    manifest, manifest_entries only parses URIs with it."""
    global _client
    if _client is None:
        from osstorchconnector import OssClient

        _client = OssClient("http://127.0.0.1:1", region="cn-hangzhou")
    return _client


def check(data: bytes) -> None:
    """One input: the first byte picks the base URI, the rest is the file."""
    base = BASES[data[0] % len(BASES)] if data else ""
    path = _manifest_path()
    with open(path, "wb") as f:
        f.write(data[1:])
    try:
        entries = it.manifest_entries(_parsing_client(), path, it.imagenet_manifest_parser, base)
    except ValueError:  # includes UnicodeDecodeError: the documented refusals
        return
    for e in entries:
        bucket, key, size, label = e
        if not (isinstance(bucket, str) and bucket and isinstance(key, str) and isinstance(label, str) and size == 0):
            raise AssertionError(f"malformed entry {e!r} from {data!r}")
        if "/" in bucket or "." in bucket:
            raise AssertionError(f"bucket {bucket!r} from {data!r}")
        again = native.parse_uri(f"oss://{bucket}/{key}")
        if again != (bucket, key):
            raise AssertionError(f"parse_uri(oss://{bucket}/{key}) = {again!r} from {data!r}")


def _arg(name: str, default: str) -> str:
    for a in sys.argv[1:]:
        if a.startswith(f"-{name}="):
            return a.split("=", 1)[1]
    return default


def hypothesis_inputs():
    """Inputs for the hypothesis fallback (and tests/datasets/test_fuzz_manifest.py):
    manifest-shaped text, keys and labels of any characters with the
    separators and line ends that matter, and raw bytes."""
    from hypothesis import strategies as st

    line = st.tuples(
        st.text(max_size=40),
        st.sampled_from(["", "\t", "\t\t", " \t", "\t \t"]),
        st.text(max_size=10),
        st.sampled_from(["\n", "\r\n", "\n\n", ""]),
    )
    manifest = st.lists(line, max_size=8).map(lambda ls: "".join(a + s + b + e for a, s, b, e in ls).encode())
    return st.tuples(st.integers(0, 255), st.one_of(manifest, st.binary(max_size=512))).map(
        lambda t: bytes([t[0]]) + t[1]
    )


def run_hypothesis(seconds: float, corpus_dirs) -> int:
    """The fallback: hypothesis inputs until the time is up."""
    from hypothesis import HealthCheck, given, settings

    runs = 0

    # Small batches, so that the time limit is checked often.
    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(hypothesis_inputs())
    def batch(data):
        nonlocal runs
        runs += 1
        check(data)

    for d in corpus_dirs:  # replay the committed corpus first
        for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            with open(os.path.join(d, name), "rb") as f:
                check(f.read())
            runs += 1
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        batch()
    return runs


def main() -> None:
    global it, native
    use_hypothesis = "--hypothesis" in sys.argv
    argv = [a for a in sys.argv if a != "--hypothesis"]
    corpus_dirs = [a for a in argv[1:] if not a.startswith("-")]
    atheris = None
    if not use_hypothesis:
        try:
            import atheris  # noqa: F811
        except ImportError:
            print("fuzz_manifest: atheris is not installed (pip install '.[fuzz]'); using hypothesis", file=sys.stderr)
    start = time.monotonic()
    if atheris is None:
        it, native = _load(None)
        seconds = float(_arg("max_total_time", "60"))
        runs = run_hypothesis(seconds, corpus_dirs)
        took = time.monotonic() - start
        print(f"Done {runs} runs in {int(took)} second(s)")
        print(
            f"FUZZ-SUMMARY execs={runs} new=0 corpus={sum(len(os.listdir(d)) for d in corpus_dirs if os.path.isdir(d))}"
        )
        return
    it, native = _load(atheris.instrument_imports)
    atheris.Setup(argv, lambda data: check(data))
    atheris.Fuzz()  # exits the process when done: fuzz.sh reads libFuzzer's own summary


if __name__ == "__main__":
    main()
