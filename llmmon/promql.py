"""Building PromQL text safely: every value from a spec passes through `quote` or `regex_of`."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from llmmon.units import format_number

SPEC_LABEL = "llmmon_spec"
_RE2_META = set(r"\.+*?()|[]{}^$")


@functools.lru_cache(maxsize=65536)  # label values repeat in every rule and test of a fleet
def quote(value: str) -> str:
    """A PromQL double-quoted string literal; backslashes, quotes and newlines are escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def regex_of(values: Iterable[str]) -> str:
    """An RE2 alternation matching exactly `values` (metacharacters escaped), sorted for stable output."""
    return "|".join("".join("\\" + c if c in _RE2_META else c for c in v) for v in sorted(set(values)))


def selector(metric: str, *matchers: tuple[str, str, str]) -> str:
    """`metric{label op "value", ...}` from (label, op, value) triples; values are quoted here."""
    inner = ", ".join(f"{label}{op}{quote(value)}" for label, op, value in matchers)
    return f"{metric}{{{inner}}}" if inner else metric


def eq(label: str, value: str) -> tuple[str, str, str]:
    """An equality matcher."""
    return (label, "=", value)


def re_in(label: str, values: Iterable[str]) -> tuple[str, str, str]:
    """A regex matcher selecting exactly `values`."""
    return (label, "=~", regex_of(values))


def number(value: float) -> str:
    """A float as PromQL number text."""
    return format_number(value)
