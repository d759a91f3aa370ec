"""SLO windows: per SLO kind the request and error rates, averaged over every window the burn-rate pairs and the
SLO window need, each recomputed at its cadence (llmmon.slo); the availability and error-budget series."""

from __future__ import annotations

import re
from collections import defaultdict

from llmmon.emit import insight
from llmmon.emit.rules.builder import Builder
from llmmon.emit.rules.names import (
    AVAILABILITY,
    BUDGET,
    ERRORS,
    GOOD,
    LATENCY,
    OBJECTIVE,
    REQUESTS,
    SAMPLED,
    SLO_BUCKET,
    SLO_ERRORS,
    SLO_RATIO,
    SLO_REQUESTS,
    TTFT,
)
from llmmon.engines import Histogram, le_matcher
from llmmon.engines.base import Matcher
from llmmon.model import Model, Objective
from llmmon.promql import eq, number
from llmmon.slo import BASE_WINDOW, SAMPLE_EVERY, cadence, edge_weight, recorded_windows, slo_histogram
from llmmon.units import Duration


def slos(b: Builder) -> None:
    def having(kind: str) -> list[Model]:
        return [m for m in b.plan.models if m.objective(kind)]

    sources = {"availability": (REQUESTS, ERRORS), "latency": (LATENCY, None), "ttft": (TTFT, None),
               "itl": (insight.ITL, None)}
    for kind, (source, errors) in sources.items():
        models = having(kind)
        if not models:
            continue
        own = b.among(models)
        if errors:
            b.record(SLO_REQUESTS + "5m", b.rec(source, *own), models, slo=kind)
            b.record(SLO_ERRORS + "5m", b.rec(errors, *own), models, slo=kind)
            continue
        # Models are grouped by the recorded histogram they use (its unit) and the bucket of their threshold;
        # each group is one term of a single rule: two rules may not record the same name and labels.
        groups: dict[tuple[str, Matcher], list[Model]] = defaultdict(list)
        for m in models:
            histogram = slo_histogram(m.engine, kind)
            objective = m.objective(kind)
            assert histogram is not None and objective is not None
            groups[(histogram_record(source, histogram), threshold_le(histogram, objective))].append(m)
        totals: dict[str, list[Model]] = defaultdict(list)
        terms = []
        for (name, le), group in sorted(groups.items()):
            totals[name].extend(group)
            sel = b.among(group)
            good = b.rec(name + SLO_BUCKET, *sel, le)
            terms.append(f"clamp_min(\n  {b.rec(name + '_count:rate5m', *sel)}\n"
                         f"  - on (model) group_left ()\n  sum by (model) ({good}),\n  0\n)")
        requests = [b.rec(name + "_count:rate5m", *b.among(ms))
                    for name, ms in sorted(totals.items())]
        b.record(SLO_REQUESTS + "5m", "\nor\n".join(requests), models, slo=kind)
        b.record(SLO_ERRORS + "5m", "\nor\n".join(terms), models, slo=kind)
    windows(b, None)


def slo_models(b: Builder) -> list[Model]:
    return [m for m in b.plan.models if m.objectives]


def windows(b: Builder, every: Duration | None) -> None:
    """The SLO windows recomputed at one cadence (None: every evaluation); see llmmon.slo."""
    models = slo_models(b)
    if not models:
        return
    if every == SAMPLE_EVERY:  # the 30m window sampled at this cadence: what the longer windows average
        for name in (SLO_REQUESTS, SLO_ERRORS):
            b.record(name + SAMPLED, read(b, name, SAMPLE_EVERY), models)
    for window in (w for w in recorded_windows(b.plan.slo_window) if cadence(w) == every):
        if window != BASE_WINDOW:
            for name in (SLO_REQUESTS, SLO_ERRORS):
                b.record(window_record(name, window), average(b, name, window, every == SAMPLE_EVERY), models)
        req = b.rec(window_record(SLO_REQUESTS, window))
        errors = b.rec(window_record(SLO_ERRORS, window))
        b.record(window_record(SLO_RATIO, window), f"{errors}\n/\n({req} > 0)\nor\n0 * {req}", models)


def average(b: Builder, name: str, window: Duration, sampled: bool) -> str:
    """A window of an SLO rate: the average of the 30m samples, or of the 5m rates with its edge term
    (llmmon.slo.edge_weight)."""
    if sampled:
        return f"avg_over_time({b.rec(name + SAMPLED)}[{window}])"
    rate = b.rec(name + str(BASE_WINDOW))
    return (f"avg_over_time({rate}[{window}])\n+\n{number(edge_weight(window))}\n* (\n  {rate}\n"
            f"  - (\n    {rate} offset {window}\n    or\n    0 * {rate}\n  )\n)")


def budget(b: Builder) -> None:
    """Every window a slower group recomputes, copied for dashboards every SLOW_PAIR_EVERY; availability, budget."""
    models = slo_models(b)
    if not models:
        return
    for window in recorded_windows(b.plan.slo_window):
        if cadence(window):
            b.record(SLO_RATIO + str(window), read(b, SLO_RATIO, window), models)
    ratio = b.rec(SLO_RATIO + str(b.plan.slo_window))
    b.record(GOOD, f"1 - {ratio}", models)
    if available := [m for m in models if m.objective("availability")]:
        # The design's name: availability only, one series per model (no `slo` label to sum across by mistake).
        errors = b.rec(SLO_RATIO + str(b.plan.slo_window), eq("slo", "availability"))
        b.record(AVAILABILITY, f"1 - max without (slo) ({errors})", available)
    b.record(BUDGET, f"1 - {ratio}\n/ on (model, slo) group_left ()\n(1 - {b.rec(OBJECTIVE)})", models)


def read(b: Builder, name: str, window: Duration, *matchers: Matcher) -> str:
    """A window's latest value, wherever its cadence records it."""
    latest, every = b.rec(window_record(name, window), *matchers), cadence(window)
    return latest if every is None else f"last_over_time({latest}[{Duration(every.ms * 2)}])"



def slo_bounds(base: str, histogram: Histogram, models: list[Model]) -> Matcher | None:
    """The `le` matcher of every bucket an SLO threshold of these models falls on, or None without such SLOs."""
    kind = "latency" if base == LATENCY else "ttft"
    alternatives: list[str] = []
    for m in models:
        if objective := m.objective(kind):
            _, op, value = threshold_le(histogram, objective)
            alternatives.append(value if op == "=~" else re.escape(value))
    return ("le", "=~", "|".join(sorted(set(alternatives)))) if alternatives else None


def threshold_le(histogram: Histogram, objective: Objective) -> Matcher:
    """The `le` matcher of the bucket a latency or TTFT objective's threshold falls on."""
    assert objective.threshold is not None
    native = histogram.bucket_at(objective.threshold)
    assert native is not None  # checked when the spec was resolved
    return le_matcher(histogram, native)


def histogram_record(base: str, histogram: Histogram) -> str:
    """The recorded name of a histogram: `base` for seconds, `..._ms` for millisecond histograms."""
    return base if histogram.scale == 1 else base.replace("_seconds", "_ms")


def window_record(name: str, window: Duration) -> str:
    """Where a window of an SLO series is recorded: `<name><window>`, suffixed `_every<cadence>` when a slower
    group recomputes it (llmmon.slo.cadence)."""
    every = cadence(window)
    return f"{name}{window}" + (f"_every{every}" if every else "")

