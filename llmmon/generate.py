"""Plan → every generated file, in memory. Nothing here touches the disk, the clock or the environment but the
build cache of dashboards (llmmon.buildcache), which gives the very text a build would."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from llmmon import __version__, fleet
from llmmon.emit import kubernetes, kustomize, outputs, pipeline_alerts, prom_tests, prometheus
from llmmon.model import Plan
from llmmon.templates import render
from llmmon.yamlout import Rendered, dump


@dataclass(frozen=True)
class Counts:
    """What a plan compiled into, for summaries and the closing report."""

    models: int
    recording: int
    static: int
    alerting: int
    assertions: int
    scenarios: int


@dataclass
class Bundle:
    """All generated files (relative path → text) and what is needed to check them."""

    files: dict[str, str] = field(default_factory=dict)
    rules_file: str = ""
    manifest_file: str = ""
    test_files: dict[str, str] = field(default_factory=dict)  # path → scenario
    test_counts: dict[str, int] = field(default_factory=dict)  # path → assertions
    ruleset: prometheus.RuleSet = field(default_factory=prometheus.RuleSet)
    more_rules: dict[str, prometheus.RuleSet] = field(default_factory=dict)  # a fleet's per-cluster rule files
    counts: Counts | None = None


def header(plan: Plan) -> str:
    """The generated-by text every file starts with (without comment markers)."""
    return render("header.j2", version=__version__, source=plan.source, spec=plan.name).strip()


def _yaml(head: str, *documents: object) -> str:
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    return comment + "---\n".join(dump(d) for d in documents)


def build(plan: Plan, rules: Bundle | None = None) -> Bundle:
    """Generate every output of a plan; `rules`, the Prometheus part of build_rules, is completed in place."""
    bundle = rules or build_rules(plan)
    head = header(plan)
    assert bundle.counts is not None  # build_rules counts what it generates
    bundle.files[f"{plan.name}-summary.md"] = _summary(plan, head, bundle.counts)
    for emit in outputs.emitters():
        for path, text in emit(plan, head).items():
            if path in bundle.files:
                raise ValueError(f"two emitters write {path}")
            bundle.files[path] = text
    bundle.files.update(kustomize.emit(plan, head, bundle.files))  # last: it lists every manifest above
    return dict_sorted(bundle)


def build_rules(plan: Plan) -> Bundle:
    """The Prometheus part of a plan's output: rule file, PrometheusRule manifest, promtool tests, counts.

    `llmmon validate` starts the promtool tests on it while the rest (dashboards above all) is generated."""
    head = header(plan)
    if (declared := fleet.of(plan.spec)) is not None:
        return _fleet_rules(plan, declared, head)
    bundle = Bundle()
    ruleset = prometheus.build(plan)
    pipeline = pipeline_alerts.group(plan)  # the log and trace pipeline watching itself
    if pipeline:
        ruleset.groups.append(pipeline)
    bundle.ruleset = ruleset
    bundle.rules_file = f"prometheus/rules/{plan.name}.rules.yaml"
    # each group written once as YAML, for the rule file and (shifted) for its PrometheusRule object
    parts = [Rendered([group]) for group in ruleset.groups]
    bundle.files[bundle.rules_file] = _yaml(head, {"groups": Rendered.join(parts) if parts else []})
    bundle.manifest_file = f"kubernetes/{plan.name}-prometheusrule.yaml"
    bundle.files[bundle.manifest_file] = _yaml(head, *kubernetes.prometheus_rules(plan, ruleset.groups, parts))
    assertions = 0
    groups = [g["name"] for g in ruleset.groups]
    for scenario, content, count in prom_tests.build(plan, f"../rules/{plan.name}.rules.yaml", groups):
        path = f"prometheus/tests/{plan.name}-{scenario}.test.yaml"
        bundle.files[path] = _yaml(head, content)
        bundle.test_files[path] = scenario
        bundle.test_counts[path] = count
        assertions += count
    watched = pipeline_alerts.promtool_test(plan, f"../rules/{plan.name}.rules.yaml", groups)
    if watched:
        path = f"prometheus/tests/{plan.name}-pipeline.test.yaml"
        bundle.files[path] = _yaml(head, watched[0])
        bundle.test_files[path] = "pipeline"
        bundle.test_counts[path] = watched[1]
        assertions += watched[1]
    rules = ruleset.rules
    static_groups = {g["name"] for g in ruleset.groups if "-static" in g["name"]}
    bundle.counts = Counts(
        models=len(plan.models),
        recording=sum(1 for r in rules if "record" in r),
        static=sum(len(g["rules"]) for g in ruleset.groups if g["name"] in static_groups),
        alerting=sum(1 for r in rules if "alert" in r),
        assertions=assertions,
        scenarios=len(bundle.test_files),
    )
    return bundle


def _fleet_rules(plan: Plan, declared: fleet.Fleet, head: str) -> Bundle:
    """A fleet's rules: a tier per cluster and a global one (llmmon.emit.fleet_outputs); the global rule file is
    the bundle's rules_file, the clusters' ones are checked as `more_rules`."""
    from llmmon.emit import fleet_outputs  # imported here: only a spec with `clusters:` needs the fleet emitters

    files, tests, ruleset, clusters = fleet_outputs.emit(plan, declared, head)
    bundle = Bundle(files=files, ruleset=ruleset)
    bundle.rules_file = f"prometheus/global/rules/{plan.name}.rules.yaml"
    bundle.manifest_file = f"fleet/global/{plan.name}-prometheusrule.yaml"
    bundle.more_rules = {f"prometheus/clusters/{name}/rules/{plan.name}.rules.yaml": rs
                         for name, rs in clusters.items()}
    for path, (scenario, count) in tests.items():
        bundle.test_files[path], bundle.test_counts[path] = scenario, count
    every = [ruleset, *clusters.values()]
    rules = [r for rs in every for r in rs.rules]
    bundle.counts = Counts(
        models=len(plan.models), recording=sum(1 for r in rules if "record" in r),
        static=sum(len(g["rules"]) for rs in every for g in rs.groups if "static" in g["name"]),
        alerting=sum(1 for r in rules if "alert" in r), assertions=sum(c for _, c in tests.values()),
        scenarios=len(tests))
    return bundle


def dict_sorted(bundle: Bundle) -> Bundle:
    """Files in path order, so listings and diffs are stable."""
    bundle.files = dict(sorted(bundle.files.items()))
    return bundle


def _summary(plan: Plan, head: str, counts: Counts) -> str:
    from llmmon.slo import BURN_WINDOWS

    # The alert table is written here, not in the template: a fleet has tens of thousands of rows. A row is its
    # alert's text around the model's name; models share few distinct alerts, so each text is worked out once.
    alert_text: dict[tuple[Any, ...], tuple[str, str]] = {}
    windows = [(p, p.factor(plan.slo_window)) for p in BURN_WINDOWS]
    objective_text: dict[tuple[str, float], list[tuple[str, str]]] = {}
    rows = []
    for m in plan.models:
        for a in m.alerts:
            key = (a.name, a.key, a.threshold, a.for_, a.tier)
            if (around := alert_text.get(key)) is None:
                around = alert_text[key] = (f"| {a.name} | `", f"` | {_condition(a.key, a.threshold)} | {a.for_} | "
                                                                 f"{a.tier} | {plan.tier(a.tier).receiver} |\n")
            rows.append(around[0] + m.name + around[1])
        for o in m.objectives:
            if (texts := objective_text.get((o.kind, o.budget))) is None:
                texts = objective_text[(o.kind, o.budget)] = [
                    ("| ErrorBudgetBurn | `", f"` | {o.kind} error ratio > {factor:g} × {o.budget * 100:g}% over "
                                              f"{p.long} and {p.short} | {p.for_} | {p.tier} | "
                                              f"{plan.tier(p.tier).receiver} |\n") for p, factor in windows]
            rows.extend(before + m.name + after for before, after in texts)
    table = "".join(rows)
    text = render("summary.md.j2", header=" ".join(head.splitlines()), plan=plan, counts=counts,
                  model_rows=_model_rows(plan), alert_rows=table)
    return text.rstrip("\n") + "\n"


def _model_rows(plan: Plan) -> str:
    """The summary's model table, one line per model (in Python rather than a jinja loop, as the alert table)."""
    window_minutes = plan.slo_window.ms / 60000
    rows = []
    for m in plan.models:
        gpus = f"{m.gpu_count} × {m.gpu_type}" if m.gpu_type else "none"
        objectives = "; ".join(
            f"{o.kind} {o.target * 100:g}%" + (f" within {o.threshold:g}s" if o.threshold else "")
            + f" ({o.budget * window_minutes:.1f} min of budget)" for o in m.objectives)
        rows.append(f"| `{m.name}` | {m.engine.name} | {m.namespace} | {gpus} | {m.gpu_hourly_cost:.2f} | "
                    f"{objectives} |\n")
    return "".join(rows)


def _condition(key: str, threshold: float | None) -> str:
    from llmmon.emit import health

    if key in health.ORDER:
        return health.condition(key, threshold)
    t = threshold or 0
    return {
        "latency_p99": f"p99 latency > {t:g}s",
        "error_rate": f"error ratio > {t * 100:g}%",
        "ttft_p95": f"p95 time to first token > {t:g}s",
        "gpu_utilization_low": f"GPU utilisation < {t * 100:g}% while serving",
        "throughput_low": f"requests < {t:g}/s after traffic in the last hour",
        "metrics_absent": "no request metrics",
    }[key]
