"""python -m osstorchconnector.tools.generate_tar_archive: pack an OSS prefix or
a local folder into a tar plus index for OssMapDataset/OssIterableDataset.from_tar.

Flags as upstream's tool: -ep/--endpoint, --cred-path, --config-path,
--tar-path, --index-path, --source-path, --index-only (and --region).
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="generate_tar_archive", description=__doc__.splitlines()[0])
    p.add_argument("-ep", "--endpoint", required=True)
    p.add_argument("--cred-path", default="")
    p.add_argument("--config-path", default="")
    p.add_argument("--region", default="")
    p.add_argument("--tar-path", required=True, help="oss://bucket/x.tar or a local path")
    p.add_argument("--index-path", required=True, help="oss://bucket/x.idx or a local path")
    p.add_argument("--source-path", default="", help="oss://bucket/prefix/ or a local folder")
    p.add_argument("--index-only", action="store_true", help="only index an existing tar")
    a = p.parse_args(argv)
    from .._tar_archive import generate_tar_archive

    try:
        from tqdm import tqdm

        bar = tqdm(unit="file", desc="archive", file=sys.stderr)
    except ImportError:
        bar = None

    written = [0]

    def progress(done: int, nbytes: int) -> None:
        written[0] = done
        if bar is not None:
            bar.update(1)

    start = time.monotonic()
    try:
        generate_tar_archive(
            a.endpoint,
            a.cred_path,
            a.config_path,
            a.tar_path,
            a.index_path,
            a.source_path,
            index_only=a.index_only,
            region=a.region,
            progress=progress,
        )
    except (ValueError, OSError) as e:
        print(f"generate_tar_archive: {e}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    what = "indexed" if a.index_only else f"{written[0]} members"
    print(f"{what}, tar {a.tar_path}, index {a.index_path}, {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
