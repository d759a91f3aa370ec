"""Hostile and broken input: llmmon refuses it with a diagnostic and never raises.

Every input is built in the test and written to tmp_path; nothing here is a committed file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from llmmon.compiler import load
from llmmon.diagnostics import Diagnostic, Severity
from llmmon.loader import parse_spec
from llmmon.yamlpos import MAX_BYTES, MAX_DEPTH, MAX_NODES


def _alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return ("\n".join(lines) + "\n").encode()


def _refused(tmp_path: Path, raw: bytes, name: str = "hostile.yaml") -> list[Diagnostic]:
    """Write `raw`, load it, and return its errors; the load must neither raise nor produce a plan."""
    path = tmp_path / name
    path.write_bytes(raw)
    try:
        plan, diagnostics = load(path, display=name)
    except Exception as exc:  # the test's point: nothing may escape load()
        pytest.fail(f"load() raised {type(exc).__name__}: {exc}")
    assert plan is None
    errors = [d for d in diagnostics if d.severity is Severity.ERROR]
    assert errors, "a hostile input must be refused with at least one error"
    return errors


HOSTILE = {
    "alias-bomb": _alias_bomb(),
    "deep-flow-list": b"[" * 10_000 + b"]" * 10_000,
    "deep-flow-mapping": b"a: " + b"{a: " * 200 + b"1" + b"}" * 200 + b"\n",
    "two-mebibytes": b"# padding\n" * (2 * 1024 * 1024 // 10 + 1),
    "not-utf8": b"apiVersion: llmmon/v1\nkind: Monit\xff\xfeoringSpec\n",
    "utf16": "apiVersion: llmmon/v1\n".encode("utf-16"),
    "nul-bytes": b"apiVersion: llmmon/v1\n\x00\x00kind: MonitoringSpec\n",
    "elf-binary": b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)),
    "control-characters": b"apiVersion: llmmon/v1\nkind: \x01\x02\n",
    "empty": b"",
    "blank-lines": b"   \n\n    \n",
    "comments-only": b"# nothing here yet\n   # still nothing\n",
    "bom-only": b"\xef\xbb\xbf",
}


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_is_refused_and_never_raises(tmp_path: Path, raw: bytes) -> None:
    _refused(tmp_path, raw)


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_bytes_are_refused_by_parse_spec_too(raw: bytes) -> None:
    spec, _, diagnostics = parse_spec(raw, "hostile.yaml")
    assert spec is None
    assert any(d.severity is Severity.ERROR for d in diagnostics)


def test_an_alias_bomb_is_refused_with_the_node_limit(tmp_path: Path) -> None:
    [error] = _refused(tmp_path, _alias_bomb())
    assert f"more than {MAX_NODES} nodes" in error.message
    assert "refusing to load it" in error.message


def test_a_ten_thousand_deep_list_is_refused_as_too_deep(tmp_path: Path) -> None:
    [error] = _refused(tmp_path, b"[" * 10_000 + b"]" * 10_000)
    assert "nested too deeply" in error.message
    assert str(MAX_DEPTH) in error.message


def test_a_moderately_deep_mapping_is_refused_where_the_limit_is_crossed(tmp_path: Path) -> None:
    raw = b"a: " + b"{a: " * 200 + b"1" + b"}" * 200 + b"\n"
    [error] = _refused(tmp_path, raw)
    assert error.message == f"the document is nested more than {MAX_DEPTH} levels deep"
    assert (error.line, error.col) == (1, 4 * (MAX_DEPTH + 1))  # the `{` one level past the limit


def test_a_two_mebibyte_file_is_refused_for_its_size(tmp_path: Path) -> None:
    raw = b"# padding\n" * (2 * 1024 * 1024 // 10 + 1)
    [error] = _refused(tmp_path, raw)
    assert error.message == f"the file is larger than {MAX_BYTES} bytes, the most a spec may be"


def test_non_utf8_bytes_are_refused_naming_line_and_column(tmp_path: Path) -> None:
    [error] = _refused(tmp_path, b"apiVersion: llmmon/v1\nkind: Monit\xff\xfeoringSpec\n", "bytes.yaml")
    assert error.render() == "bytes.yaml:2:12: the file is not UTF-8 (byte 0xff)"


def test_a_byte_order_mark_is_accepted_before_the_spec(tmp_path: Path) -> None:
    errors = _refused(tmp_path, b"\xef\xbb\xbfkind: MonitoringSpec\n", "bom.yaml")
    # the BOM is skipped and the mapping is read: what is missing from it is reported, not the encoding
    assert "bom.yaml:1:1: apiVersion: required key 'apiVersion' is missing" in [e.render() for e in errors]


def test_non_utf8_bytes_after_a_byte_order_mark_are_refused_at_their_place(tmp_path: Path) -> None:
    [error] = _refused(tmp_path, b"\xef\xbb\xbfapiVersion: llmmon/v1\nkind: x\xff\n", "bom.yaml")
    assert error.render() == "bom.yaml:2:8: the file is not UTF-8 (byte 0xff)"


@pytest.mark.parametrize("raw", [b"apiVersion: llmmon/v1\n\x00\x00kind: MonitoringSpec\n",
                                 "kind: MonitoringSpec\n".encode("utf-16")], ids=["nul", "utf16"])
def test_nul_bytes_are_refused_as_binary(tmp_path: Path, raw: bytes) -> None:
    [error] = _refused(tmp_path, raw)
    assert error.message == "the file contains NUL bytes: it is binary, or UTF-16, not a UTF-8 YAML spec"


def test_binary_without_nul_bytes_is_refused_as_invalid_yaml(tmp_path: Path) -> None:
    [error] = _refused(tmp_path, b"\x7fELF\x02\x01\x01" + bytes(range(1, 40)))
    assert error.message == "control character U+007F is not allowed in a spec"
    assert (error.line, error.col) == (1, 1)


def test_control_characters_are_refused_naming_line_and_column(tmp_path: Path) -> None:
    [error] = _refused(tmp_path, b"apiVersion: llmmon/v1\nkind: \x01\x02\n", "ctl.yaml")
    assert error.render().startswith("ctl.yaml:2:7: ")
    assert "\n" not in error.render()


@pytest.mark.parametrize("raw", [b"", b"   \n\n    \n", b"# nothing here yet\n   # still nothing\n",
                                 b"\xef\xbb\xbf", b"\n# only a trailing comment"],
                         ids=["empty", "blank-lines", "comments-only", "bom-only", "newline-and-comment"])
def test_an_empty_spec_says_the_spec_is_empty(tmp_path: Path, raw: bytes) -> None:
    [error] = _refused(tmp_path, raw, "empty.yaml")
    assert error.render() == "empty.yaml:1:1: the spec is empty"


def test_a_missing_file_is_reported_not_raised(tmp_path: Path) -> None:
    plan, diagnostics = load(tmp_path / "absent.yaml", display="absent.yaml")
    assert plan is None
    assert [d.render() for d in diagnostics] == [
        "absent.yaml: cannot read the spec: No such file or directory"]


def test_a_directory_is_reported_not_raised(tmp_path: Path) -> None:
    plan, diagnostics = load(tmp_path, display="dir")
    assert plan is None
    assert [d.render() for d in diagnostics] == ["dir: cannot read the spec: Is a directory"]
