"""The Prometheus output of a fleet: a rule file and promtool tests per cluster and for the global tier, the
PrometheusRule objects of each, and a kustomization per cluster (that cluster's rules on top of kubernetes/).

    prometheus/clusters/<cluster>/rules/<spec>.rules.yaml    what the cluster's Prometheus evaluates
    prometheus/clusters/<cluster>/tests/<spec>-<scenario>.test.yaml
    prometheus/global/rules/<spec>.rules.yaml                what the central ruler evaluates
    prometheus/global/tests/<spec>-<scenario>.test.yaml
    fleet/<cluster>/kustomization.yaml                       kubectl apply -k out/fleet/<cluster>
    fleet/<cluster>/<spec>-prometheusrule.yaml
    fleet/global/<spec>-prometheusrule.yaml                  for a ThanosRuler (or a central Prometheus) of the operator
"""

from __future__ import annotations

import re
from typing import Any

from llmmon import fleet as fleet_model
from llmmon.emit import fleet_rules, fleet_tests, kubernetes, prom_tests
from llmmon.emit.kube import manifest
from llmmon.emit.prometheus import RuleSet
from llmmon.model import Plan
from llmmon.yamlout import dump

_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _yaml(head: str, *documents: object) -> str:
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    return comment + "---\n".join(dump(d) for d in documents)


def emit(plan: Plan, fleet: fleet_model.Fleet, head: str) -> tuple[dict[str, str], dict[str, tuple[str, int]],
                                                                   RuleSet, dict[str, RuleSet]]:
    """(files, test files → (scenario, assertions), the global rule set, each cluster's rule set)."""
    files: dict[str, str] = {}
    tests: dict[str, tuple[str, int]] = {}
    clusters: dict[str, RuleSet] = {}
    for name in fleet.names:
        cplan = fleet_model.cluster_plan(plan, fleet, name)
        if not cplan.models:
            continue
        ruleset, dropped = fleet_rules.cluster_rules(cplan)
        clusters[name] = ruleset
        tier = f"prometheus/clusters/{name}"
        files[f"{tier}/rules/{plan.name}.rules.yaml"] = _yaml(head, {"groups": ruleset.groups})
        groups = [g["name"] for g in ruleset.groups]
        for scenario, content, _ in prom_tests.build(cplan, f"../rules/{plan.name}.rules.yaml", groups):
            count = _local_only(content, dropped)
            path = f"{tier}/tests/{plan.name}-{scenario}.test.yaml"
            files[path] = _yaml(head, content)
            tests[path] = (f"{name}: {scenario}", count)
        rule_objects = kubernetes.prometheus_rules(cplan, ruleset.groups)
        for obj in rule_objects:
            obj["metadata"]["name"] = f"{plan.name}-llmmon-{name}-" + obj["metadata"]["name"].removeprefix(
                f"{plan.name}-llmmon-")
        files[f"fleet/{name}/{plan.name}-prometheusrule.yaml"] = _yaml(head, *rule_objects)
        files[f"fleet/{name}/kustomization.yaml"] = manifest(head, [{
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": ["../../kubernetes", f"{plan.name}-prometheusrule.yaml"]}])
    ruleset = fleet_rules.global_rules(plan, fleet)
    files[f"prometheus/global/rules/{plan.name}.rules.yaml"] = _yaml(head, {"groups": ruleset.groups})
    groups = [g["name"] for g in ruleset.groups]
    for scenario, content, count in fleet_tests.build(plan, fleet, f"../rules/{plan.name}.rules.yaml", groups):
        path = f"prometheus/global/tests/{plan.name}-{scenario}.test.yaml"
        files[path] = _yaml(head, content)
        tests[path] = (f"global: {scenario}", count)
    objects = kubernetes.prometheus_rules(plan, ruleset.groups)
    files[f"fleet/global/{plan.name}-prometheusrule.yaml"] = _yaml(head, *objects)
    return files, tests, ruleset, clusters


def _local_only(content: dict[str, Any], dropped: set[str]) -> int:
    """Strip a single-cluster promtool test of what the cluster tier no longer evaluates (burn-rate alerts, SLO
    windows and budgets: the global tier's tests check those); the number of assertions left."""
    count = 0
    for test in content["tests"]:
        checks = []
        for check in test.get("promql_expr_test", []):
            expr = check["expr"]
            if "ALERTS" in expr:
                check["exp_samples"] = [s for s in check["exp_samples"]
                                        if 'alertname="ErrorBudgetBurn"' not in s["labels"]]
            elif set(_NAME.findall(expr)) & dropped:
                continue
            checks.append(check)
        test["promql_expr_test"] = checks
        count += len(checks)
    return count
