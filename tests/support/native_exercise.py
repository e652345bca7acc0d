"""Calls every function of the native layer once; used by
tests/native/test_native_api.py in the parent and in fork/spawn/forkserver
children."""

import os

from osstorchconnector import _native


def exercise(options, bucket, tag):
    c = _native.NativeClient(options)
    out = {}
    c.check()
    out["config"] = c.config()["checkpointConfig"]["uploadConcurrency"]
    base = f"ex/{tag}/"
    c.put(bucket, base + "a", b"alpha")
    c.put(bucket, base + "b", bytearray(b"bravo!"))
    out["list"] = [o["key"][len(base) :] for o in c.list(bucket, base)]
    out["get"] = c.get(bucket, base + "a")
    out["stat"] = c.stat(bucket, base + "b")["size"]
    buf = bytearray(3)
    out["read_range"] = (c.read_range(bucket, base + "b", 1, buf), bytes(buf))
    out["batch"] = [
        r if isinstance(r, bytes) else type(r).__name__
        for r in c.batch_get([{"bucket": bucket, "key": base + "a"}, {"bucket": bucket, "key": base + "zz"}])
    ]
    out["prefetch"] = sorted((key[len(base) :], d) for _, _, key, d in c.prefetch(bucket=bucket, prefix=base))
    payload = bytes(range(256)) * 6000  # 1.5 MB: multipart with 1 MiB parts
    w = c.open_writer(bucket, base + "w", part_size=1 << 20, concurrency=2)
    for i in range(0, len(payload), 65536):
        w.write(memoryview(payload)[i : i + 65536])
    w.close()
    r = c.open_reader(bucket, base + "w")
    got = bytearray(r.size)
    n = r.read_into(0, got)
    r.close()
    out["writer_reader"] = (n, bytes(got) == payload)
    aborted = c.open_writer(bucket, base + "gone")
    aborted.write(b"x" * 10)
    aborted.abort()
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for i in range(3):
            info = tarfile.TarInfo(f"m{i}")
            info.size = i + 1
            tf.addfile(info, io.BytesIO(b"x" * (i + 1)))
    c.put(bucket, base + "t.tar", raw.getvalue())
    index, sums = c.tar_index_build(bucket, base + "t.tar")
    c.put(bucket, base + "t.idx", index)
    c.put(bucket, base + "t.idx.osstorch-crc64", sums)
    tar = c.open_tar(bucket, base + "t.tar", bucket, base + "t.idx")
    out["tar"] = ([m["name"] for m in tar.members], [r for _, r in tar.read([2, 0, 1])])
    c.remove(bucket, base + "t.idx")
    c.remove(bucket, base + "t.idx.osstorch-crc64")
    c.remove(bucket, base + "t.tar")
    c.rename(bucket, base + "a", bucket, base + "c")
    c.remove(bucket, base + "c")
    out["after"] = [o["key"][len(base) :] for o in c.list(bucket, base)]
    out["pid_ok"] = _native.loaded_in_this_process()
    out["source"] = os.path.basename(_native.library_source())
    return out


def child(conn, options, bucket, tag):
    try:
        conn.send(("ok", exercise(options, bucket, tag)))
    except BaseException as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        conn.close()
