"""What the Grafana dashboards show, as plain data: boards, rows, panels, queries and the spec's thresholds.

The role builders (dashboard_roles.py) describe panels with these types; grafana.py renders them with
grafanalib. Every query reads series the generated rules record (`Context.sel`), filtered by the
dashboard variables, so panels are cheap and never query raw histograms.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmmon.emit import prometheus as p
from llmmon.model import SLO_KINDS, Plan
from llmmon.promql import SPEC_LABEL, eq, number, quote, regex_of, selector
from llmmon.slo import BURN_WINDOWS

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# Grafana's built-in currency units; any other ISO code is shown as a suffix.
CURRENCY_UNITS = ("USD", "GBP", "EUR", "JPY", "RUB", "UAH", "BRL", "DKK", "ISK", "NOK", "SEK", "CZK", "CHF", "PLN")
TOKENS_PER_S = "suffix: tok/s"
GOOD, BAD, WARN, NOTICE = "green", "red", "orange", "yellow"


@dataclass(frozen=True)
class Query:
    """One PromQL query of a panel; `instant` for tables and single values."""

    expr: str
    legend: str = "{{model}}"
    instant: bool = False
    column: str = ""  # tables: the title of this query's value column ("" hides it)
    unit: str | None = None  # tables: the column's unit, when not the panel's
    steps: tuple[tuple[str, float | None], ...] = ()  # tables: the column's colour thresholds


@dataclass(frozen=True)
class Limit:
    """A threshold of the spec for some models: one value per model, and which side of it is bad."""

    by_model: tuple[tuple[str, float], ...]
    bad_below: bool = False
    suffix: str = ""  # legend suffix of the series it applies to (" p99"), "" for every series of a model
    complete: bool = True  # every model of the spec has it

    @property
    def values(self) -> list[float]:
        """The distinct threshold values, ascending."""
        return sorted({v for _, v in self.by_model})


@dataclass(frozen=True)
class Panel:
    """A panel: its kind (timeseries, stat, gauge, table), queries, unit and the thresholds it draws."""

    kind: str
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    width: int = 12
    height: int = 8
    limit: Limit | None = None  # thresholds from the spec, per model where they differ
    steps: tuple[tuple[str, float | None], ...] = ()  # fixed thresholds (colour, from value) when no limit
    dashed: str | None = None  # regex of whole series names drawn dashed (Grafana anchors it: ".* objective")
    stacked: bool = False
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    labels: tuple[str, ...] = ("model",)  # tables: the label columns, in order
    sort: tuple[str, bool] | None = None  # tables: (column, descending) to sort rows by
    no_value: str | None = None


@dataclass(frozen=True)
class Row:
    """A titled row of panels."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Board:
    """One role's dashboard."""

    role: str
    title: str
    summary: str  # what the board is for, after the generated-by text in its description
    rows: tuple[Row, ...]
    time_from: str = "now-6h"


class Context:
    """Selectors and thresholds of one plan, for the role builders."""

    def __init__(self, plan: Plan, recorded: set[str]) -> None:
        self.plan = plan
        self.recorded = recorded

    def has(self, *names: str) -> bool:
        """True when the rules record every one of these series."""
        return all(n in self.recorded for n in names)

    def tokens(self) -> bool:
        """True when some model's engine counts tokens (token and cost-per-token series can have data)."""
        return self.has(p.INPUT_TOKENS) or self.has(p.OUTPUT_TOKENS)

    def scope(self) -> list[tuple[str, str, str]]:
        """Matchers every query carries: this spec, the selected cluster and models."""
        base = [eq(SPEC_LABEL, self.plan.name)]
        if self.plan.cluster:
            base.append(eq("cluster", "$cluster"))
        return [*base, ("model", "=~", "$model")]

    def sel(self, metric: str, *matchers: tuple[str, str, str]) -> str:
        """A recorded series of this spec, limited to the dashboard's selection."""
        return selector(metric, *self.scope(), *matchers)

    def by_model(self, metric: str, *matchers: tuple[str, str, str], how: str = "max",
                 keys: str = "model") -> str:
        """One series per model (or per `keys`), whatever other labels the recorded series carry."""
        return f"{how} by ({keys}) ({self.sel(metric, *matchers)})"

    def alerts(self) -> str:
        """Firing alerts of this spec's rules for the selected models."""
        return selector("ALERTS", eq("alertstate", "firing"), *self.scope())

    def limit(self, key: str, bad_below: bool = False, suffix: str = "") -> Limit | None:
        """The threshold of an alert key for every model that has the alert enabled."""
        values = tuple((m.name, round(a.threshold, 9)) for m in self.plan.models
                       if (a := m.alert(key)) and a.threshold is not None)
        return Limit(values, bad_below, suffix, len(values) == len(self.plan.models)) if values else None

    def uniform(self, key: str, bad_below: bool = False) -> Limit | None:
        """The alert's threshold when every model shares it (for panels that aggregate across models)."""
        limit = self.limit(key, bad_below)
        if limit and len(limit.values) == 1 and limit.complete:
            return limit
        return None

    def currency_unit(self) -> str:
        """Grafana's unit for the spec's currency."""
        code = self.plan.currency
        return f"currency{code}" if code in CURRENCY_UNITS else f"suffix: {code}"

    def burn_steps(self, tier: str) -> tuple[tuple[str, float | None], ...]:
        """Threshold steps at the burn-rate factors of a tier's window pairs (derived from slo_window)."""
        factors = sorted(pair.factor(self.plan.slo_window) for pair in BURN_WINDOWS if pair.tier == tier)
        colours = (WARN, BAD) if tier == "critical" else (NOTICE, WARN)
        return ((GOOD, None), *zip(colours, factors, strict=False))

    def burn_rate(self, window: str) -> str:
        """Burn rate over a recorded window: error ratio / error budget, per model and SLO."""
        ratio = self.by_model(p.SLO_RATIO + window, keys="model, slo")
        objective = self.by_model(p.OBJECTIVE, keys="model, slo")
        return f"{ratio}\n/ on (model, slo)\n(1 - {objective})"

    def slo_kinds(self) -> list[str]:
        """The SLO kinds some model has, in the spec's order."""
        kinds = {o.kind for m in self.plan.models for o in m.objectives}
        return [k for k in SLO_KINDS if k in kinds]

    def objective_text(self, kind: str) -> str:
        """The objectives of a kind and the models that have each, for panel descriptions."""
        groups: dict[str, list[str]] = {}
        for m in self.plan.models:
            o = m.objective(kind)
            if o:
                bound = f" within {number(o.threshold)}s" if o.threshold is not None else ""
                groups.setdefault(f"{number(round(o.target * 100, 9))}%{bound}", []).append(m.name)
        return "; ".join(f"{text} ({few(names)})" for text, names in groups.items())

    def gpu_memory(self) -> tuple[str, str] | None:
        """Used GPU memory per model from the GPU exporter, joined like the utilisation rule; with its unit."""
        kind = self.plan.gpu_exporter
        terms = []
        for m in self.plan.models:
            if not m.gpu_type:
                continue
            pods = ("pod", "=~", m.pods)
            if kind == "dcgm":
                inner = f"sum({selector('DCGM_FI_DEV_FB_USED', eq('namespace', m.namespace), pods)})"
            elif kind == "nvml":
                nodes = f"max by (node) ({selector('kube_pod_info', eq('namespace', m.namespace), pods)})"
                inner = f"sum(nvidia_smi_memory_used_bytes * on (node) group_left () {nodes})"
            else:
                return None
            terms.append(f"label_replace({inner}, \"model\", {quote(m.name)}, \"\", \"\")")
        if not terms:
            return None
        expr = "(\n  " + "\n  or\n  ".join(terms) + f"\n)\nand on (model)\n{self.sel(p.INFO)}"
        return expr, "mbytes" if kind == "dcgm" else "bytes"


def few(names: list[str], shown: int = 5) -> str:
    """Names for a description: the first few, then how many more."""
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def model_regex(names: list[str]) -> str:
    """A regex (JavaScript and RE2) matching exactly these model names."""
    return regex_of(names)


def generated_description(head: str, summary: str) -> str:
    """A dashboard description: the generated-by text on one line, then what the board is for."""
    return " ".join(head.split()) + " " + summary

