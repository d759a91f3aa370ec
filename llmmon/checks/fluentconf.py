"""A parser for Fluentd's v1 configuration format: directives, nesting and parameters, with positions.

It follows Fluentd's own reader: `<name arg>` ... `</name>` directives, one `key value` parameter a line; values
are double-quoted (backslash escapes, `#{...}` embedded Ruby), single-quoted, JSON (`[`/`{`, may span lines) or
bare text that ends at the line's end or at whitespace followed by `#`. No Fluentd is needed to read a config.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

_NAME = re.compile(r"[a-zA-Z0-9_]+")
_ESCAPED = {'"': '"', "'": "'", "r": "\r", "n": "\n", "t": "\t", "f": "\f", "b": "\b"}


class ConfigSyntaxError(Exception):
    """The text is not a Fluentd configuration; line and col are 1-based."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


@dataclass
class Value:
    """A parameter's value as Fluentd reads it; embedded Ruby is kept as written, `#{code}`."""

    text: str
    line: int
    col: int
    style: str  # double, single, json or bare
    embedded: list[str] = field(default_factory=list)  # the code of each #{...}


@dataclass
class Element:
    """A directive (`<source>`, `<match pattern>`, ...) with its parameters and nested directives."""

    name: str
    arg: str
    line: int
    col: int
    params: dict[str, Value] = field(default_factory=dict)
    elements: list[Element] = field(default_factory=list)
    duplicates: list[tuple[str, Value]] = field(default_factory=list)

    def get(self, key: str) -> str | None:
        """A parameter's text, if set."""
        value = self.params.get(key)
        return value.text if value else None

    def sections(self, name: str) -> list[Element]:
        """The nested directives of one name."""
        return [e for e in self.elements if e.name == name]

    @property
    def label(self) -> str:
        """How findings name the directive: `<match llmmon.x>`."""
        return f"<{self.name} {self.arg}>" if self.arg else f"<{self.name}>"


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def where(self, pos: int | None = None) -> tuple[int, int]:
        at = self.pos if pos is None else pos
        line = self.text.count("\n", 0, at) + 1
        return line, at - (self.text.rfind("\n", 0, at) + 1) + 1

    def fail(self, message: str, pos: int | None = None) -> ConfigSyntaxError:
        return ConfigSyntaxError(message, *self.where(pos))

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos:self.pos + n]

    def eof(self) -> bool:
        return self.pos >= len(self.text)

    def skip_blank(self) -> None:
        """Whitespace, newlines and whole-line comments."""
        while not self.eof():
            char = self.peek()
            if char in " \t\r\n":
                self.pos += 1
            elif char == "#":
                self.skip_to_eol()
            else:
                return

    def skip_to_eol(self) -> None:
        end = self.text.find("\n", self.pos)
        self.pos = len(self.text) if end < 0 else end

    def end_of_line(self) -> None:
        """After a directive or value: only spaces and a comment may follow on the line."""
        while self.peek() in (" ", "\t", "\r") and not self.eof():
            self.pos += 1
        if self.peek() == "#":
            self.skip_to_eol()
        if not self.eof() and self.peek() != "\n":
            raise self.fail(f"expected the end of the line, found {self.peek()!r}")


def parse(text: str) -> Element:
    """The root element of a config; raises ConfigSyntaxError at the first mistake."""
    scanner = _Scanner(text)
    root = Element("ROOT", "", 1, 1)
    stack = [root]
    while True:
        scanner.skip_blank()
        if scanner.eof():
            break
        start = scanner.pos
        if scanner.peek() == "<":
            _directive(scanner, stack, start)
        else:
            key, value = _param(scanner)
            element = stack[-1]
            if key in element.params:
                element.duplicates.append((key, value))
            element.params[key] = value
        scanner.end_of_line()
    if len(stack) > 1:
        open_ = stack[-1]
        raise ConfigSyntaxError(f"{open_.label} is never closed", open_.line, open_.col)
    return root


def _directive(scanner: _Scanner, stack: list[Element], start: int) -> None:
    end = scanner.text.find(">", start)
    newline = scanner.text.find("\n", start)
    if end < 0 or (0 <= newline < end):
        raise scanner.fail("a directive must end with '>' on the same line", start)
    body = scanner.text[start + 1:end].strip()
    scanner.pos = end + 1
    closing = body.startswith("/")
    name, _, arg = body.removeprefix("/").strip().partition(" ")
    if not _NAME.fullmatch(name):
        raise scanner.fail(f"{name!r} is not a directive name", start)
    if closing:
        if arg.strip():
            raise scanner.fail(f"a closing </{name}> takes no argument", start)
        if len(stack) == 1:
            raise scanner.fail(f"</{name}> closes nothing", start)
        if stack[-1].name != name:
            raise scanner.fail(f"</{name}> closes {stack[-1].label} (line {stack[-1].line})", start)
        stack.pop()
        return
    element = Element(name, arg.strip(), *scanner.where(start))
    stack[-1].elements.append(element)
    stack.append(element)


def _param(scanner: _Scanner) -> tuple[str, Value]:
    match = re.compile(r"[^\s]+").match(scanner.text, scanner.pos)
    assert match is not None  # skip_blank stopped at a non-blank character
    key = match.group()
    scanner.pos = match.end()
    while scanner.peek() in (" ", "\t") and not scanner.eof():
        scanner.pos += 1
    line, col = scanner.where()
    char = scanner.peek()
    if char == '"':
        text, code = _double(scanner)
        return key, Value(text, line, col, "double", code)
    if char == "'":
        return key, Value(_single(scanner), line, col, "single")
    if char in ("[", "{"):
        return key, Value(_json(scanner), line, col, "json")
    return key, Value(_bare(scanner), line, col, "bare")


def _double(scanner: _Scanner) -> tuple[str, list[str]]:
    start = scanner.pos
    scanner.pos += 1
    out: list[str] = []
    code: list[str] = []
    while True:
        if scanner.eof():
            raise scanner.fail("a double-quoted string is never closed", start)
        char = scanner.peek()
        if char == '"':
            scanner.pos += 1
            return "".join(out), code
        if char == "\\":
            escaped = scanner.text[scanner.pos + 1:scanner.pos + 2]
            if not escaped:
                raise scanner.fail("a double-quoted string is never closed", start)
            if escaped.isalnum() and escaped not in _ESCAPED:
                raise scanner.fail(f"unknown escape \\{escaped} in a double-quoted string")
            out.append(_ESCAPED.get(escaped, escaped))
            scanner.pos += 2
        elif scanner.peek(2) == "#{":
            snippet = _embedded(scanner)
            code.append(snippet)
            out.append("#{" + snippet + "}")
        else:
            out.append(char)
            scanner.pos += 1


def _embedded(scanner: _Scanner) -> str:
    """The Ruby code of `#{...}`: braces nest, and quoted strings inside it are skipped whole."""
    start = scanner.pos
    pos, depth, quote = start + 2, 1, ""
    text = scanner.text
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == "\\":
                pos += 1
            elif char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                scanner.pos = pos + 1
                return text[start + 2:pos]
        pos += 1
    raise scanner.fail("embedded code #{...} is never closed", start)


def _single(scanner: _Scanner) -> str:
    start = scanner.pos
    scanner.pos += 1
    out: list[str] = []
    while True:
        if scanner.eof():
            raise scanner.fail("a single-quoted string is never closed", start)
        if scanner.peek(2) in ("\\'", "\\\\"):
            out.append(scanner.peek(2)[1])
            scanner.pos += 2
        elif scanner.peek() == "'":
            scanner.pos += 1
            return "".join(out)
        else:
            out.append(scanner.peek())
            scanner.pos += 1


def _json(scanner: _Scanner) -> str:
    """A JSON array or object, which may run over several lines (as Fluentd reads it)."""
    start = scanner.pos
    end = scanner.text.find("\n", start)
    while True:
        stop = len(scanner.text) if end < 0 else end
        try:
            data = json.loads(scanner.text[start:stop])
        except ValueError:
            if end < 0:
                raise scanner.fail("a JSON value is incomplete", start) from None
            end = scanner.text.find("\n", end + 1)
            continue
        scanner.pos = stop
        return json.dumps(data)


def _bare(scanner: _Scanner) -> str:
    match = re.compile(r"[^\n]*?(?=[ \t]+#|[ \t]*\r?(?:\n|$))").match(scanner.text, scanner.pos)
    assert match is not None  # the lookahead always finds the end of the line
    scanner.pos = match.end()
    return match.group()
