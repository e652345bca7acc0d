"""The error kinds exist once, in osstorchconnector.errors.KINDS (name,
status, exception class); the C header's ost_status enum, go/capi's status
constants and go/connector's Kind names must say the same. Adding or renaming
a kind on any side fails here until every side agrees."""

import re

from osstorchconnector import errors
from support.paths import GO, INCLUDE

HEADER = INCLUDE / "osstorch.h"
CAPI = GO / "capi"
KIND_GO = GO / "connector" / "errors.go"


def snake(camel: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", camel).lower()


def python_table():
    return {name: status for name, status, _ in errors.KINDS}


def header_table():
    """OST_ERR_X = N in the enum that holds OST_OK (the ost_status values);
    every OST_ERR_ name the header mentions elsewhere (its comments) must be
    one of them."""
    src = HEADER.read_text()
    pairs = enum_values(src)
    mentioned = set(re.findall(r"\bOST_ERR_\w+", src))
    assert mentioned <= set(pairs), f"the header mentions unknown statuses: {mentioned - set(pairs)}"
    assert pairs.pop("OST_OK", None) == "0", pairs
    assert all(k.startswith("OST_ERR_") for k in pairs), pairs
    return {k[len("OST_ERR_") :].lower(): int(v) for k, v in pairs.items()}


def enum_values(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    enums = [b for b in re.findall(r"\benum\b[^{;]*\{([^}]*)\}", src) if re.search(r"\bOST_OK\b", b)]
    assert len(enums) == 1, "include/osstorch.h should have one enum with OST_OK"
    return dict(re.findall(r"\b(OST_\w+)\s*=\s*(\d+)", enums[0]))


def go_status_table():
    """`stName C.int32_t = N` in any file of go/capi (tests excluded)."""
    found = {}
    for path in sorted(CAPI.glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        for name, value in re.findall(r"\bst([A-Z]\w*)\s+C\.int32_t\s*=\s*(\d+)", path.read_text()):
            assert name not in found, f"status st{name} defined twice"
            found[name] = int(value)
    assert found.pop("OK", None) == 0, found
    return {snake(k): v for k, v in found.items()}


def go_kinds():
    """(Kind constants in declaration order, Kind.String's name of each, its default name)."""
    src = KIND_GO.read_text()
    block = re.search(r"const\s*\(\s*(Kind\w+\s+Kind\s*=\s*iota[^\n]*\n.*?)\)", src, re.S)
    assert block, "no Kind const block in go/connector/errors.go"
    consts = re.findall(r"^\s*(Kind\w+)", block.group(1), re.M)
    fn = re.search(r"func \(k Kind\) String\(\) string \{(.*?)\n\}", src, re.S)
    assert fn, "no Kind.String in go/connector/errors.go"
    names = dict(re.findall(r"case (Kind\w+):\s*return \"(\w+)\"", fn.group(1)))
    default = re.findall(r"\n\treturn \"(\w+)\"", fn.group(1))
    assert len(default) == 1, "Kind.String should end with one default return"
    return consts, names, default[0]


def test_the_c_header_has_pythons_kinds():
    assert header_table() == python_table()


def test_go_capi_statuses_are_the_headers():
    assert go_status_table() == python_table()


def test_go_kind_names_are_pythons():
    consts, names, default = go_kinds()
    uncovered = [c for c in consts if c not in names]
    # the one Kind without a case is the default's
    assert len(uncovered) == 1 and snake(uncovered[0][len("Kind") :]) == default == "internal", (uncovered, default)
    names[uncovered[0]] = default
    assert {snake(c[len("Kind") :]): names[c] for c in consts} == {k: k for k in python_table()}
    assert sorted(names.values()) == sorted(python_table())


def test_every_kind_has_its_own_exception_class_or_the_base():
    classes = [cls for _, _, cls in errors.KINDS]
    assert all(issubclass(c, errors.OssError) for c in classes)
    others = [c for c in classes if c is not errors.OssError]
    assert len(set(others)) == len(others)
    for name, status, cls in errors.KINDS:
        assert errors.kind_of_status(status) == name
        assert type(errors.error_from_details({"kind": name, "message": "m"})) is cls
    assert errors.kind_of_status(99) == "internal"


def test_the_parsers_see_a_new_kind():
    """A kind added to one side only shows up (a check of the test's parsers)."""
    h = "enum { A = 1 };\nenum {\n  OST_OK = 0,\n  OST_ERR_INTERNAL = 1, /* x = 9 */\n  OST_ERR_QUOTA = 8\n};"
    assert enum_values(h) == {"OST_OK": "0", "OST_ERR_INTERNAL": "1", "OST_ERR_QUOTA": "8"}
    assert snake("NotFound") == "not_found" and snake("Internal") == "internal"
