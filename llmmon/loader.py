"""Bytes of a spec file → validated MonitoringSpec, or diagnostics anchored to lines and columns."""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from llmmon import yamlpos
from llmmon.diagnostics import Diagnostic, Severity
from llmmon.spec import MonitoringSpec
from llmmon.yamlpos import Document, Path


def read_spec(path: FsPath, display: str | None = None) -> tuple[MonitoringSpec | None, Document | None,
                                                                   list[Diagnostic]]:
    """Read and validate a spec file; on failure the spec is None and diagnostics say why."""
    name = display or str(path)
    try:
        with path.open("rb") as handle:  # never read more than the limit, whatever the file claims
            raw = handle.read(yamlpos.MAX_BYTES + 1)
    except OSError as exc:
        return None, None, [Diagnostic(name, 0, 0, "", f"cannot read the spec: {exc.strerror or exc}")]
    return parse_spec(raw, name)


def parse_spec(raw: bytes, name: str) -> tuple[MonitoringSpec | None, Document | None, list[Diagnostic]]:
    """Validate spec bytes; `name` is what diagnostics call the file."""
    try:
        doc, problems = yamlpos.load(raw)
    except yamlpos.YamlProblem as exc:
        return None, None, [Diagnostic(name, exc.line, exc.col, _dotted(exc.path), exc.message)]
    diagnostics = [Diagnostic(name, p.line, p.col, _dotted(p.path), p.message) for p in problems]
    if not isinstance(doc.data, dict):
        line, col = doc.values.get((), (1, 1))
        got = type(doc.data).__name__
        diagnostics.append(Diagnostic(name, line, col, "", "the spec must be a mapping with apiVersion, kind, "
                                      f"metadata, models, ... (got {got})"))
        return None, doc, diagnostics
    try:
        spec = MonitoringSpec.model_validate(doc.data)
    except ValidationError as exc:
        refused = {(d.line, d.col) for d in diagnostics}  # a value the YAML reader refused: say that once
        diagnostics.extend(d for d in _from_pydantic(exc, doc, name) if (d.line, d.col) not in refused)
        return None, doc, sorted(set(diagnostics))
    return (None if diagnostics else spec), doc, diagnostics


def _from_pydantic(exc: ValidationError, doc: Document, name: str) -> list[Diagnostic]:
    out = []
    for error in exc.errors(include_url=False):
        path = _data_path(doc.data, error["loc"])
        kind = error["type"]
        suggestion = None
        if kind == "extra_forbidden":
            key = str(path[-1])
            message, suggestion = _unknown_key(key, path[:-1])
            line, col = doc.position(path)
        elif kind == "missing":
            message = f"required key {str(path[-1])!r} is missing"
            line, col = doc.position(path[:-1])
        else:
            message = _message(error)
            if kind == "literal_error":
                options = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
                suggestion = _likely_option(str(error.get("input")), options)
            elif kind == "pattern" and path[-1:] == ("name",) and path[:1] == ("models",) \
                    and isinstance(error.get("input"), str):
                from llmmon.names import served_name_hint

                suggestion = served_name_hint(error["input"])
            line, col = doc.value_position(path)
        out.append(Diagnostic(name, line, col, _dotted(path), message, Severity.ERROR, suggestion))
    return out


def _likely_option(given: str, options: list[str]) -> str | None:
    """"did you mean" only when it is the likely fix: the same word in other case (vLLM → vllm) or a typo
    (critcal → critical); a different name (ollama) gets none, the message lists every option."""
    by_lower = {o.lower(): o for o in options}
    close = difflib.get_close_matches(given.lower(), list(by_lower), n=1, cutoff=0.75)
    return f"did you mean {by_lower[close[0]]!r}?" if close else None


def _message(error: Any) -> str:
    kind, msg, value = error["type"], str(error["msg"]), error.get("input")
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    if kind == "literal_error":
        return f"{shown} is not one of {error.get('ctx', {}).get('expected', '')}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"expected a mapping, got {shown}"
    if kind == "list_type":
        return f"expected a list, got {shown}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false, got {shown}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number, got {shown}"
    if kind in ("string_type",):
        return f"expected text, got {shown}"
    if kind == "too_short":
        return "must not be empty"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return f"{shown}: {msg[0].lower()}{msg[1:]}"
    if kind == "none_required":
        return "takes no value here"
    return msg.removeprefix("Value error, ")


def _data_path(data: Any, loc: tuple[int | str, ...]) -> Path:
    """Keep the parts of a pydantic location that name keys or indexes of the document."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif isinstance(part, str) and "[" not in part and isinstance(node, dict):
            path.append(part)  # a missing or unknown key
            node = None
    return tuple(path)


def _unknown_key(key: str, parent: Path) -> tuple[str, str | None]:
    allowed = _allowed_keys(parent)
    if f"{key}_file" in allowed:
        return (f"unknown key {key!r}: secrets are never written into a spec",
                f"put the secret in a file and set {key}_file to its path")
    close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    suggestion = f"did you mean {close[0]!r}?" if close else (
        f"allowed here: {', '.join(sorted(allowed))}" if allowed else None)
    return f"unknown key {key!r}", suggestion


def _allowed_keys(path: Path) -> list[str]:
    """The keys a spec accepts at `path`, found by walking the pydantic models' annotations."""
    current: Any = MonitoringSpec
    for part in path:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return []
            current = field.annotation
        else:
            origin = typing.get_origin(current)
            args = typing.get_args(current)
            if origin in (list, dict) and args:
                current = args[-1]
            else:
                return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional and Annotated from an annotation."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = members[0] if len(members) == 1 else annotation
            if len(members) != 1:
                return annotation
        else:
            return annotation


def _dotted(path: Path) -> str:
    return ".".join(str(p) for p in path)
