"""`llmmon validate` checks of the logs, traces and alert-routing outputs, as registered in registry.py.

Each reads the files the bundle was written to and reports `FILE:LINE:COL: message` where it has a position.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmmon.checks import alertmanager, elasticsearch, fluentd, otel
from llmmon.checks.fluentconf import ConfigSyntaxError, Element, parse
from llmmon.checks.registry import CheckResult
from llmmon.emit import alertmanager as alertmanager_emit
from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle

FLUENT_CONF = "fluentd/fluent.conf"
ILM_POLICY = "elasticsearch/ilm-policy.json"
INDEX_TEMPLATE = "elasticsearch/index-template.json"
COLLECTOR = "otel/collector.yaml"
ALERTMANAGER = "alertmanager/alertmanager.yaml"


def _embedded(root: Path, rel: str, key: str, text: str) -> list[str]:
    """The Kubernetes object next to a config must carry the same text."""
    try:
        data = yaml.safe_load((root / rel).read_text(encoding="utf-8"))
        held = (data.get("data") or data.get("stringData") or {}).get(key)
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        return [f"{rel}: cannot be read: {exc}"]
    return [] if held == text else [f"{rel}: {key} differs from the generated config"]


def _plugins(element: Element) -> list[str]:
    own = [element.get("@type") or ""] if element.name != "ROOT" else []
    return [p for p in own if p] + [p for child in element.elements for p in _plugins(child)]


def logs(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
    """fluent.conf by llmmon's Fluentd parser; the ILM policy and index template; their agreement."""
    result = CheckResult()
    if FLUENT_CONF not in bundle.files:
        return result
    text = (root / FLUENT_CONF).read_text(encoding="utf-8")
    found = [f"{FLUENT_CONF}:{f.line}:{f.col}: {f.message}" for f in fluentd.check(text)]
    found += _embedded(root, f"kubernetes/{plan.name}-fluentd.yaml", "fluent.conf", text)
    prefix = None
    try:
        tree = parse(text)
        prefix = next((m.get("logstash_prefix") for m in tree.sections("match") if m.get("@type") == "elasticsearch"),
                      None)
        plugins = sorted(set(_plugins(tree)))
    except ConfigSyntaxError:
        plugins = []
    if not found:
        result.passed.append(f"fluentd: {FLUENT_CONF} parsed; plugins {', '.join(plugins)} checked")
    es_found, policy = _elasticsearch(root, prefix)
    result.findings += found + es_found
    if not es_found:
        result.passed.append(f"elasticsearch: ILM policy {policy} and its index template ok")
    return result


def _load_json(root: Path, rel: str) -> tuple[Any, list[str]]:
    try:
        return json.loads((root / rel).read_text(encoding="utf-8")), []
    except (OSError, ValueError) as exc:
        return None, [f"{rel}: not JSON: {exc}"]


def _elasticsearch(root: Path, prefix: str | None) -> tuple[list[str], str | None]:
    policy_data, found = _load_json(root, ILM_POLICY)
    template_data, more = _load_json(root, INDEX_TEMPLATE)
    found += more
    if found:
        return found, None
    problems, policy = elasticsearch.check_policy(policy_data)
    found += [f"{ILM_POLICY}: {p}" for p in problems]
    example = f"{prefix}-2030.01.31" if prefix else None
    found += [f"{INDEX_TEMPLATE}: {p}" for p in elasticsearch.check_template(template_data, policy, example)]
    if prefix is None:
        found.append(f"{FLUENT_CONF}: no elasticsearch output with logstash_prefix: the template binds no index")
    return found, policy


def traces(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
    """collector.yaml against llmmon's models of the collector components and its service graph."""
    from llmmon import yamlpos

    result = CheckResult()
    if COLLECTOR not in bundle.files:
        return result
    raw = (root / COLLECTOR).read_bytes()
    try:
        doc, problems = yamlpos.load(raw)
    except yamlpos.YamlProblem as exc:
        result.findings.append(f"{COLLECTOR}:{exc.line}:{exc.col}: {exc.message}")
        return result
    found = [f"{COLLECTOR}:{p.line}:{p.col}: {p.message}" for p in problems]
    found += [f"{COLLECTOR}:{line}" for line in otel.check(doc)]
    found += _embedded(root, f"kubernetes/{plan.name}-otel-collector.yaml", "collector.yaml", raw.decode())
    result.findings += found
    if not found:
        sampling = doc.data["processors"]["tail_sampling"]["policies"]
        result.passed.append(f"otel: {COLLECTOR} components and pipeline ok; tail sampling: "
                             f"{', '.join(p['name'] for p in sampling)}")
    return result


def routing(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
    """amtool check-config and routes test for every tier, then llmmon's own rules."""
    result = CheckResult()
    if ALERTMANAGER not in bundle.files:
        return result
    path = root / ALERTMANAGER
    text = path.read_text(encoding="utf-8")
    config = yaml.safe_load(text)
    result.findings += [f"{ALERTMANAGER}: {p}" for p in alertmanager.own_rules(config)]
    if plan.alertmanager_mode == "standalone":
        result.findings += _embedded(root, f"kubernetes/{plan.name}-alertmanager.yaml", "alertmanager.yaml", text)
    amtool = alertmanager.find()
    if amtool is None:
        result.missing.append(f"amtool was not found: {alertmanager.INSTALL_HINT}")
        return result
    problem = alertmanager.check_config(amtool, path)
    if problem:
        result.findings.append(f"{ALERTMANAGER}: amtool check-config: {problem}")
        return result
    own = {"llmmon_spec": plan.name, "model": plan.models[0].name, **({"cluster": plan.cluster} if plan.cluster
                                                                       else {})}
    # (what, labels, the receivers it must reach): each tier, and alerts that are not this spec's
    cases = [(f"severity={t.name}", {"alertname": "LlmmonRouteTest", "severity": t.name, **own}, [t.receiver])
             for t in plan.tiers]
    cases += [(f"{name} (not this spec's)", {"alertname": name, "severity": "none"}, [alertmanager_emit.NULL])
              for name in alertmanager_emit.SILENT]
    cases.append(("another team's critical alert", {"alertname": "KubeNodeNotReady", "severity": "critical"},
                  [plan.catch_all or alertmanager_emit.NULL]))

    def test(case: tuple[str, dict[str, str], list[str]]) -> list[str] | str:
        try:
            return alertmanager.route(amtool, path, case[1])
        except RuntimeError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(test, cases))
    routed = []
    for (what, _, wanted), got in zip(cases, outcomes, strict=True):
        if isinstance(got, str):
            result.findings.append(f"{ALERTMANAGER}: amtool config routes test {what}: {got}")
            continue
        if got != wanted:
            result.findings.append(f"{ALERTMANAGER}: amtool config routes test: {what} goes to "
                                   f"{', '.join(got) or 'nothing'}, not to {', '.join(wanted)}")
        routed.append(f"{what} → {', '.join(wanted)}")
    if not result.findings:
        result.passed.append(f"amtool check-config: {ALERTMANAGER} ok; routes test: {', '.join(routed)}")
    return result
