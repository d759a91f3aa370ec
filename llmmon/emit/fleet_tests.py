"""promtool tests of the global tier: its input is what the clusters' rules record and remote-write, each series
with the `cluster` label their external labels add.

Scenarios: every cluster healthy (silence, a full budget, cost summed across clusters); 30% of one cluster's
requests failing (the burn-rate pairs the fleet-wide ratio calls for fire, and only those); the last cluster's
data missing, with a stray error series of it arriving alone (the data-missing alert fires for it, no burn does).
"""

from __future__ import annotations

from typing import Any

from llmmon import fleet as fleet_model
from llmmon.emit import fleet_rules, prometheus
from llmmon.model import Model, Plan
from llmmon.promql import SPEC_LABEL, eq, selector
from llmmon.slo import BURN_WINDOWS

RPS = 10.0  # requests per second of each model in each cluster
TOKENS = 1000.0  # tokens per second of each model in each cluster
BURN = 0.3  # share of failing requests in the burning cluster
EVAL_MINUTES = 30  # past every burn pair's `for` (15m) with windows filled
STEPS = EVAL_MINUTES + 5


def _series(metric: str, value: float, *matchers: tuple[str, str, str]) -> dict[str, str]:
    return {"series": selector(metric, *matchers), "values": f"{value:g}+0x{STEPS}"}


def _inputs(plan: Plan, fleet: fleet_model.Fleet, errors: dict[tuple[str, str], float],
            missing: str | None) -> list[dict[str, str]]:
    """Per-cluster recorded series of every model; `errors[(cluster, model)]` is a failing share."""
    spec = eq(SPEC_LABEL, plan.name)
    out = []
    for cluster in fleet.names:
        where = eq("cluster", cluster)
        if cluster != missing:
            out.append(_series(fleet_rules.HEARTBEAT, 1, spec, where))
        for m in (m for m in plan.models if cluster in fleet.clusters_of(m.name)):
            own = (spec, where, eq("model", m.name))
            for o in m.objectives:
                kind = eq("slo", o.kind)
                bad = errors.get((cluster, m.name), 0.0) if o.kind == "availability" else 0.0
                if cluster == missing:  # a shard of its last remote write, arriving without the requests
                    out.append(_series(fleet_rules.SLO_ERRORS_5M, RPS, *own, kind))
                    continue
                out.append(_series(fleet_rules.SLO_REQUESTS_5M, RPS, *own, kind))
                out.append(_series(fleet_rules.SLO_ERRORS_5M, round(RPS * bad, 9), *own, kind))
            if cluster != missing:
                out.append(_series(prometheus.COST_PER_HOUR, _cost(plan, fleet, cluster, m), *own,
                                   eq("currency", plan.currency)))
                out.append(_series(prometheus.TOKENS_1H, TOKENS, *own))
    return out


def _cost(plan: Plan, fleet: fleet_model.Fleet, cluster: str, m: Model) -> float:
    local = next(x for x in fleet_model.cluster_plan(plan, fleet, cluster).models if x.name == m.name)
    return round(local.gpu_hourly_cost, 9)


def _firing(plan: Plan, m: Model, ratio: float) -> list[dict[str, str]]:
    """(alertname, severity, slo) label sets of the burn pairs an availability error ratio trips."""
    out = set()
    for o in m.objectives:
        if o.kind != "availability" or m.min_request_rate > RPS:
            continue
        for pair in BURN_WINDOWS:
            if ratio > pair.factor(plan.slo_window) * o.budget:
                out.add(("ErrorBudgetBurn", pair.tier, o.kind))
    return [{"alertname": a, "severity": s, "slo": k} for a, s, k in sorted(out)]


def _alerts_check(plan: Plan, model: str | None, expected: list[dict[str, str]]) -> dict[str, Any]:
    which = [eq("model", model)] if model else [eq("alertname", fleet_rules.MISSING)]
    firing = selector("ALERTS", eq("alertstate", "firing"), eq(SPEC_LABEL, plan.name), *which)
    keys = "alertname, severity, slo" if model else "alertname, cluster"
    return {"expr": f"group by ({keys}) ({firing})", "eval_time": f"{EVAL_MINUTES}m",
            "exp_samples": [{"labels": selector("", *(eq(k, v) for k, v in sorted(e.items()))), "value": 1}
                            for e in expected]}


def _value(expr: str, value: float) -> dict[str, Any]:
    return {"expr": f"round(sum({expr}) * 1000)", "eval_time": f"{EVAL_MINUTES}m",
            "exp_samples": [{"labels": "{}", "value": round(value * 1000)}]}


def build(plan: Plan, fleet: fleet_model.Fleet, rule_file: str,
          groups: list[str]) -> list[tuple[str, dict[str, Any], int]]:
    """One promtool test file per scenario: (scenario name, content, number of assertions)."""
    spec = eq(SPEC_LABEL, plan.name)
    scenarios: list[tuple[str, str, list[dict[str, str]], list[dict[str, Any]]]] = []

    checks = [_alerts_check(plan, m.name, []) for m in plan.models] + [_alerts_check(plan, None, [])]
    for m in plan.models:
        for o in m.objectives:
            name = fleet_rules.global_name(prometheus.BUDGET)
            checks.append(_value(selector(name, spec, eq("model", m.name), eq("slo", o.kind)), 1.0))
        cost = sum(_cost(plan, fleet, c, m) for c in fleet.clusters_of(m.name))
        tokens = TOKENS * len(fleet.clusters_of(m.name)) * 3600 / 1e6
        if tokens and cost:
            checks.append(_value(selector(fleet_rules.FLEET_COST_PER_MTOK, spec, eq("model", m.name)), cost / tokens))
    scenarios.append(("healthy", "every cluster healthy", _inputs(plan, fleet, {}, None), checks))

    errors = {(fleet.clusters_of(m.name)[0], m.name): BURN for m in plan.models if fleet.clusters_of(m.name)}
    checks = []
    for m in plan.models:
        serving = len(fleet.clusters_of(m.name))
        ratio = BURN / serving if serving else 0.0
        checks.append(_alerts_check(plan, m.name, _firing(plan, m, ratio)))
        if m.objective("availability") and serving:
            name = fleet_rules.global_name(prometheus.SLO_RATIO + "1h")
            checks.append(_value(selector(name, spec, eq("model", m.name), eq("slo", "availability")), ratio))
    checks.append(_alerts_check(plan, None, []))
    scenarios.append(("one-cluster-burning", f"{BURN:.0%} of the requests fail in each model's first cluster",
                      _inputs(plan, fleet, errors, None), checks))

    missing = fleet.names[-1]
    checks = [_alerts_check(plan, m.name, []) for m in plan.models]
    checks.append(_alerts_check(plan, None, [{"alertname": fleet_rules.MISSING, "cluster": missing}]))
    scenarios.append(("cluster-missing", f"no data from cluster {missing} but a stray error series",
                      _inputs(plan, fleet, {}, missing), checks))

    out = []
    for name, description, series, assertions in scenarios:
        content = {"rule_files": [rule_file], "evaluation_interval": "1m", "group_eval_order": groups,
                   "tests": [{"name": f"{name}: {description}", "interval": "1m", "input_series": series,
                              "promql_expr_test": assertions}]}
        out.append((name, content, len(assertions)))
    return out
