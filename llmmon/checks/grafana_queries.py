"""Queries of the generated dashboards: PromQL that parses and reads only series something produces.

A query may read a series the generated rules record (with label values those rules can produce), one a
model's engine or the GPU exporter exports, or ALERTS of a generated alert; anything else stays empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from llmmon.engines import Preset
from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle

# Series the GPU exporters publish that dashboards may read; kube_pod_info (kube-state-metrics) joins
# nvidia_gpu_exporter's node-level series to pods, as the utilisation rule does.
EXPORTER_METRICS = {
    "dcgm": frozenset({"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
                       "DCGM_FI_DEV_MEM_COPY_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP"}),
    "nvml": frozenset({"nvidia_smi_utilization_gpu_ratio", "nvidia_smi_memory_used_bytes",
                       "nvidia_smi_memory_total_bytes", "nvidia_smi_memory_free_bytes", "nvidia_smi_power_draw_watts",
                       "kube_pod_info"}),
    "none": frozenset(),
}
# Values Grafana substitutes for its built-in variables, for parsing only.
BUILTIN = {"__rate_interval": "5m", "__interval": "1m", "__interval_ms": "60000", "__range": "1h",
           "__range_s": "3600", "__range_ms": "3600000", "__auto": "1m"}
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>[A-Za-z_][A-Za-z0-9_]*)\s*\)$", re.S)


def iter_panels(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard, rows' nested panels included."""
    for panel in data.get("panels") or []:
        if isinstance(panel, dict):
            yield panel
            yield from (p for p in panel.get("panels") or [] if isinstance(p, dict))


def panel_name(panel: dict[str, Any]) -> str:
    """How findings name a panel: its title and id."""
    return f"panel {panel.get('title', '?')!r} (id {panel.get('id', '?')})"


class Known:
    """What a dashboard may query: recorded series (with the static labels of their rules), engine and
    exporter metrics, and the generated alerts."""

    def __init__(self, rules: dict[str, list[dict[str, str]]], exported: dict[str, str], alerts: set[str]) -> None:
        self.rules, self.exported, self.alerts = rules, exported, alerts

    @classmethod
    def of(cls, bundle: Bundle, plan: Plan) -> Known:
        """From the bundle's rules and the plan's engines and GPU exporter."""
        rules: dict[str, list[dict[str, str]]] = {}
        alerts = set()
        for rule in [r for rs in (bundle.ruleset, *bundle.more_rules.values()) for r in rs.rules]:  # a fleet: all tiers
            if "record" in rule:
                rules.setdefault(rule["record"], []).append(dict(rule.get("labels") or {}))
            else:
                alerts.add(rule["alert"])
        exported: dict[str, str] = {}
        for model in plan.models:
            for metric in engine_metrics(model.engine):
                exported.setdefault(metric, f"engine {model.engine.name}")
        for metric in EXPORTER_METRICS.get(plan.gpu_exporter, frozenset()):
            exported.setdefault(metric, f"GPU exporter {plan.gpu_exporter}")
        return cls(rules, exported, alerts)


def engine_metrics(preset: Preset) -> set[str]:
    """Every series name an engine preset exposes, histogram series included."""
    counters = (preset.requests, preset.errors, preset.input_tokens, preset.output_tokens, preset.latency_sum)
    names = {name for c in counters if c for name in c.names}
    for histogram in (preset.latency, preset.ttft):
        if histogram:
            names |= {histogram.metric + s for s in ("_bucket", "_count", "_sum")}
    if preset.gpu_utilization:
        names.add(preset.gpu_utilization.metric)
    names |= {g.metric for g in preset.gauges.values()}
    return names


def expand(expr: str, variables: dict[str, str]) -> tuple[str, list[str]]:
    """The query as Grafana sends it, with sample values for its variables; and any unknown variables."""
    unknown: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        if name in BUILTIN:
            return BUILTIN[name]
        if name not in variables:
            unknown.append(name)
            return match.group()
        return variables[name]

    return _VARIABLE.sub(value, expr), unknown


def _selectors(expr: str) -> list[tuple[str | None, list[tuple[str, str, str]]]]:
    import promql_parser

    found: list[tuple[str | None, list[tuple[str, str, str]]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = [(m.name, str(m.op).rsplit(".", 1)[-1], m.value) for m in node.matchers.matchers]
            found.append((node.name, matchers))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def query_findings(rel: str, data: dict[str, Any], known: Known, plan: Plan) -> tuple[list[str], int]:
    """Queries that do not parse or read series nothing produces; and how many queries were checked."""
    variables = {"datasource": "default", "model": "a|b", "cluster": plan.cluster or "c"}
    defined = {v.get("name") for v in (data.get("templating") or {}).get("list") or []}
    variables = {k: v for k, v in variables.items() if k in defined}
    out, count = [], 0
    queries: list[tuple[str, str, bool]] = []
    for v in (data.get("templating") or {}).get("list") or []:
        if v.get("type") == "query":
            queries.append((f"variable {v.get('name')!r}", str(v.get("query", "")), True))
    for panel in iter_panels(data):
        for target in panel.get("targets") or []:
            where = f"{panel_name(panel)} query {target.get('refId', '?')}"
            queries.append((where, str(target.get("expr", "")), False))
    for where, expr, is_variable in queries:
        count += 1
        label = None
        if is_variable:
            match = _LABEL_VALUES.match(expr.strip())
            if not match:
                out.append(f"{rel}: {where}: expected label_values(<selector>, <label>), got {expr!r}")
                continue
            expr, label = match["selector"], match["label"]
        text, unknown = expand(expr, variables)
        if unknown:
            out.append(f"{rel}: {where}: uses undefined variable(s) {', '.join('$' + u for u in unknown)}")
            continue
        try:
            selectors = _selectors(text)
        except ValueError as exc:
            out.append(f"{rel}: {where}: PromQL does not parse: {exc}: {text!r}")
            continue
        out += [f"{rel}: {where}: {problem}" for problem in _dead(selectors, known, plan, label)]
    return out, count


def _dead(selectors: list[tuple[str | None, list[tuple[str, str, str]]]], known: Known, plan: Plan,
          label: str | None) -> list[str]:
    problems = []
    sources = sorted({m.engine.name for m in plan.models})
    for name, matchers in selectors:
        names = [name] if name else []
        for key, op, value in matchers:
            if key == "__name__" and op == "Equal":
                names.append(value)
            elif key == "__name__" and op == "Re":
                pattern = re.compile(value)
                names += sorted(n for n in {*known.rules, *known.exported} if pattern.fullmatch(n)) or [value]
        for metric in names:
            if metric in known.rules:
                problems += _label_problems(metric, matchers, known.rules[metric], label)
            elif metric in ("ALERTS", "ALERTS_FOR_STATE"):
                wanted = [v for k, op, v in matchers if k == "alertname" and op == "Equal"]
                if not known.alerts or any(w not in known.alerts for w in wanted):
                    problems.append(f"reads {metric}, but the generated rules define no such alert")
            elif metric not in known.exported:
                problems.append(f"metric {metric!r} is neither recorded by the generated rules nor exported by "
                                f"the engines ({', '.join(sources)}) or the GPU exporter ({plan.gpu_exporter}): "
                                "the panel would stay empty")
    return problems


def _label_problems(metric: str, matchers: list[tuple[str, str, str]], rules: list[dict[str, str]],
                    label: str | None) -> list[str]:
    problems = []
    for key, op, value in matchers:
        if op != "Equal" or "$" in value or key == "__name__":
            continue
        # A rule that does not set the label may produce it from its expression: only a rule that sets it
        # to another value rules the matcher out.
        if all(key in labels and labels[key] != value for labels in rules):
            seen = sorted({labels[key] for labels in rules})
            problems.append(f"no rule records {metric} with {key}={value!r} (rules set {key} to "
                            f"{', '.join(map(repr, seen))})")
    if label and not any(label in labels for labels in rules):
        problems.append(f"label_values: the rules recording {metric} set no label {label!r}")
    return problems
