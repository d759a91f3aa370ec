"""Checks of user regexes against what Prometheus (RE2) accepts, and example strings that match them."""

from __future__ import annotations

import functools
import importlib
import re
from typing import Any

sre_parse: Any = importlib.import_module("re._parser")  # the stdlib's regex parser (Python 3.11+)

_RE2_UNSUPPORTED = (
    (re.compile(r"\(\?[=!]"), "lookahead"),
    (re.compile(r"\(\?<[=!]"), "lookbehind"),
    (re.compile(r"\\[1-9]"), "backreferences"),
    (re.compile(r"\(\?P=\w+\)"), "backreferences"),
    (re.compile(r"\(\?>"), "atomic groups"),
    (re.compile(r"[*+?}][+]"), "possessive quantifiers"),
)


@functools.lru_cache(maxsize=65536)  # a fleet has a regex per model, asked for by several steps; re caches 512
def compiled(pattern: str) -> re.Pattern[str]:
    """A user regex compiled once per run (raises re.error as re.compile does)."""
    return re.compile(pattern)


@functools.lru_cache(maxsize=65536)
def _parsed(pattern: str) -> Any:
    return sre_parse.parse(pattern)


def check_re2(pattern: str) -> str | None:
    """None when `pattern` is a regex Prometheus can use; else what is wrong with it."""
    for finder, what in _RE2_UNSUPPORTED:
        if finder.search(pattern):
            return f"pods regex {pattern!r} uses {what}, which Prometheus (RE2) does not support"
    try:
        parsed = _parsed(pattern)
    except re.error as exc:
        return f"pods regex {pattern!r} is not a valid regex: {exc}"
    if _nested_repeat(list(parsed)):
        return (f"pods regex {pattern!r} repeats a group that itself repeats or alternates (as in `(a+)+`): "
                "Prometheus copes, but Python's regex engine, which llmmon checks pod names with, can take "
                "exponential time on it; write the group without the inner repetition, e.g. `[-a-z0-9]+`")
    return None


def _nested_repeat(items: list[Any], inside: bool = False) -> bool:
    """True when an unbounded repetition contains another repetition or an alternation (catastrophic
    backtracking in a backtracking engine: `(a+)+b`, `(a|aa)*b`)."""
    for op, arg in items:
        name = str(op)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            if inside and low != high:  # a fixed count (`[a-z]{2}`) inside is harmless
                return True
            if _nested_repeat(list(sub), inside or high > 10):
                return True
        elif name == "BRANCH":
            if inside:
                return True
            if any(_nested_repeat(list(branch), inside) for branch in arg[1]):
                return True
        elif name == "SUBPATTERN" and _nested_repeat(list(arg[-1]), inside):
            return True
    return False


def example_match(pattern: str) -> str | None:
    """A short string fully matching `pattern`, preferring pod-name-like text; None if none is found."""
    try:
        parsed = _parsed(pattern)
    except re.error:
        return None
    text = _walk(list(parsed))
    if text is None or not compiled(pattern).fullmatch(text):
        return None
    return text


def _walk(items: list[Any]) -> str | None:
    out = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "ANY":
            out.append("0")
        elif name == "IN":
            choice = _from_set(arg)
            if choice is None:
                return None
            out.append(choice)
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, _high, sub = arg
            piece = _walk(list(sub))
            if piece is None:
                return None
            out.append(piece * max(low, 1 if low == 0 and name != "MIN_REPEAT" else low))
        elif name == "SUBPATTERN":
            piece = _walk(list(arg[-1]))
            if piece is None:
                return None
            out.append(piece)
        elif name == "BRANCH":
            piece = _walk(list(arg[1][0]))
            if piece is None:
                return None
            out.append(piece)
        elif name == "AT":
            continue
        elif name == "NOT_LITERAL":
            out.append("0" if chr(arg) != "0" else "1")
        else:
            return None
    return "".join(out)


def _from_set(items: list[Any]) -> str | None:
    if items and str(items[0][0]) == "NEGATE":
        return None
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "RANGE":
            return chr(arg[0])
        if name == "CATEGORY":
            return {"CATEGORY_DIGIT": "0", "CATEGORY_WORD": "a", "CATEGORY_SPACE": " "}.get(str(arg))
    return None
