"""Rules of a fleet, split by where they run (docs/fleets.md).

Per cluster: everything that reads raw series (engine rates, buckets, pods, GPUs, cost) and the threshold alerts
about that cluster alone, evaluated by the cluster's own Prometheus next to the data. They carry no `cluster`
label: the server's external labels add it to what leaves the cluster (remote write, alerts). Burn-rate alerts
are left out there; the cluster's SLO windows and budget stay, for its own dashboards.

Global: reads only those recorded per-cluster series (remote-written to a central Prometheus, or in Thanos or
Mimir): per model the requests and errors summed across clusters, then the windows, budget and burn-rate alerts
of the single-cluster rules under `fleet_` names, cost summed `by (model)`, and a "cluster data missing" alert
per declared cluster whose heartbeat stopped arriving.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from llmmon import fleet as fleet_model
from llmmon.emit import pipeline_alerts, prometheus
from llmmon.emit.rules import burn_rate, slo_windows
from llmmon.emit.rules.builder import Builder, RuleSet
from llmmon.model import Plan
from llmmon.promql import SPEC_LABEL, eq, number, quote, re_in, selector
from llmmon.slo import BURN_WINDOWS, MEDIUM_EVERY, SAMPLE_EVERY, SLOW_PAIR_EVERY
from llmmon.units import Duration

HEARTBEAT = "llmmon:fleet_heartbeat"  # vector(1) at every evaluation of a cluster's Prometheus
SLO_REQUESTS_5M = prometheus.SLO_REQUESTS + "5m"
SLO_ERRORS_5M = prometheus.SLO_ERRORS + "5m"
FLEET_COST = "fleet:llm_cost_per_hour:sum"
FLEET_TOKENS = "fleet:llm_tokens:rate1h"
FLEET_COST_PER_MTOK = "fleet:llm_cost_per_million_tokens:ratio"
MISSING = "FleetClusterDataMissing"
# A cluster whose heartbeat has not arrived for this long is missing (remote write retries for minutes first).
MISSING_AFTER = Duration.parse("3m")
MISSING_FOR = Duration.parse("2m")
# Groups of the single-cluster rules that belong to the global tier only: the slow burn-rate pairs (the fast pair,
# in group `alerts`, is dropped rule by rule). Each cluster keeps its own SLO windows and budget, recorded for its
# dashboards ("which cluster burns"); only the global tier pages on them.
GLOBAL_ONLY = ("alerts-slow-burn",)
STATIC_EVERY = prometheus.STATIC_EVERY


def global_name(name: str) -> str:
    """The global tier's name of a series the single-cluster rules record: `model:x` → `fleet:x`, `slo:x` →
    `fleet_slo:x`; never the name a cluster records, so the central store holds both apart."""
    if name.startswith("fleet"):
        return name
    level, rest = name.split(":", 1)
    return f"fleet:{rest}" if level == "model" else f"fleet_{level}:{rest}"


# What the global tier reads from the clusters: the only series their remote write needs to send.
FORWARDED = (SLO_REQUESTS_5M, SLO_ERRORS_5M, prometheus.COST_PER_HOUR, prometheus.TOKENS_1H, HEARTBEAT)


# -- per cluster ----------------------------------------------------------------------------------------------------
def cluster_rules(plan: Plan) -> tuple[RuleSet, set[str]]:
    """One cluster's rule groups (its plan from llmmon.fleet.cluster_plan), and the names left to the global tier."""
    full = prometheus.build(plan)
    pipeline = pipeline_alerts.group(plan)
    if pipeline:
        full.groups.append(pipeline)
    out = RuleSet()
    prefix = f"llmmon-{plan.name}-"
    kept_records: set[str] = set()
    for group in full.groups:
        suffix = group["name"].removeprefix(prefix)
        if suffix.startswith(GLOBAL_ONLY):
            continue
        rules, covers = [], []
        for i, rule in enumerate(group["rules"], 1):
            if rule.get("alert") == "ErrorBudgetBurn":
                continue
            rules.append(rule)
            covers.append(full.models_of.get((group["name"], i), ()))
        if rules:
            out.groups.append({**group, "rules": rules})
            for i, models in enumerate(covers, 1):
                out.models_of[(group["name"], i)] = models
            kept_records.update(r["record"] for r in rules if "record" in r)
    out.groups.insert(0, {"name": f"{prefix}fleet-heartbeat", "rules": [
        {"record": HEARTBEAT, "expr": "vector(1)", "labels": {SPEC_LABEL: plan.name}}]})
    out.models_of[(f"{prefix}fleet-heartbeat", 1)] = tuple(m.name for m in plan.models)
    dropped = {r["record"] for r in full.rules if "record" in r} - kept_records
    return out, dropped


# -- global ---------------------------------------------------------------------------------------------------------
class _Global(Builder):
    """The single-cluster builder's SLO windows, budget and burn-rate alerts, over the fleet-wide rates."""

    def __init__(self, plan: Plan, fleet: fleet_model.Fleet) -> None:
        super().__init__(replace(plan, cluster=None))
        self.fleet = fleet

    def rec(self, metric: str, *matchers: tuple[str, str, str]) -> str:
        """A selector of a series the global tier records."""
        return super().rec(global_name(metric), *matchers)

    def record(self, name: str, expr: str, models: Any, **labels: str) -> None:
        """Records under the global name."""
        super().record(global_name(name), expr, models, **labels)

    def alert(self, name: str, expr: str, for_: Duration, models: Any, labels: dict[str, str], summary: str,
              description: str) -> None:
        """Burn-rate alerts read the global objective and budget, and name the clusters burning."""
        description = re.sub(r'printf "(slo:|llmmon:)', lambda m: f'printf "fleet_{m.group(1)}', description)
        if name == "ErrorBudgetBurn":
            pair = next(p for p in BURN_WINDOWS if str(p.long) == labels["long_window"]
                        and str(p.short) == labels["short_window"] and p.tier == labels["severity"])
            description += f" Clusters burning over the last 5m: {self.burning(pair.factor(self.plan.slo_window))}."
        super().alert(name, expr, for_, models, labels, summary, description)

    def burning(self, factor: float) -> str:
        """A template listing each cluster whose own 5m ratio burns faster than `factor`, with that ratio."""
        spec = quote(self.plan.name).replace('"', '\\"')
        where = f'{SPEC_LABEL}={spec},model=\\"%s\\",slo=\\"%s\\"'
        query = (f"sum by (cluster) ({SLO_ERRORS_5M}{{{where}}}) / sum by (cluster) ({SLO_REQUESTS_5M}{{{where}}} > 0)"
                 f" > {number(factor)} * scalar(1 - {global_name(prometheus.OBJECTIVE)}{{{where}}})")
        args = " ".join(["$labels.model", "$labels.slo"] * 3)
        return (f'{{{{ range $i, $c := query (printf "{query}" {args}) }}}}{{{{ if $i }}}}, {{{{ end }}}}'
                f"{{{{ $c.Labels.cluster }}}} ({{{{ $c.Value | humanizePercentage }}}}){{{{ else }}}}none alone "
                "(the burn is spread over several clusters){{ end }}")

    # -- groups --------------------------------------------------------------------------------------------------
    def static_global(self) -> None:
        for m in self.plan.models:
            for o in m.objectives:
                self.record(prometheus.OBJECTIVE, f"vector({number(o.target)})", [m], model=m.name, slo=o.kind)
            if m.objectives:
                self.record(prometheus.MIN_RATE, f"vector({number(m.min_request_rate)})", [m], model=m.name)

    def fleet_rates(self) -> None:
        """Requests and errors of each SLO summed across the clusters; a cluster counts only while both its series
        arrive (remote write sends series in shards: one may lag the other), and replicas of one cluster's HA pair
        count once."""
        models = slo_windows.slo_models(self)
        if not models:
            return
        spec = eq(SPEC_LABEL, self.plan.name)
        for name, other in ((SLO_REQUESTS_5M, SLO_ERRORS_5M), (SLO_ERRORS_5M, SLO_REQUESTS_5M)):
            both = (f"max by (cluster, model, slo) ({selector(name, spec)})\n  and on (cluster, model, slo)\n  "
                    f"{selector(other, spec)}")
            self.record(name, f"sum by (model, slo) (\n  {both}\n)", models)
        slo_windows.windows(self, None)

    def cost_global(self) -> None:
        spec = eq(SPEC_LABEL, self.plan.name)
        models = self.plan.models
        self.record(FLEET_COST, f"sum by (model, currency) (\n  max by (cluster, model, currency) "
                    f"({selector(prometheus.COST_PER_HOUR, spec)})\n)", models)
        self.record(FLEET_TOKENS, f"sum by (model) (\n  max by (cluster, model) "
                    f"({selector(prometheus.TOKENS_1H, spec)})\n)", models)
        self.record(FLEET_COST_PER_MTOK, f"{self.rec(FLEET_COST)}\n/ on (model) group_left ()\n"
                    f"({self.rec(FLEET_TOKENS)} * 3600 / 1e6 > 0)", models)

    def missing(self) -> None:
        """One alert term per declared cluster: its heartbeat has not arrived for MISSING_AFTER."""
        terms = [f"absent_over_time({selector(HEARTBEAT, eq(SPEC_LABEL, self.plan.name), eq('cluster', c))}"
                 f"[{MISSING_AFTER}])" for c in self.fleet.names]
        summary = "cluster {{ $labels.cluster }}: no data reaches the global rules"
        description = ("No series of cluster {{ $labels.cluster }} (spec " + self.plan.name + ") have reached the "
                       f"global tier for {MISSING_AFTER}: its Prometheus is down or its remote write is failing. "
                       "Fleet-wide SLOs count the other clusters only until it is back; its own pages still fire "
                       "from its Prometheus.")
        self.alert(MISSING, "\nor\n".join(terms), MISSING_FOR, self.plan.models, {"severity": "warning"}, summary,
                   description)

    def fast_alerts(self) -> None:
        burn_rate.alerts(self, fast=True)
        self.missing()


def global_rules(plan: Plan, fleet: fleet_model.Fleet) -> RuleSet:
    """The global tier's rule groups, in evaluation order."""
    b = _Global(plan, fleet)
    b.group("global-static", b.static_global, interval=STATIC_EVERY)
    b.group("global-slo", b.fleet_rates)
    for every in (MEDIUM_EVERY, SAMPLE_EVERY):
        b.group(f"global-slo-every{every}", lambda e=every: slo_windows.windows(b, e), interval=every)
    b.group("global-slo-budget", lambda: slo_windows.budget(b), interval=SLOW_PAIR_EVERY)
    b.group("global-cost", b.cost_global, interval=prometheus.DETAIL_EVERY)
    b.group("global-alerts", b.fast_alerts)
    b.group("global-alerts-slow-burn", lambda: burn_rate.slow_alerts(b), interval=SLOW_PAIR_EVERY)
    return b.out


def remote_write(plan: Plan, cluster: str, url: str) -> dict[str, Any]:
    """The prometheus.yml keys a cluster's Prometheus (or agent) needs: the `cluster` external label and a remote
    write sending only what the global tier reads."""
    keep = {"source_labels": ["__name__", SPEC_LABEL], "action": "keep",
            "regex": f"({re_in('', FORWARDED)[2]});{re.escape(plan.name)}"}
    return {"global": {"external_labels": {"cluster": cluster}},
            "remote_write": [{"url": url, "write_relabel_configs": [keep]}]}
