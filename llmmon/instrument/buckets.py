"""Histogram bucket bounds from a spec: every SLO and alert threshold is a bound, with more bounds around it.

`histogram_quantile` interpolates inside a bucket, so a p99 near a threshold is only as exact as the bounds
around it, and a latency SLO can only be counted at a bound. The contract's own bounds stay (the rules and
dashboards may read any of them); each threshold adds itself and its neighbours at ×0.5, ×0.75, ×1.25, ×1.5.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from llmmon import contract
from llmmon.model import Plan

PRESET_NAME = "openai-compatible"  # the preset that reads llmmon/contract.py
SPREAD: tuple[float, ...] = (0.5, 0.75, 1.0, 1.25, 1.5)
# Long generations take minutes: bounds past the contract's 10 s keep their latency visible.
LATENCY_TAIL: tuple[float, ...] = (20.0, 30.0, 60.0)


class SpecProblem(ValueError):
    """The spec given to `LLMMetrics.from_spec` has errors; the message lists its diagnostics."""


@dataclass(frozen=True)
class Buckets:
    """Bucket bounds in seconds for the two histograms the rules read, and the served names of the spec's models
    that read the seed contract (their series are created at start, so the first scrape already has them)."""

    latency: tuple[float, ...] = contract.LATENCY_BUCKETS
    ttft: tuple[float, ...] = contract.TTFT_BUCKETS
    models: tuple[str, ...] = ()


def spread(base: Iterable[float], thresholds: Iterable[float]) -> tuple[float, ...]:
    """`base` plus every threshold and its neighbours, sorted, without duplicates."""
    bounds = {round(b, 9) for b in base}
    for t in thresholds:
        bounds |= {round(t * f, 9) for f in SPREAD}
    return tuple(sorted(b for b in bounds if b > 0))


def from_plan(plan: Plan) -> Buckets:
    """The bounds that contain every latency and TTFT threshold of the plan's models."""
    latency: set[float] = set()
    ttft: set[float] = set()
    for m in plan.models:
        for o in m.objectives:
            if o.threshold is not None:
                (latency if o.kind == "latency" else ttft).add(o.threshold)
        for a in m.alerts:
            if a.threshold is not None and a.key in ("latency_p99", "ttft_p95"):
                (latency if a.key == "latency_p99" else ttft).add(a.threshold)
    served = sorted({m.served_name for m in plan.models if m.engine.name == PRESET_NAME})
    return Buckets(spread(contract.LATENCY_BUCKETS + LATENCY_TAIL, sorted(latency)),
                   spread(contract.TTFT_BUCKETS, sorted(ttft)), tuple(served))


def from_spec(path: str | Path) -> Buckets:
    """Read, check and resolve a spec file as `llmmon validate` does; its bounds, or SpecProblem."""
    from llmmon.compiler import load

    plan, diagnostics = load(Path(path))
    if plan is None:
        raise SpecProblem("\n".join(d.render() for d in diagnostics))
    return from_plan(plan)
