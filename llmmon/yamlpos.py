"""Safe YAML loading that remembers where every key and value stands in the file.

Only plain data is built (mappings, sequences, scalars); tags that construct objects are refused.
Anchors and aliases work, but the document they expand to is bounded, so alias bombs fail fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024  # a spec is a few KiB; a 1 MiB one is a mistake or an attack
MAX_NODES = 200_000  # nodes visited while expanding aliases
MAX_DEPTH = 64

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
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # keep dates as the text the user wrote
        return self.constructor.construct_object(node, deep=True)

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
        raise YamlProblem("the file contains NUL bytes: it is binary, or UTF-16, not a UTF-8 YAML spec")
    body = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = body[: exc.start]
        line_start = before.rfind(b"\n") + 1
        line = before.count(b"\n") + 1
        col = len(before[line_start:].decode("utf-8", errors="replace")) + 1
        raise YamlProblem(f"the file is not UTF-8 (byte 0x{body[exc.start]:02x})", line, col) from None


def load(raw: bytes) -> tuple[Document, list[YamlProblem]]:
    """Load one YAML document from bytes; fatal problems raise YamlProblem, others are returned."""
    text = decode(raw)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or "not valid YAML"
        if exc.context and "single document" in exc.context:
            problem = "expected a single YAML document, found more than one"
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
