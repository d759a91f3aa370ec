"""Kubernetes manifests: the PrometheusRule carrying the generated rule groups."""

from __future__ import annotations

from typing import Any

from llmmon.model import Plan

MANAGED_BY = {"app.kubernetes.io/managed-by": "llmmon", "app.kubernetes.io/part-of": "llmmon"}


def object_labels(plan: Plan, component: str) -> dict[str, str]:
    """Labels of every generated object: the spec's labels (e.g. `release`) and llmmon's own."""
    labels = {**MANAGED_BY, "app.kubernetes.io/name": plan.name, "app.kubernetes.io/component": component,
              **dict(plan.labels)}
    return dict(sorted(labels.items()))


def prometheus_rules(plan: Plan, groups: list[dict[str, Any]],
                     written: list[Any] | None = None) -> list[dict[str, Any]]:
    """monitoring.coreos.com/v1 PrometheusRule objects, one per rule group.

    Groups that list models (alerts, SLOs, per-model joins) grow with the fleet; one object each keeps every
    object under the 256 KiB that `kubectl apply` can store in its last-applied annotation. `written`, one per
    group, is what stands as the object's `spec.groups` instead of `[group]` (llmmon.yamlout.Rendered).
    """
    bodies = written if written is not None else [[group] for group in groups]
    return [_rule_object(plan, group["name"].removeprefix(f"llmmon-{plan.name}-"), body)
            for group, body in zip(groups, bodies, strict=True)]


def _rule_object(plan: Plan, part: str, groups: Any) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": f"{plan.name}-llmmon-{part}", "namespace": plan.namespace,
                     "labels": object_labels(plan, "rules")},
        "spec": {"groups": groups},
    }
