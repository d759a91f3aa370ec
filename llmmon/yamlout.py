"""A small, deterministic YAML writer for generated files.

PyYAML's output depends on whether libyaml is present; this writer's does not, and it is fast enough
for a thousand-model fleet. Strings that could be read back as another type are always quoted, and
multi-line strings (PromQL) become literal blocks.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from llmmon.units import format_number

_PLAIN = re.compile(r"^[A-Za-z_/$](?:[A-Za-z0-9_./$:-]*[A-Za-z0-9_./$-])?$")
_DURATION = re.compile(r"^(?:[0-9]+(?:ms|[smhdwy]))+$")
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
            "\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P"}  # YAML reads the last three as line breaks
# What may not stand as it is in a double-quoted scalar: quotes, backslashes, and everything outside YAML's
# printable set, plus the characters YAML reads as line breaks (U+0085, U+2028, U+2029) and the BOM.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_UNSAFE = re.compile('["\\\\\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]')
_RESERVED = {"y", "n", "yes", "no", "true", "false", "on", "off", "null", "nan", "inf"}


class Rendered:
    """A value written once and placed, shifted right, where it stands as a mapping value (or as the document):
    for text two files share (the rule groups, in the rule file and in the PrometheusRule objects). Lines are
    kept at indent 0; block YAML differs between indents only by leading spaces (empty lines of literal blocks
    stay empty). Not for list items: a mapping there is written in the compact `- key:` form."""

    __slots__ = ("lines",)

    def __init__(self, value: Any, lines: list[str] | None = None) -> None:
        if lines is None:
            if not value:
                raise ValueError("an empty collection is written inline, not rendered")
            lines = []
            _node(value, 0, lines)
        self.lines = lines

    @classmethod
    def join(cls, items: list[Rendered]) -> Rendered:
        """Renderings of one-item lists, as the rendering of the list of their items."""
        return cls(None, [line for item in items for line in item.lines])

    def at(self, indent: int) -> list[str]:
        pad = " " * indent
        return [pad + line if line else line for line in self.lines]


def dump(value: Any) -> str:
    """Serialise plain data (dict, list, str, int, float, bool, None) as block-style YAML."""
    if type(value) is Rendered:
        return "\n".join(value.lines) + "\n"
    lines: list[str] = []
    _node(value, 0, lines)
    return "\n".join(lines) + "\n"


def scalar(value: Any) -> str:
    """One scalar as YAML text (single-line form)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = format_number(value)
        mantissa, _, exponent = text.partition("e")
        if exponent and "." not in mantissa:  # YAML 1.1 reads 1e+16 as text: it wants 1.0e+16
            text = f"{mantissa}.0e{exponent}"
        return text
    if isinstance(value, int):
        return str(value)
    return _string(str(value))


@functools.lru_cache(maxsize=65536)  # a fleet's files repeat the same keys, labels and names many times over
def _string(text: str) -> str:
    if (_PLAIN.fullmatch(text) and text.lower() not in _RESERVED) or _DURATION.fullmatch(text):
        return text
    return _double_quoted(text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _ESCAPES:
        return _ESCAPES[char]
    c = ord(char)
    return f"\\x{c:02x}" if c <= 0xFF else f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"


def _double_quoted(text: str) -> str:
    if _UNPRINTABLE.search(text) is None:  # the common case (PromQL selectors): only quotes and backslashes
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return '"' + _UNSAFE.sub(_escape, text) + '"'


def _block_ok(text: str) -> bool:
    return "\n" in text and not any(line != line.rstrip() or "\t" in line for line in text.split("\n")) \
        and not text.startswith((" ", "\n")) and not text.endswith("\n\n") \
        and not _UNPRINTABLE.search(text.replace("\n", ""))


def _inline(value: Any, indent: int) -> tuple[str, list[str]] | None:
    """The text after `key:` for a scalar or empty collection, or None for a nested block."""
    if isinstance(value, dict):
        return (" {}", []) if not value else None
    if isinstance(value, list):
        return (" []", []) if not value else None
    if isinstance(value, str) and _block_ok(value):
        style = "|" if value.endswith("\n") else "|-"
        pad = " " * (indent + 2)
        return f" {style}", [pad + line if line else "" for line in value.rstrip("\n").split("\n")]
    return " " + scalar(value), []


def _node(value: Any, indent: int, lines: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
        for key, item in value.items():
            head = pad + _string(str(key)) + ":"
            if type(item) is str and "\n" not in item:  # the common case, without the calls below
                lines.append(head + " " + _string(item))
            else:
                _entry(head, item, indent, lines)
    elif isinstance(value, list):
        if not value:
            lines.append(pad + "[]")
        inner = pad + "  "
        for item in value:
            if isinstance(item, dict) and item:  # `- key: value`, then the other keys under the first
                lead = pad + "- "
                for key, sub in item.items():
                    head = lead + _string(str(key)) + ":"
                    if type(sub) is str and "\n" not in sub:
                        lines.append(head + " " + _string(sub))
                    else:
                        _entry(head, sub, indent + 2, lines)
                    lead = inner
            elif type(item) is str and "\n" not in item:
                lines.append(pad + "- " + _string(item))
            else:
                _entry(pad + "-", item, indent, lines)
    else:
        lines.append(pad + scalar(value))


def _entry(head: str, item: Any, indent: int, lines: list[str]) -> None:
    if type(item) is Rendered:  # what _node(item's value, indent + 2) writes
        lines.append(head)
        lines.extend(item.at(indent + 2))
        return
    inline = _inline(item, indent)
    if inline is None:
        lines.append(head)
        _node(item, indent + 2, lines)
    else:
        text, block = inline
        lines.append(head + text)
        lines.extend(block)
