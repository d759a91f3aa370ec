"""Prometheus recording and alerting rules for a plan: the order of the rule groups; each concern lives in
llmmon.emit.rules (engine reading, derived series, cost, SLO windows, burn-rate and threshold alerts).

Rules are aggregated `by (model)` across the fleet: one rule per signal and engine, not one per model.
Per-model settings (objectives, minimum request rates, GPU prices) are small static series joined by
`model`; burn-rate alerts compare with their thresholds as numbers, one term per distinct objective, and
threshold alerts get one rule per distinct (threshold, tier, for), selecting their models. Groups run as often
as what they compute can change: only what the fast page reads is recomputed at every evaluation.
"""

from __future__ import annotations

from collections import defaultdict

from llmmon.emit import health, insight
from llmmon.emit.rules import burn_rate, cost, derived, engine_reading, slo_windows, static_series, thresholds
from llmmon.emit.rules.builder import Builder, RuleSet
from llmmon.emit.rules.names import (
    AVAILABILITY,
    BUDGET,
    COST_PER_HOUR,
    COST_PER_MTOK,
    CPU_CORES,
    CPU_SECONDS,
    DCGM_UTIL,
    DETAIL_EVERY,
    ERROR_RATIO,
    ERRORS,
    GAUGE_RECORDS,
    GOOD,
    GPU_COST,
    GPU_UTIL,
    GPUS,
    INFO,
    INPUT_TOKENS,
    LATENCY,
    LATENCY_MEAN,
    MAX_BURN_TERMS,
    MIN_RATE,
    OBJECTIVE,
    OUTPUT_TOKENS,
    POD_MAP_EVERY,
    POD_MAP_LOOKBACK,
    POD_MODEL,
    QUANTILES,
    REQUESTS,
    REQUESTS_1H,
    SAMPLED,
    SLO_BUCKET,
    SLO_ERRORS,
    SLO_RATIO,
    SLO_REQUESTS,
    STATIC_CHUNK,
    STATIC_EVERY,
    TOKENS,
    TOKENS_1H,
    TTFT,
)
from llmmon.engines import Histogram
from llmmon.model import Model, Plan
from llmmon.slo import MEDIUM_EVERY, SAMPLE_EVERY, SLOW_PAIR_EVERY


def _alerts(b: Builder) -> None:
    """What the alerts group evaluates every time: the fast burn-rate pairs, then the threshold alerts."""
    burn_rate.alerts(b, fast=True)
    thresholds.alerts(b)


# The plan built last and the series its rules record: the dashboards (llmmon.emit.dashboard_roles) ask for
# that set after generate has built the same plan's rules, and building them again cost a quarter of a second
# at 1000 models. Computed when the rules are built, so groups added to the RuleSet later do not change it.
_last_recorded: tuple[Plan, frozenset[str]] | None = None


def _record_names(ruleset: RuleSet) -> frozenset[str]:
    return frozenset(rule["record"] for rule in ruleset.rules if "record" in rule)


def recorded(plan: Plan) -> frozenset[str]:
    """The series the plan's rules record (built here unless `build` just built this very plan)."""
    last = _last_recorded
    if last is not None and last[0] is plan:
        return last[1]
    return _record_names(build(plan))


def build(plan: Plan) -> RuleSet:
    """Every rule group of the plan, in evaluation order."""
    global _last_recorded
    out = _build(plan)
    _last_recorded = (plan, _record_names(out))
    return out


def _build(plan: Plan) -> RuleSet:
    b = Builder(plan)
    chunks = [plan.models[i:i + STATIC_CHUNK] for i in range(0, len(plan.models), STATIC_CHUNK)]
    for n, chunk in enumerate(chunks, 1):
        b.group("static" if len(chunks) == 1 else f"static-{n:03d}", lambda ms=chunk: static_series.static(b, ms),
                interval=STATIC_EVERY)
    by_engine: dict[str, list[Model]] = defaultdict(list)
    for m in plan.models:
        by_engine[m.engine.key].append(m)
    for name, models in sorted(by_engine.items()):
        b.group(f"engine-{name}", lambda p=models[0].engine, ms=models: engine_reading.engine(b, p, ms))
        b.group(f"engine-{name}-detail", lambda p=models[0].engine, ms=models: engine_reading.engine_detail(b, p, ms),
                interval=DETAIL_EVERY)
    for name, models in sorted(by_engine.items()):  # ITL SLOs read at every evaluation (llmmon.emit.insight)
        b.group(f"engine-{name}-itl", lambda p=models[0].engine, ms=models: insight.engine_slo(b, p, ms))
    b.group("edge", lambda: engine_reading.edge(b))
    b.group("model", lambda: derived.derived(b))
    b.group("model-detail", lambda: derived.derived_detail(b), interval=DETAIL_EVERY)
    b.group("pods", lambda: cost.pod_models(b), interval=POD_MAP_EVERY)
    b.group("cost", lambda: cost.cost(b), interval=DETAIL_EVERY)
    for name, models in sorted(by_engine.items()):
        b.group(f"engine-{name}-pods", lambda p=models[0].engine, ms=models: health.engine_pods(b, p, ms),
                interval=DETAIL_EVERY)
    for name, models in sorted(by_engine.items()):
        b.group(f"engine-{name}-insight", lambda p=models[0].engine, ms=models: insight.engine(b, p, ms),
                interval=DETAIL_EVERY)
    b.group("insight", lambda: insight.fleet(b), interval=DETAIL_EVERY)
    b.group("replicas", lambda: health.replicas(b), interval=DETAIL_EVERY)
    b.group("gpu-health", lambda: health.gpus(b), interval=DETAIL_EVERY)
    b.group("slo", lambda: slo_windows.slos(b))
    for every in (MEDIUM_EVERY, SAMPLE_EVERY):
        b.group(f"slo-every{every}", lambda e=every: slo_windows.windows(b, e), interval=every)
    b.group("slo-budget", lambda: slo_windows.budget(b), interval=SLOW_PAIR_EVERY)
    b.group("alerts", lambda: _alerts(b))
    b.group("alerts-slow-burn", lambda: burn_rate.slow_alerts(b), interval=SLOW_PAIR_EVERY)
    b.group("alerts-health", lambda: health.alerts(b), interval=DETAIL_EVERY)
    return b.out


__all__ = [
    "AVAILABILITY", "BUDGET", "COST_PER_HOUR", "COST_PER_MTOK", "CPU_CORES", "CPU_SECONDS", "DCGM_UTIL",
    "DETAIL_EVERY", "ERRORS", "ERROR_RATIO", "GAUGE_RECORDS", "GOOD", "GPUS", "GPU_COST", "GPU_UTIL", "INFO",
    "INPUT_TOKENS", "LATENCY", "LATENCY_MEAN", "MAX_BURN_TERMS", "MIN_RATE", "OBJECTIVE", "OUTPUT_TOKENS",
    "POD_MAP_EVERY", "POD_MAP_LOOKBACK", "POD_MODEL", "QUANTILES", "REQUESTS", "REQUESTS_1H", "SAMPLED",
    "SLO_BUCKET", "SLO_ERRORS", "SLO_RATIO", "SLO_REQUESTS", "STATIC_CHUNK", "STATIC_EVERY", "TOKENS",
    "TOKENS_1H", "TTFT", "Histogram", "RuleSet", "build", "recorded",
]
