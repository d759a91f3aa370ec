"""The spec reference in docs/spec.md, generated from the pydantic models and their field descriptions.

`python -m llmmon.reference` rewrites the marked section of docs/spec.md; `--check` exits 1 when it is stale
(a test runs the check, so the reference cannot drift from llmmon/spec.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from llmmon import spec as s
from llmmon.units import Duration, format_number

START = "<!-- spec-reference:start -->"
END = "<!-- spec-reference:end -->"
_NAMES = {"DnsLabel": "DNS-1123 label", "Url": "http(s) URL", "Ident": "name", "StrictBool": "true or false",
          "Positive": "positive number", "NonNegative": "number ≥ 0"}
_BOUNDS = {"Gt": ("gt", ">"), "Ge": ("ge", "≥"), "Lt": ("lt", "<"), "Le": ("le", "≤"),
           "MinLen": ("min_length", "at least"), "MaxLen": ("max_length", "at most")}


def _aliases() -> dict[Any, str]:
    """Every named value type of spec.py (Annotated aliases such as Duration) → a readable name."""
    out: dict[Any, str] = {}
    for name, value in vars(s).items():
        # first name wins: `Price = Positive` must not call every positive number (a threshold) a price
        if typing.get_origin(value) is typing.Annotated and not name.startswith("_") and value not in out:
            words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).lower()
            out[value] = _NAMES.get(name, words)
    return out


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The spec sections (pydantic models) an annotation refers to, in order."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models(arg)]


def sections() -> list[tuple[type[BaseModel], list[str]]]:
    """Every section of the spec, depth first from the top, with the key paths where it appears."""
    found: dict[type[BaseModel], list[str]] = {}

    def visit(model: type[BaseModel], path: str) -> None:
        found.setdefault(model, []).append(path)
        for name, info in model.model_fields.items():
            key = info.alias or name
            annotation = typing.get_type_hints(model, include_extras=True)[name]
            container = typing.get_origin(_strip(annotation))
            suffix = "[]" if container is list else ".<name>" if container is dict else ""
            for sub in _models(annotation):
                visit(sub, f"{path}.{key}{suffix}".lstrip("."))

    visit(s.MonitoringSpec, "")
    return list(found.items())


def _strip(annotation: Any) -> Any:
    """An annotation without Optional and Annotated."""
    while True:
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _type(annotation: Any, aliases: dict[Any, str], anchors: dict[type[BaseModel], tuple[str, str]]) -> str:
    """A readable type: `duration`, `one of a, b`, `list of …`, a link to a section, …"""
    if annotation in aliases:
        return aliases[annotation] + _bounds(typing.get_args(annotation)[1:])
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type(args[0], aliases, anchors) + _bounds(args[1:])
    if origin in (typing.Union, types.UnionType):
        members = [a for a in args if a is not type(None)]
        return " or ".join(_type(a, aliases, anchors) for a in members)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args) if len(args) > 1 else f"`{args[0]}`"
    if origin is list:
        return f"list of {_type(args[0], aliases, anchors)}"
    if origin is dict:
        return f"mapping of {_type(args[0], aliases, anchors)} to {_type(args[1], aliases, anchors)}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        anchor, path = anchors[annotation]
        return f"[`{path}`](#{anchor})"
    return {bool: "true or false", int: "whole number", float: "number", str: "text",
            Duration: "duration"}.get(annotation, "any")


def _bounds(metadata: tuple[Any, ...]) -> str:
    """` (> 0)` from annotated-types constraints, found directly or inside a Field()."""
    found = []
    for item in metadata:
        for constraint in (item.metadata if isinstance(item, FieldInfo) else [item]):
            if bound := _BOUNDS.get(type(constraint).__name__):
                found.append(f"{bound[1]} {format_number(getattr(constraint, bound[0]))}")
    return f" ({', '.join(found)})" if found else ""


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.default_factory() if info.default_factory else info.default  # type: ignore[call-arg]
    if value is None or value is PydanticUndefined or (isinstance(value, BaseModel) and not value.model_fields_set):
        return ""
    if isinstance(value, Duration | str):
        return f"`{value}`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, int | float):
        return f"`{format_number(value)}`"
    data = [v.model_dump(mode="json", exclude_none=True) if isinstance(v, BaseModel) else v for v in value] \
        if isinstance(value, list) else value
    return f"`{json.dumps(data, sort_keys=True, ensure_ascii=False)}`"


def description(model: type[BaseModel], name: str) -> str:
    """A field's description, else the docstring of the section it holds, else ''."""
    info = model.model_fields[name]
    if info.description:
        return info.description
    subs = _models(typing.get_type_hints(model, include_extras=True)[name])
    return (subs[0].__doc__ or "").strip().splitlines()[0] if subs else ""


def reference() -> str:
    """The reference as Markdown: one table per section, key by key."""
    aliases, found = _aliases(), sections()
    anchors = {model: ("spec-" + (re.sub(r"[^a-z0-9_]+", "-", paths[0].replace(".<name>", "")).strip("-") or "top"),
                       paths[0]) for model, paths in found}
    out = ["Generated from `llmmon/spec.py` by `python -m llmmon.reference` (`make docs`); do not edit by hand.",
           "Values: " + "; ".join(f"{name}: {_cell(typing.get_args(alias)[-1].json_schema['description'])}"
                                  for alias, name in aliases.items()
                                  if getattr(typing.get_args(alias)[-1], "json_schema", {}).get("description")) + ".",
           ""]
    for model, paths in found:
        title = ", ".join(f"`{p}`" for p in paths) if paths[0] else "Top level"
        doc = (model.__doc__ or "").strip().splitlines()[0]
        out += [f'<a id="{anchors[model][0]}"></a>', f"#### {title}", "", doc, "",
                "| key | type | default | description |", "|---|---|---|---|"]
        hints = typing.get_type_hints(model, include_extras=True)
        for name, info in model.model_fields.items():
            kind = _type(hints[name], aliases, anchors) + _bounds(tuple(info.metadata))
            out.append(f"| `{info.alias or name}` | {_cell(kind)} | "
                       f"{_cell(_default(info))} | {_cell(description(model, name))} |")
        out.append("")
    return "\n".join(out)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def update(readme: str) -> str:
    """The document's text with the marked section replaced by the current reference; ValueError without markers."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"the document has no {START} … {END} section")
    return readme[: start + len(START)] + "\n" + reference() + "\n" + readme[end:]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the spec reference of docs/spec.md, or with --check report whether it is current (exit 1 when stale)."""
    parser = argparse.ArgumentParser(prog="python -m llmmon.reference", description=__doc__)
    parser.add_argument("readme", nargs="?", default="docs/spec.md", type=Path)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when the reference is stale")
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    wanted = update(current)
    if wanted == current:
        print(f"{args.readme}: the spec reference is up to date")
        return 0
    if args.check:
        print(f"{args.readme}: the spec reference is stale; run `python -m llmmon.reference` (make docs)",
              file=sys.stderr)
        return 1
    args.readme.write_text(wanted, encoding="utf-8")
    print(f"{args.readme}: spec reference rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
