"""`llmmon validate` checks of the logs, traces and alert-routing outputs, as registered in registry.py.

Each reads the files the bundle was written to and reports `FILE:LINE:COL: message` where it has a position.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from llmmon.checks import alertmanager, elasticsearch, estypes, fluentd, otel, otelcol, passes
from llmmon.checks.fluentconf import ConfigSyntaxError, Element, parse
from llmmon.checks.result import CheckResult
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
        documents = [d for d in yaml.safe_load_all((root / rel).read_text(encoding="utf-8")) if d]
        data = next((d for d in documents if d.get("kind") in ("ConfigMap", "Secret")), documents[0])
        held = (data.get("data") or data.get("stringData") or {}).get(key)
    except (OSError, yaml.YAMLError, AttributeError, IndexError) as exc:
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
        matches = tree.sections("match") + [m for label in tree.sections("label") for m in label.sections("match")]
        prefix = next((m.get("logstash_prefix") for m in matches if m.get("@type") == "elasticsearch"), None)
        plugins = sorted(set(_plugins(tree)))
    except ConfigSyntaxError:
        plugins = []
    if not found:
        result.passed.append(f"fluentd: {FLUENT_CONF} parsed; plugins {', '.join(plugins)} checked")
    es_found, policy = _elasticsearch(root, prefix)
    result.findings += found + es_found
    if not es_found:
        result.passed.append(f"elasticsearch: ILM policy {policy} and its index template ok")
        _es_types(root, result)
    return result


def _es_types(root: Path, result: CheckResult) -> None:
    """tsc against the Elasticsearch client's request types, when they are installed."""
    folder = estypes.find()
    if folder is None:
        if os.environ.get("LLMMON_ES_TYPES") == "off":
            result.skipped.append("Elasticsearch request types check turned off (LLMMON_ES_TYPES=off)")
        else:  # `make tools` installs them wherever npm works: --strict counts them as a missing checker
            result.missing.append(f"Elasticsearch request types not installed: {estypes.INSTALL_HINT}")
        return
    policy, _ = _load_json(root, ILM_POLICY)
    template, _ = _load_json(root, INDEX_TEMPLATE)
    names = {kind: body["_meta"]["request"].rsplit("/", 1)[1] for kind, body in
             (("ilm-policy", policy["policy"]), ("index-template", template))}
    bodies = {"ilm-policy": (names["ilm-policy"], policy), "index-template": (names["index-template"], template)}
    entry = estypes.remembered_as(folder, bodies)
    said = passes.recalled(estypes.PASSED, entry)
    if said is not None:
        result.passed.append(f"{said} ({passes.AGAIN})")
        return
    problems = estypes.check(folder, bodies)
    result.findings += [f"elasticsearch/{p}" for p in problems]
    if not problems:
        result.passed.append(f"tsc --strict: ILM policy and index template are valid @elastic/elasticsearch "
                             f"{estypes.ES_CLIENT} IlmPutLifecycleRequest and IndicesPutIndexTemplateRequest")
        passes.remember(estypes.PASSED, entry, result.passed[-1])


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
    binary = otelcol.find()
    if binary is None:
        # optional: building one needs a Go toolchain, so --strict does not count it as missing
        result.skipped.append(f"no OpenTelemetry Collector binary: {otelcol.INSTALL_HINT}")
        return result
    problem = otelcol.validate(binary, root / COLLECTOR)
    if problem:
        result.findings.append(f"{COLLECTOR}: {Path(binary).name} validate: {problem}")
    else:
        result.passed.append(f"{Path(binary).name} validate --config: {COLLECTOR} ok")
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
