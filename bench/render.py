"""Synthetic series as text: promtool's input-series notation and OpenMetrics for backfilling a TSDB."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TextIO

from bench.traffic import Labels, Series, Timeline, sampled

# Counters are whole numbers where that matters (a few events a step: low traffic, rare errors); above this
# many events a step they are written as their exact integral, which promtool's `a+bxn` notation compresses.
WHOLE_BELOW = 20.0
_GRAIN = 1024.0


def _num(value: float) -> str:
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(round(value, 6))


def _dyadic(value: float) -> float:
    return round(value * _GRAIN) / _GRAIN


def encoded(s: Series, timeline: Timeline, steps: int, interval: float) -> list[float | None]:
    """The values at t = 0, interval, ..., steps × interval that promtool_values writes (None: no sample).

    promtool expands `a+bxn` by adding b n times. Counters that are not whole numbers are written as sums of
    increments that are multiples of 1/1024, so that addition is exact in floating point and a later segment's
    first value never falls below the previous one's last (which promtool would read as a counter reset).
    """
    times = [k * interval for k in range(steps + 1)]
    rates = [s.fn(b) * interval for _, b in timeline.phases if b.up] if s.kind == "counter" else []
    whole = bool(rates) and max(rates) < WHOLE_BELOW
    values = sampled(s, timeline, times, floor=whole)
    if whole or s.kind == "gauge":
        return values
    out: list[float | None] = []
    previous: float | None = None
    last: float | None = None
    for value in values:
        if value is None:
            out.append(None)
            previous = last = None
            continue
        last = _dyadic(value) if last is None or previous is None else last + _dyadic(value - previous)
        previous = value
        out.append(last)
    return out


def promtool_values(s: Series, timeline: Timeline, steps: int, interval: float) -> str:
    """The series at t = 0, interval, ..., steps × interval in promtool notation (`a+bxn`, `_`, `stale`)."""
    values = encoded(s, timeline, steps, interval)
    tokens: list[str] = []
    k = 0
    while k < len(values):
        v = values[k]
        if v is None:
            run = k
            while run < len(values) and values[run] is None:
                run += 1
            gone = k > 0 and values[k - 1] is not None
            tokens.append("stale" if gone else "_")
            blanks = run - k - 1
            if blanks:
                tokens.append(f"_x{blanks}")
            k = run
            continue
        end = k
        if k + 1 < len(values) and values[k + 1] is not None:
            step = values[k + 1] - v  # type: ignore[operator]
            end = k + 1
            while end + 1 < len(values) and values[end + 1] is not None and \
                    _close(values[end + 1] - values[end], step):  # type: ignore[operator]
                end += 1
            tokens.append(f"{_num(v)}{'+' if step >= 0 else '-'}{_num(abs(step))}x{end - k}")
        else:
            tokens.append(_num(v))
        k = end + 1
    return " ".join(tokens)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def promtool_series(s: Series) -> str:
    """The series selector as promtool's input_series reads it."""
    return s.name + "{" + ", ".join(f'{k}="{v}"' for k, v in s.labels) + "}" if s.labels else s.name


def openmetrics(items: Iterable[tuple[Series, Timeline, Labels]], times: list[int], out: TextIO) -> int:
    """Write every series (with its extra labels, e.g. job and instance) at the given Unix times; no `# EOF`.

    Returns the number of samples written.
    """
    samples = 0
    stamps = [str(t) for t in times]
    for s, timeline, extra in items:
        labels = tuple(sorted(s.labels + extra))
        prefix = Series(s.name, labels, s.kind, s.fn, s.family, s.family_type).text() + " "
        if timeline.steady and timeline.phases[0][1].up:
            behaviour = timeline.phases[0][1]
            if s.kind == "gauge":
                value = _num(s.fn(behaviour)) + " "
                lines = [prefix + value + stamp for stamp in stamps]
            else:
                rate, origin = s.fn(behaviour), timeline.origin
                if s.kind == "counter":
                    lines = [f"{prefix}{math.floor(rate * (t - origin) + 1e-9)} {stamp}"
                             for t, stamp in zip(times, stamps, strict=True)]
                else:
                    lines = [f"{prefix}{round(rate * (t - origin), 6)!r} {stamp}"
                             for t, stamp in zip(times, stamps, strict=True)]
        else:
            values = sampled(s, timeline, [float(t) for t in times])
            lines = [f"{prefix}{_num(v)} {stamp}" for v, stamp in zip(values, stamps, strict=True) if v is not None]
        if lines:
            out.write("\n".join(lines))
            out.write("\n")
            samples += len(lines)
    return samples
