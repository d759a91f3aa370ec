"""Safe YAML loading that remembers where every key and value stands in the file.

Only plain data is built (mappings, sequences, scalars); tags that construct objects are refused.
Anchors and aliases work, but the document they expand to is bounded, so alias bombs fail fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024  # a spec is a few KiB; a 1 MiB one is a mistake or an attack
MAX_NODES = 80_000  # nodes visited while expanding aliases: 0.6 s and 50 MB at most
MAX_DEPTH = 64
MAX_VALUES = 80_000  # scalars, collections and aliases as written, before aliases are expanded
# LibYAML when PyYAML has it (its wheels do): it reads a spec about six times faster than pure Python.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# What YAML's reader refuses (PyYAML's Reader.NON_PRINTABLE), found up front with its exact position.
_NON_PRINTABLE = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
MAX_INT = 10**18  # larger integers are refused when read: printing them would hit Python's 4300-digit limit

Path = tuple[str | int, ...]

_SCALAR_TAGS = {
    "tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:timestamp",
}
_COLLECTION_TAGS = {"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"}
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass
class Document:
    """Plain data of a YAML document and the 1-based (line, col) of each path's key and value."""

    data: Any
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path) -> tuple[int, int]:
        """Where `path` is written: its key if it has one, else its value, else its nearest parent."""
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return (1, 1)

    def value_position(self, path: Path) -> tuple[int, int]:
        """Where the value at `path` is written (falls back to the key, then the parents)."""
        return self.values.get(path) or self.position(path)


class YamlProblem(Exception):
    """A document that cannot be loaded; line and col are 1-based (0 when unknown)."""

    def __init__(self, message: str, line: int = 0, col: int = 0, path: Path = ()) -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.path = message, line, col, path


@dataclass
class _Builder:
    doc: Document
    problems: list[YamlProblem]
    constructor: yaml.constructor.SafeConstructor = field(default_factory=yaml.constructor.SafeConstructor)
    visited: int = 0

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise YamlProblem(f"the document expands to more than {MAX_NODES} nodes "
                              "(anchors and aliases nested too deeply?); refusing to load it")
        if depth > MAX_DEPTH:
            raise YamlProblem(f"the document is nested more than {MAX_DEPTH} levels deep", *_mark(node))
        self.doc.values.setdefault(path, _mark(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, path)
        if isinstance(node, yaml.SequenceNode | yaml.MappingNode) and node.tag not in _COLLECTION_TAGS:
            self.problems.append(YamlProblem(f"YAML tag {node.tag!r} is not allowed in a spec", *_mark(node), path))
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        raise YamlProblem("unsupported YAML node", *_mark(node))  # pragma: no cover - composer makes only these

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if node.tag not in _SCALAR_TAGS:
            self.problems.append(YamlProblem(f"YAML tag {node.tag!r} is not allowed in a spec", *_mark(node), path))
            return node.value
        if node.tag in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:str"):
            return node.value  # text as written (dates too); skipping the constructor halves the time per node
        try:
            value = self.constructor.construct_object(node, deep=True)
        except (ValueError, OverflowError):  # thousands of digits: past Python's int conversion limit
            value = None
        if (value is None and node.tag == "tag:yaml.org,2002:int") or (isinstance(value, int) and abs(value) > MAX_INT):
            self.problems.append(YamlProblem(f"the number {node.value[:24]}{'...' if len(node.value) > 24 else ''} "
                                             f"is too large (a spec's numbers stay below {MAX_INT:.0e})",
                                             *_mark(node), path))
            return None
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int, merged_in: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = {}
        merged: list[yaml.Node] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node])
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _SCALAR_TAGS:
                self.problems.append(YamlProblem("mapping keys must be plain text", *_mark(key_node), path))
                continue
            key = str(key_node.value)
            if key in result:
                line, _ = self.doc.keys.get((*path, key), _mark(key_node))
                self.problems.append(YamlProblem(f"duplicate key {key!r} (first set on line {line})",
                                                 *_mark(key_node), (*path, key)))
                continue
            if merged_in:  # keys written in the mapping itself keep their own positions
                self.doc.keys.setdefault((*path, key), _mark(key_node))
            else:
                self.doc.keys[(*path, key)] = _mark(key_node)
            result[key] = self.build(value_node, (*path, key), depth + 1)
        for source in merged:  # `<<: *anchor`: keys written here win over merged ones
            if not isinstance(source, yaml.MappingNode):
                self.problems.append(YamlProblem("`<<` must merge a mapping", *_mark(source), path))
                continue
            extra = self._mapping(source, path, depth, merged_in=True)
            for key, value in extra.items():
                result.setdefault(key, value)
        return result


def _mark(node: yaml.Node) -> tuple[int, int]:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def decode(raw: bytes) -> str:
    """Decode UTF-8 (a BOM is allowed); raise YamlProblem naming the position of a bad byte."""
    if len(raw) > MAX_BYTES:
        raise YamlProblem(f"the file is larger than {MAX_BYTES} bytes, the most a spec may be")
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        start = raw.rfind(b"\n", 0, at) + 1
        raise YamlProblem("the file contains NUL bytes: it is binary, or UTF-16, not a UTF-8 YAML spec",
                          raw.count(b"\n", 0, at) + 1, len(raw[start:at].decode("utf-8", errors="replace")) + 1)
    body = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = body[: exc.start]
        line_start = before.rfind(b"\n") + 1
        line = before.count(b"\n") + 1
        col = len(before[line_start:].decode("utf-8", errors="replace")) + 1
        raise YamlProblem(f"the file is not UTF-8 (byte 0x{body[exc.start]:02x})", line, col) from None


def _check_printable(text: str) -> None:
    """Refuse what YAML's reader refuses (C0/C1 controls, surrogates, U+FFFE/FFFF) naming its line and column."""
    bad = _NON_PRINTABLE.search(text)
    if bad:
        at = bad.start()
        line, col = text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1
        raise YamlProblem(f"control character U+{ord(bad.group()):04X} is not allowed in a spec", line, col)


def _measure(text: str) -> None:
    """Count values and nesting on the event stream and stop past the limits, before any node is built: a
    megabyte of `[1,1,1,...` or of `[[[[` must fail in milliseconds, not in a minute and a gigabyte."""
    open_: list[list[int]] = []  # per open collection: [is a mapping, nodes seen in it]
    values = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.CollectionEndEvent):
            open_.pop()
            continue
        if not isinstance(event, yaml.ScalarEvent | yaml.AliasEvent | yaml.CollectionStartEvent):
            continue
        values += 1
        mark = (event.start_mark.line + 1, event.start_mark.column + 1) if event.start_mark else (0, 0)
        if values > MAX_VALUES:
            raise YamlProblem(f"the document holds more than {MAX_VALUES} values (a spec of 1000 models holds "
                              "about 12000); refusing to load it", *mark)
        key = bool(open_) and open_[-1][0] == 1 and open_[-1][1] % 2 == 0  # keys do not count as a level
        if open_:
            open_[-1][1] += 1
        if not key and len(open_) > MAX_DEPTH:
            raise YamlProblem(f"the document is nested more than {MAX_DEPTH} levels deep", *mark)
        if isinstance(event, yaml.CollectionStartEvent):
            open_.append([int(isinstance(event, yaml.MappingStartEvent)), 0])


# The parser's words for a layout mistake, and what the mistake usually is, in a user's words.
_IN_WORDS = {
    "mapping values are not allowed in this context": (
        "a key is indented deeper than the keys above it, or a value holds ': ' unquoted: line the keys up "
        "or quote the value"),
    "did not find expected key": "this line is not indented like the keys above it: line them up with spaces",
    "did not find expected '-' indicator": (
        "a key is indented like the list items above it: indent it under its item, or start it with '- '"),
    "could not find expected ':'": "a key without ':' (or a quote that is not closed): write `key: value`",
    "did not find expected ',' or ']'": "a '[' list is not closed: end it with ']'",
    "did not find expected ',' or '}'": "a '{' mapping is not closed: end it with '}'",
    "found unexpected end of stream": "a quoted value is not closed: end it with the same quote",
}


def in_words(problem: str, text: str, mark: yaml.Mark | None) -> str:
    """The parser's message as the mistake a user made: a tab in an indentation, a key out of line."""
    line = text.split("\n")[mark.line] if mark and mark.line < text.count("\n") + 1 else ""
    tab_at_mark = bool(mark) and line[:mark.column + 1].lstrip(" ").startswith("\t")  # type: ignore[union-attr]
    if "tab character" in problem or "'\\t'" in problem or tab_at_mark:
        return "tabs are not allowed for indentation: indent with spaces"
    return _IN_WORDS.get(problem, problem)


def load(raw: bytes) -> tuple[Document, list[YamlProblem]]:
    """Load one YAML document from bytes; fatal problems raise YamlProblem, others are returned."""
    text = decode(raw)
    _check_printable(text)
    try:
        _measure(text)
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "not valid YAML"
        if exc.context and "single document" in exc.context:
            problem = "expected a single YAML document, found more than one"
        problem = in_words(problem, text, mark)
        if "maximum nesting depth" in problem:  # LibYAML's own limit (1000), met while scanning ahead
            raise YamlProblem(f"the document is nested too deeply (limit {MAX_DEPTH} levels)",
                              *((mark.line + 1, mark.column + 1) if mark else (0, 0))) from None
        raise YamlProblem(f"not valid YAML: {problem}", *((mark.line + 1, mark.column + 1) if mark else (0, 0))) \
            from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise YamlProblem(f"control character U+{ord(char):04X} is not allowed in a spec", line, col) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(f"the document is nested too deeply (limit {MAX_DEPTH} levels)") from None
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == "tag:yaml.org,2002:null"
                        and root.value in ("", "~", "null")):
        raise YamlProblem("the spec is empty", 1, 1)
    doc = Document(data=None)
    problems: list[YamlProblem] = []
    doc.data = _Builder(doc, problems).build(root, (), 0)
    return doc, problems
