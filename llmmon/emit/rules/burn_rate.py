"""Burn-rate alerts: multi-window pairs on the SLO windows, one term per class of models sharing an SLO kind,
objective and minimum request rate (or, past MAX_BURN_TERMS classes, one term joining the objective series)."""

from __future__ import annotations

from collections import defaultdict

from llmmon import slo
from llmmon.emit import alert_text
from llmmon.emit.rules.builder import Builder
from llmmon.emit.rules.names import MAX_BURN_TERMS, MIN_RATE, OBJECTIVE, SLO_RATIO, SLO_REQUESTS
from llmmon.emit.rules.slo_windows import read, slo_models
from llmmon.engines.base import Matcher
from llmmon.model import Model
from llmmon.promql import eq, number
from llmmon.slo import BURN_WINDOWS, BurnWindow


def slow_alerts(b: Builder) -> None:
    """The burn-rate pairs reading windows a slower group recomputes: evaluated every SLOW_PAIR_EVERY, as their
    inputs change every 5m or 30m."""
    alerts(b, fast=False)


def alerts(b: Builder, fast: bool) -> None:
    """One rule per burn-rate pair whose windows are all recomputed at every evaluation (`fast`) or not.
    Models sharing an SLO kind, objective and minimum request rate form one term comparing with constants
    (Prometheus compares a series with a number far faster than it joins it to a per-model threshold series):
    three terms for a fleet whose models share their objectives."""
    covered = slo_models(b)
    classes: dict[tuple[str, float, float], list[Model]] = defaultdict(list)
    for m in covered:
        for o in m.objectives:
            classes[(o.kind, o.budget, m.min_request_rate)].append(m)
    if not classes:
        return
    window = b.plan.slo_window
    joined = len(classes) > MAX_BURN_TERMS  # objectives set model by model: join them instead
    for pair in (p for p in BURN_WINDOWS if slo.live(p) == fast):
        factor = number(pair.factor(window))
        if joined:
            over = f"on (model, slo) group_left () ({factor} * (1 - {b.rec(OBJECTIVE)}))"
            terms = [term(b, pair, [], over, f"on (model) group_left () {b.rec(MIN_RATE)}")]
        else:
            terms = []
            for (kind, budget, min_rate), models in sorted(classes.items()):
                threshold = round(pair.factor(window) * budget, 12)
                terms.append(term(b, pair, [eq("slo", kind), *b.among(models, kind)], number(threshold),
                                  number(min_rate)))
        spent = f"{number(round(pair.budget_fraction * 100, 6))}%"
        text = alert_text.burn(b.plan, factor, str(pair.long), str(pair.short), spent)
        b.alert("ErrorBudgetBurn", "\nor\n".join(terms if len(terms) == 1 else (f"({t})" for t in terms)),
                pair.for_, covered, pair_labels(pair), text["summary"], text["description"])


def term(b: Builder, pair: BurnWindow, which: list[Matcher], over: str, enough: str) -> str:
    """Both windows of `pair` above `over` while the long window's request rate is at least `enough`."""
    return (f"(\n  {read(b, SLO_RATIO, pair.long, *which)} > {over}\n  and on (model, slo)\n  "
            f"{read(b, SLO_RATIO, pair.short, *which)} > {over}\n)\nand on (model, slo)\n"
            f"{read(b, SLO_REQUESTS, pair.long, *which)} >= {enough}")


def pair_labels(pair: BurnWindow) -> dict[str, str]:
    """What tells burn-rate pairs' alerts apart."""
    return {"severity": pair.tier, "long_window": str(pair.long), "short_window": str(pair.short)}


