"""promtool unit tests for the generated rules: scripted scenarios, each asserting exactly which alerts fire.

Every scenario feeds every model synthetic raw series in its engine's own metric names. For each model
the test asserts the full set of firing alerts (alertname, severity, slo), so an alert that fails to fire
and one that fires when it should not both fail the test. Healthy and idle scenarios expect silence. An alert
whose `for` passes FIRING_HORIZON_MS is asserted pending instead: the scenario stops before its `for` is over.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from llmmon.emit import prometheus as rules
from llmmon.emit.prom_test_load import (
    CPU_CORES,
    EVAL_MINUTES,
    FIRING_HORIZON_MS,
    STEP_MINUTES,
    TOKENS_IN,
    TOKENS_OUT,
    Load,
    bounds,
    healthy,
    limits_of,
    pod_names,
)
from llmmon.emit.prom_test_scenarios import SCENARIOS
from llmmon.emit.prom_test_series import Series
from llmmon.emit.prom_test_shapes import representatives, scenario_models
from llmmon.engines import Histogram
from llmmon.model import Model, Plan
from llmmon.promql import SPEC_LABEL, eq, number, selector
from llmmon.slo import BURN_WINDOWS


def _value_checks(plan: Plan, scenario: str, m: Model, load: Load, eval_time: str) -> list[dict[str, Any]]:
    """Assertions on recorded values, in the scenarios where they are known exactly."""
    spec, one = eq(SPEC_LABEL, plan.name), eq("model", m.name)

    def check(metric: str, scale: float, expected: float, *extra: tuple[str, str, str]) -> dict[str, Any]:
        # round() of the scaled value, shifted so that the expected value sits on an integer: float noise in
        # Prometheus cannot flip the rounding (a .5 tie could), and a failure still prints the value it read
        scaled = expected * scale
        shift = float(f"{scaled - round(scaled):.6g}")
        offset = f" - {number(shift)}" if shift > 0 else f" + {number(-shift)}" if shift < 0 else ""
        expr = f"round(sum({selector(metric, spec, one, *extra)}) * {number(scale)}{offset})"
        sample = {"labels": "{}", "value": round(scaled)}
        return {"expr": expr, "eval_time": eval_time, "exp_samples": [sample]}

    if not load.present:
        return []
    error_ratio = load.model_error_ratio(len(pod_names(m)))
    out = [check(rules.ERROR_RATIO, 1e6, error_ratio)]
    if o := m.objective("availability"):
        out.append(check(rules.BUDGET, 1e3, 1 - error_ratio / o.budget, eq("slo", "availability")))
    if scenario == "healthy":
        cpu = CPU_CORES * (plan.cpu_core_hourly or 0)
        tokens_per_hour = (TOKENS_IN + TOKENS_OUT) * 3600 / 1e6
        if m.engine.input_tokens and m.engine.output_tokens:
            out.append(check(rules.COST_PER_MTOK, 1e3, (m.gpu_hourly_cost + cpu) / tokens_per_hour))
        if m.engine.latency:
            out.append(check(rules.LATENCY + ":p99", 1e3, _quantile(m.engine.latency, load, 0.99, m, "latency")))
    return out


def _quantile(h: Histogram, load: Load, q: float, m: Model, kind: str) -> float:
    """What histogram_quantile returns (seconds) for the buckets Series writes: all in one bucket."""
    limits = limits_of(m, "latency_p99" if kind == "latency" else "ttft_p95", kind)
    value = load.latency if kind == "latency" else load.ttft
    lower = max((b for b in bounds(h, value, limits) if b < value), default=0.0)
    return lower + (value - lower) * q


def _pending(m: Model, expected: dict[str, str]) -> int:
    """The `for` (ms) of an expected alert."""
    if expected["alertname"] == "ErrorBudgetBurn":
        return max(p.for_.ms for p in BURN_WINDOWS if p.tier == expected["severity"])
    return next(a.for_.ms for a in m.alerts if a.name == expected["alertname"])


def _key(expected: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(expected.items()))


def _samples(expected: Iterable[dict[str, str]]) -> list[dict[str, Any]]:
    return [{"labels": selector("", *(eq(k, v) for k, v in sorted(e.items()))), "value": 1} for e in expected]


def build(plan: Plan, rule_file: str, groups: list[str]) -> Iterator[tuple[str, dict[str, Any], int]]:
    """One promtool test file per scenario: (scenario name, file content, number of assertions), one at a time:
    a fleet's scenario holds hundreds of thousands of series, so the caller writes each out before the next.

    `groups` are the rule groups in dependency order: promtool evaluates groups in a random order unless told,
    and a chain of recording rules evaluated backwards lags one evaluation per link."""
    fors = [a.for_.ms for m in plan.models for a in m.alerts] + [p.for_.ms for p in BURN_WINDOWS]
    longest = max(f for f in fors if f <= FIRING_HORIZON_MS)
    healthy_load = {m.name: healthy(m, plan) for m in plan.models}
    names: dict[tuple[Any, ...], str] = {}  # series text, shared by the scenarios
    shapes = representatives(plan.models)
    for scenario in SCENARIOS:
        models = scenario_models(scenario.name, plan.models, shapes)
        expectations = {m.name: sorted(scenario.expect(m, plan), key=lambda e: sorted(e.items()))
                        for m in models}
        # Run until every expected alert has been pending its `for` (silent scenarios: every alert's), plus
        # 20 minutes of rates settling; the healthy scenario also needs a full hour of steady traffic
        # behind it for the 1h token rate of the cost check.
        needed = max((_pending(m, e) for m in models for e in expectations[m.name]
                      if _pending(m, e) <= FIRING_HORIZON_MS), default=longest)
        eval_minutes = max(30, needed // 60000 + 20, 70 if scenario.name == "healthy" else 0)
        eval_minutes = -(-eval_minutes // EVAL_MINUTES) * EVAL_MINUTES  # on the evaluation grid
        steps, eval_time = eval_minutes + 1, f"{eval_minutes}m"
        series = Series(plan, steps, names)
        checks: list[dict[str, Any]] = []
        for m in models:
            load = scenario.load(m, healthy_load[m.name])
            series.model(m, load)
            expected = expectations[m.name]
            held = {_key(e): _pending(m, e) <= FIRING_HORIZON_MS for e in expected}
            firing = selector("ALERTS", eq("alertstate", "firing"), eq(SPEC_LABEL, plan.name), eq("model", m.name))
            checks.append({"expr": f"group by (alertname, severity, slo) ({firing})", "eval_time": eval_time,
                           "exp_samples": _samples(e for e in expected if held[_key(e)])})
            if late := [a for a in m.alerts if a.for_.ms > FIRING_HORIZON_MS]:
                pending = " or ".join(selector("ALERTS", eq("alertstate", "pending"), eq(SPEC_LABEL, plan.name),
                                               eq("model", m.name), eq("alertname", a.name), eq("severity", a.tier))
                                      for a in late)
                checks.append({"expr": f"group by (alertname, severity, slo) ({pending})", "eval_time": eval_time,
                               "exp_samples": _samples(e for e in expected if not held[_key(e)])})
            checks.extend(_value_checks(plan, scenario.name, m, load, eval_time))
        group = {"name": f"{scenario.name}: {scenario.description}", "interval": f"{STEP_MINUTES}m",
                 "input_series": series.items, "promql_expr_test": checks}
        content = {"rule_files": [rule_file], "evaluation_interval": f"{EVAL_MINUTES}m",
                   "group_eval_order": groups, "tests": [group]}
        yield scenario.name, content, len(checks)


__all__ = ["SCENARIOS", "build", "healthy", "pod_names"]
