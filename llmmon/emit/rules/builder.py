"""The rule builder every concern writes into: groups, recording and alerting rules, the models each covers, and
the PromQL pieces they share."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from llmmon.emit import alert_text
from llmmon.emit.rules.names import POD_MAP_LOOKBACK, POD_MODEL
from llmmon.engines import Gauge
from llmmon.engines.base import Matcher
from llmmon.model import Model, Plan
from llmmon.promql import SPEC_LABEL, eq, number, quote, re_in, selector
from llmmon.units import Duration


@dataclass
class RuleSet:
    """Rule groups plus, for each rule, the models it covers (to map checker messages back)."""

    groups: list[dict[str, Any]] = field(default_factory=list)
    models_of: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)

    @property
    def rules(self) -> list[dict[str, Any]]:
        """Every rule of every group."""
        return [rule for group in self.groups for rule in group["rules"]]


class Builder:
    """Rule groups being built for one plan; the concern modules (llmmon.emit.rules.*) add their rules to it."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.out = RuleSet()
        self.base = {SPEC_LABEL: plan.name, **({"cluster": plan.cluster} if plan.cluster else {})}
        self.rules: list[dict[str, Any]] = []
        self.covers: list[tuple[str, ...]] = []

    # -- helpers ---------------------------------------------------------------------------------
    def rec(self, metric: str, *matchers: tuple[str, str, str]) -> str:
        """A selector of a series llmmon records for this spec."""
        return selector(metric, eq(SPEC_LABEL, self.plan.name), *matchers)

    def among(self, models: Iterable[Model], kind: str | None = None,
              within: Iterable[Model] | None = None) -> list[Matcher]:
        """A matcher selecting `models` among the spec's recorded series (of SLO `kind`: only models with that
        objective have them; `within`: series only those models have, e.g. one engine's); none when they are all
        of them (a regex of every model name costs Prometheus a lookup per name at every evaluation)."""
        names = {m.name for m in models}
        every = {m.name for m in (self.plan.models if within is None else within) if kind is None or m.objective(kind)}
        return [] if names >= every else [re_in("model", names)]

    def group(self, suffix: str, build: Any, interval: Duration | None = None) -> None:
        self.rules, self.covers = [], []
        build()
        if self.rules:
            name = f"llmmon-{self.plan.name}-{suffix}"
            every = {"interval": str(interval)} if interval else {}
            self.out.groups.append({"name": name, **every, "rules": self.rules})
            for i, models in enumerate(self.covers):
                self.out.models_of[(name, i + 1)] = models
        self.rules, self.covers = [], []

    def record(self, name: str, expr: str, models: Iterable[Model], **labels: str) -> None:
        self.rules.append({"record": name, "expr": expr, "labels": dict(sorted({**self.base, **labels}.items()))})
        self.covers.append(tuple(m.name for m in models))

    def alert(self, name: str, expr: str, for_: Duration, models: Iterable[Model], labels: dict[str, str],
              summary: str, description: str) -> None:
        annotations = {"summary": summary, "description": description,
                       **alert_text.links(self.plan, name, per_slo=name == "ErrorBudgetBurn")}
        rule: dict[str, Any] = {"alert": name, "expr": expr}
        if for_.ms:
            rule["for"] = str(for_)
        rule["labels"] = dict(sorted({**self.base, **labels}.items()))
        rule["annotations"] = annotations
        self.rules.append(rule)
        self.covers.append(tuple(m.name for m in models))


    def pod_join(self, models: Iterable[Model]) -> str:
        """Joins a per-pod series to the pods' models (recorded by llmmon.emit.rules.cost.pod_models)."""
        # topk keeps one model per pod while a spec change moves a pod: both mappings are then in the lookback.
        mapping = f"last_over_time({self.rec(POD_MODEL, *self.among(models))}[{POD_MAP_LOOKBACK}])"
        return f"* on (namespace, pod) group_left (model)\n  topk by (namespace, pod) (1, {mapping})"

    _pod_join = pod_join  # the name llmmon.emit.health calls

    def pods_to_models(self, series: str, how: str, models: Iterable[Model]) -> str:
        """`how` (max, sum or avg) by model of a per-GPU (or per-container) series: aggregated by pod first, so
        that the join to the models touches one series per pod, not one per GPU. An average is the sum over
        the count, exact when a model's pods hold different numbers of GPUs."""
        join = self.pod_join(models)
        if how != "avg":
            return f"{how} by (model) (\n  {how} by (namespace, pod) ({series})\n  {join}\n)"
        join = join.replace("\n", "\n  ")
        return (f"(\n  sum by (model) (\n    sum by (namespace, pod) ({series})\n    {join}\n  )\n  / on (model)\n"
                f"  sum by (model) (\n    count by (namespace, pod) ({series})\n    {join}\n  )\n)")


def union(terms: list[str], op: str) -> str:
    """`a op b op c ...` nested as a balanced tree: Prometheus matches each `or` against everything on its left,
    so a flat chain of n terms costs n²/2 label hashes, a balanced one n·log n. Left terms still win."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    left, right = union(terms[:half], op), union(terms[half:], op)
    return f"{left if half == 1 else f'({left})'}\n{op}\n{right if len(terms) - half == 1 else f'({right})'}"


def per_model(m: Model, expr: str) -> str:
    return f"label_replace({expr}, \"model\", {quote(m.name)}, \"\", \"\")"


def scaled(expr: str, gauge: Gauge) -> str:
    return expr if gauge.scale == 1 else f"{expr} * {number(gauge.scale)}"


def pct(ratio: float | None) -> str:
    return f"{number(round((ratio or 0) * 100, 9))}%"

