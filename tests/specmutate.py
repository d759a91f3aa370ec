"""Mutations of specs for the property tests: edits of the data (keys dropped, renamed, added; values retyped,
out of range, huge, empty, unicode) and of the YAML text (cut, inserted, deleted or duplicated characters).
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st
from specgen import INJECTIONS

_TEXT_CHARS = st.characters(blacklist_categories=("Cs",))  # anything, control characters included

ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**30), 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", " ", "0", "-1", "1e309", "nan", ".inf", "99.9", "99.9%", "100%", "0.999", "2s", "-5m",
                     "30d", "1h30m", "yes", "no", "on", "null", "~", "x" * 5000, *INJECTIONS]),
    st.text(_TEXT_CHARS, max_size=20), st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in plain data (dict keys and list indexes)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> dict[str, Any]:
    """`base` with one to four random edits: a key dropped, renamed or added, a value retyped or replaced."""
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, last = _parent(data, path), path[-1]
        edit = draw(st.sampled_from(["drop", "rename", "retype", "add", "duplicate"]))
        if edit == "drop":
            del parent[last]
        elif edit == "rename" and isinstance(parent, dict):
            new = draw(st.one_of(st.sampled_from([last.upper(), last[:-1], last + "s", last.replace("_", "-"), ""]),
                                 st.text(_TEXT_CHARS, max_size=12)))
            parent[new] = parent.pop(last)
        elif edit == "add" and isinstance(parent, dict):
            parent[draw(st.text(_TEXT_CHARS, max_size=12))] = draw(ODD_VALUES)
        elif edit == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[last]))
        else:
            parent[last] = draw(ODD_VALUES)
    return data


@st.composite
def mangled(draw: st.DrawFn, text: str) -> str:
    """YAML text with one to three character-level edits: cut, inserted, deleted or duplicated lines."""
    for _ in range(draw(st.integers(1, 3))):
        if not text:
            break
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["cut", "insert", "delete", "line"]))
        if edit == "cut":
            text = text[:at]
        elif edit == "insert":
            text = text[:at] + draw(st.one_of(st.sampled_from(
                [":", "-", "  ", "\t", "&x", "*x", "!!str", "{", "[", "'", '"', "\n", "#", "<<: *x", "\x85", "\ufeff",
                 "%YAML 1.1\n", "---\n", "\x00", "\x1b"]), st.text(max_size=4))) + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        else:
            lines = text.splitlines(keepends=True)
            index = draw(st.integers(0, max(0, len(lines) - 1)))
            lines.insert(index, lines[index] if lines else "")
            text = "".join(lines)
    return text
