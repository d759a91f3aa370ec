"""Units of the spec: Prometheus durations and percentages, parsed once and kept exact."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

_UNITS_MS = {"y": 365 * 86_400_000, "w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000,
             "m": 60_000, "s": 1000, "ms": 1}
_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"^(?:{_NUM}y)?(?:{_NUM}w)?(?:{_NUM}d)?(?:{_NUM}h)?(?:{_NUM}m)?(?:{_NUM}s)?(?:{_NUM}ms)?$")
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
MAX_MS = 3650 * 86_400_000
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")


@dataclass(frozen=True, order=True)
class Duration:
    """A Prometheus duration, held in whole milliseconds."""

    ms: int

    @property
    def seconds(self) -> float:
        """The duration in seconds."""
        return self.ms / 1000

    def __str__(self) -> str:
        """Canonical form, largest units first (90m → 1h30m); days are the largest unit, as SLO windows read."""
        if self.ms == 0:
            return "0s"
        rest, parts = self.ms, []
        for unit in ("d", "h", "m", "s", "ms"):
            size = _UNITS_MS[unit]
            if rest >= size:
                parts.append(f"{rest // size}{unit}")
                rest %= size
        return "".join(parts)

    @classmethod
    def parse(cls, text: str) -> Duration:
        """Parse `500ms`, `2s`, `1h30m`, `30d` (and decimals such as `0.25s`); raise ValueError with a hint."""
        if not isinstance(text, str):
            raise ValueError(_bare_number_hint(text))
        stripped = text.strip()
        if len(stripped) > 64:
            raise ValueError(f"{stripped[:24]!r}... ({len(stripped)} characters) is not a Prometheus duration")
        match = _DURATION.fullmatch(stripped)
        if not stripped or not match:
            if _NUMBER.fullmatch(stripped):
                raise ValueError(_bare_number_hint(stripped))
            raise ValueError(f"{text!r} is not a Prometheus duration such as 500ms, 2s, 5m, 1h30m or 30d")
        total = sum(Fraction(v) * _UNITS_MS[u] for v, u in zip(match.groups(), _ORDER, strict=True) if v)
        if total.denominator != 1:
            raise ValueError(f"{text!r} is not a whole number of milliseconds")
        if total > MAX_MS:  # Prometheus keeps durations in int64 nanoseconds: 292 years at most
            raise ValueError(f"{text!r} is longer than 10 years, the longest duration llmmon accepts")
        return cls(int(total))


def _bare_number_hint(value: object) -> str:
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or number < 0:
        return f"expected a Prometheus duration such as 500ms, 2s or 5m, got {value!r}"
    if number != int(number):
        return f"durations need a unit: write {format_number(number)}s or {format_number(number * 1000)}ms"
    return f"durations need a unit: write {int(number)}s, {int(number)}m or {int(number)}ms, not a bare number"


class ExplicitPercent(float):
    """A percentage written with its `%` sign ("0.5%"): meant as a percent even below 1, never a ratio."""


def looks_like_ratio(value: float) -> bool:
    """True for a bare number strictly between 0 and 1 given as a percentage: 0.01 is more likely 1% than 0.01%."""
    return 0 < value < 1 and not isinstance(value, ExplicitPercent)


def parse_percent(value: object) -> float:
    """Parse 99.9 or "99.9%" to the float 99.9; booleans and other types are refused."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected a percentage such as 99.9 or \"99.9%\", got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        if not _NUMBER.fullmatch(text):
            raise ValueError(f"expected a percentage such as 99.9 or \"99.9%\", got {value!r}")
        number = ExplicitPercent(text) if value.strip().endswith("%") else float(text)
    else:
        raise ValueError(f"expected a percentage such as 99.9 or \"99.9%\", got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"expected a finite percentage, got {value!r}")
    return number


def format_number(value: float) -> str:
    """Shortest text that reads back as the same float: 0.001, 2, 14.4, 1.5e-52 (PromQL reads all of them)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)
