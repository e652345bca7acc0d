"""Cases b and c: exceptions, and missing objects in datasets.

b. For each call, as upstream 1.2.3 behaves here: where it raises, ours
   raises too; `except RuntimeError` catches ours exactly when it catches
   upstream's; ours's class has every class of upstream's MRO; and its
   message does not start with ": ". Where upstream returns (get_object and
   OssCheckpoint.reader of a missing object do: they fail at read()), ours
   returns.
c. from_objects([a, missing, b]): iterable datasets yield a and b (the
   missing one is dropped: not passed to the transform, not raised), with
   the default transform and with `lambda o: o.read()`; a map dataset's
   ds[i] on the missing one raises RuntimeError, while __getitems__ hands
   the transform None for it."""

from __future__ import annotations

import pytest
from _compare import digest, expect, outcome_problem, show
from _runner import OBJECTS

ARGS = {"a": "obj/a.bin", "b": "obj/b.bin", "missing": "obj/nope.bin"}

CALLS = [
    "head_object(missing)",
    "get_object(missing)",
    "get_object(missing).read()",
    "OssCheckpoint.reader(missing)",
    "OssCheckpoint.reader(missing).read()",
    "OssMapDataset.from_objects([missing])[0]",
    "OssMapDataset.from_prefix('s3://x')",
    "OssMapDataset.from_prefix('')",
    "OssIterableDataset.from_prefix('s3://x') iterated",
    "OssMapDataset.from_objects(['s3://x/y'])",
    "OssIterableDataset.from_objects(['s3://x/y']) iterated",
    "OssMapDataset.from_tar('s3://x/t.tar', ...)",
    "OssCheckpoint('')",
    "OssCheckpoint.reader('s3://x/y')",
    "OssCheckpoint.writer('s3://x/y')",
    "OssClient('')",
    "generate_tar_archive('', ...)",
    "generate_tar_archive(no credentials)",
    "new_data_object('s3://x/y', 0, '')",
]
# upstream 1.2.3 here: True = raises, False = returns (checked, so that a
# change in the harness that stops exercising the error shows)
UPSTREAM_RAISES = {c: c not in ("get_object(missing)", "OssCheckpoint.reader(missing)", "OssClient('')") for c in CALLS}
TORCH_LOAD = "torch.load(OssCheckpoint.reader(missing))"


@pytest.fixture(scope="module")
def errors(compat):
    return compat.both("errors.py", ARGS)


@pytest.fixture(scope="module")
def torch_load(compat):
    return compat.both("ckpt_load.py", ARGS)


@pytest.fixture(scope="module")
def missing(compat):
    return compat.both("missing.py", ARGS)


def test_errors_snippet_reports_every_call(errors):
    ours, up = errors
    expect(set(up) == set(CALLS), f"upstream reported {sorted(up)}, the test knows {CALLS}")


@pytest.mark.parametrize("call", CALLS)
def test_exception(errors, call):
    ours, up = errors
    u, o = up.get_or_fail(call), ours.get_or_fail(call)
    expect(("raises" in u) == UPSTREAM_RAISES[call], f"upstream no longer behaves as the test expects: {show(u)}")
    problem = outcome_problem(o, u)
    expect(problem is None, f"{call}: {problem}")


def test_torch_load_of_missing_checkpoint(torch_load):
    """torch.load(reader(missing)) in a process of its own: upstream raises
    RuntimeError here (it has died of SIGSEGV elsewhere: a crash counts as
    raising); ours must raise something `except RuntimeError` catches."""
    ours, up = torch_load
    expect(up.get("started"), f"upstream's snippet did not get going: {up.stderr[-2000:]}")
    u = up.get(TORCH_LOAD)
    if u is None:
        expect(up.crashed, f"upstream reported nothing and exited normally: {up.stderr[-2000:]}")
        u = {"raises": f"crash (exit status {up.rc})", "mro": [], "runtime_error": True, "msg": "crash"}
    o = ours.get_or_fail(TORCH_LOAD)
    expect("raises" in u, f"upstream loads a missing checkpoint: {show(u)}")
    problem = outcome_problem(o, u)
    expect(problem is None, f"{TORCH_LOAD}: {problem}")


A_ITEM = [f"/cmp/{ARGS['a']}", len(OBJECTS[ARGS["a"]]), "", digest(OBJECTS[ARGS["a"]])]
B_ITEM = [f"/cmp/{ARGS['b']}", len(OBJECTS[ARGS["b"]]), "", digest(OBJECTS[ARGS["b"]])]


@pytest.mark.parametrize(
    "case, want",
    [
        ("iterable, default transform", sorted([A_ITEM, B_ITEM])),
        ("iterable, transform o.read()", sorted([A_ITEM[3], B_ITEM[3]])),
    ],
)
def test_iterable_skips_missing(missing, case, want):
    """The order of an iterable's items is not fixed (concurrent prefetch):
    compared sorted."""
    ours, up = missing
    u, o = up.get_or_fail(case), ours.get_or_fail(case)
    expect("ok" in u and sorted(u["ok"]) == want, f"upstream no longer behaves as the test expects: {show(u)}")
    expect(
        "ok" in o and sorted(o["ok"], key=repr) == want,
        f"{case}: upstream yields {show(sorted(u['ok']))}; ours {show(o)}",
    )


@pytest.mark.parametrize("i", [0, 1, 2])
def test_map_getitem_missing(missing, i):
    ours, up = missing
    case = f"map ds[{i}]"
    u, o = up.get_or_fail(case), ours.get_or_fail(case)
    want = {0: {"ok": A_ITEM}, 2: {"ok": B_ITEM}}.get(i)
    expect(u == want if want else u.get("runtime_error"), f"upstream no longer behaves as the test expects: {show(u)}")
    problem = outcome_problem(o, u, values=True)
    expect(problem is None, f"{case}: {problem}")


def test_map_getitems_passes_none(missing):
    ours, up = missing
    case = "map __getitems__([0, 1, 2]), transform sees"
    u, o = up.get_or_fail(case), ours.get_or_fail(case)
    want = {"ok": [A_ITEM[0], None, B_ITEM[0]]}
    expect(u == want, f"upstream no longer behaves as the test expects: {show(u)}")
    expect(o == want, f"{case}: upstream {show(u)}; ours {show(o)}")
