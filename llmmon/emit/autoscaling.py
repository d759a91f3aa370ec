"""Autoscaling on the series llmmon records: KEDA ScaledObjects (keda.sh/v1alpha1), or HorizontalPodAutoscalers
(autoscaling/v2) on External metrics that prometheus-adapter serves from the same series.

A team that scales on `vllm:num_requests_waiting` straight from the engine and alerts on llmmon's recorded
queue sees two different numbers; here the trigger queries the very series the alerts and dashboards read
(`model:llm_requests_waiting:sum`, `model:llm_kv_cache_usage:ratio`, `model:llm_requests:rate5m`), already
summed over replicas and named by the spec's model. ScaledObjects are checked against KEDA's CRD schema
(checks/crds_keda.py), HPAs by kubernetes-validate, the adapter's rules by checks/prometheus_adapter.py.
"""

from __future__ import annotations

import re
from typing import Any

from llmmon.emit import prometheus as p
from llmmon.emit.kube import manifest, object_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Model, Plan
from llmmon.promql import SPEC_LABEL, eq, number, selector
from llmmon.yamlout import dump

COMPONENT = "autoscaling"
# signal → (recorded series, how replicas are aggregated, KEDA metricType, default target per replica)
SIGNALS: dict[str, tuple[str, str, str, float]] = {
    "waiting": (p.GAUGE_RECORDS["waiting"][0], "sum", "AverageValue", 5.0),  # queued requests per replica
    "kv_cache": (p.GAUGE_RECORDS["kv_cache"][0], "max", "Value", 0.8),  # usage of the fullest KV cache
    "requests": (p.REQUESTS, "sum", "AverageValue", 1.0),  # requests/s per replica
}
POLLING_SECONDS = 30  # KEDA's default; the recorded series change every 2m at most
COOLDOWN_SECONDS = 300


ADAPTER_CONFIG = "config.yaml"  # the key of the ConfigMap: prometheus-adapter's --config file
# signal → the External metric name prometheus-adapter serves it under (one rule per signal, whatever the spec:
# the HPA's selector picks the spec and model, so rules of several specs merge into one adapter config)
EXTERNAL_NAMES = {"waiting": "llmmon_requests_waiting", "kv_cache": "llmmon_kv_cache_usage",
                  "requests": "llmmon_requests_per_second"}


def emit(plan: Plan, head: str) -> dict[str, str]:
    """`kubernetes/<spec>-autoscaling.yaml`: a ScaledObject or an HPA per model that asks for one, and the
    prometheus-adapter rules when some model uses an HPA (else nothing)."""
    objects: list[dict[str, Any]] = []
    for m in plan.models:
        if m.autoscaling:
            objects.append(hpa(plan, m) if m.autoscaling.autoscaler == "hpa" else scaled_object(plan, m))
    if any(m.autoscaling and m.autoscaling.autoscaler == "hpa" for m in plan.models):
        objects.append(adapter_config_map(plan))
    return {f"kubernetes/{plan.name}-autoscaling.yaml": manifest(head, objects)} if objects else {}


def _name(plan: Plan, m: Model) -> str:
    return object_name(plan.name, m.name.replace(".", "-").replace("_", "-"), "scaler")


def _quantity(value: float) -> str:
    """A Kubernetes quantity: whole numbers as they are, others in thousandths (0.8 → 800m)."""
    return str(int(value)) if value == int(value) else f"{round(value * 1000)}m"


def adapter_rules(plan: Plan) -> dict[str, Any]:
    """prometheus-adapter's config: one External rule per signal the spec's HPAs scale on, reading the recorded
    series (aggregated over replicas like the KEDA trigger); `namespaced: false` because the series carry the
    spec and model, not the workload's namespace."""
    signals = sorted({m.autoscaling.signal for m in plan.models if m.autoscaling and m.autoscaling.autoscaler == "hpa"})
    rules = []
    for signal in signals:
        record, how, _, _ = SIGNALS[signal]
        rules.append({"seriesQuery": selector(record, (SPEC_LABEL, "!=", "")), "resources": {"namespaced": False},
                      "name": {"matches": f"^{re.escape(record)}$", "as": EXTERNAL_NAMES[signal]},
                      "metricsQuery": f"{how}(<<.Series>>{{<<.LabelMatchers>>}})"})
    return {"externalRules": rules}


def adapter_config_map(plan: Plan) -> dict[str, Any]:
    """The adapter's rules as a ConfigMap in the spec's namespace (mount it as prometheus-adapter's --config)."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": object_name(plan.name, "prometheus-adapter"), "namespace": plan.namespace,
                         "labels": object_labels(plan, COMPONENT)},
            "data": {ADAPTER_CONFIG: dump(adapter_rules(plan))}}


def hpa(plan: Plan, m: Model) -> dict[str, Any]:
    """An autoscaling/v2 HorizontalPodAutoscaler on the model's External metric, selected by spec and model."""
    auto = m.autoscaling
    assert auto is not None
    _, _, metric_type, default = SIGNALS[auto.signal]
    target = auto.target if auto.target is not None else default
    value = {"type": metric_type, ("averageValue" if metric_type == "AverageValue" else "value"): _quantity(target)}
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": _name(plan, m), "namespace": m.namespace, "labels": object_labels(plan, COMPONENT)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": auto.kind, "name": auto.workload or m.name},
            "minReplicas": auto.min_replicas, "maxReplicas": auto.max_replicas,
            "metrics": [{"type": "External", "external": {
                "metric": {"name": EXTERNAL_NAMES[auto.signal],
                           "selector": {"matchLabels": {SPEC_LABEL: plan.name, "model": m.name}}},
                "target": value}}],
            # like KEDA's cooldown: the recorded series change every 2m at most
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": COOLDOWN_SECONDS}},
        },
    }


def query(plan: Plan, m: Model) -> str:
    """The PromQL a model's trigger runs: one number, the recorded signal of that model."""
    assert m.autoscaling is not None
    record, how, _, _ = SIGNALS[m.autoscaling.signal]
    return f"{how}({selector(record, eq(SPEC_LABEL, plan.name), eq('model', m.name))})"


def scaled_object(plan: Plan, m: Model) -> dict[str, Any]:
    """One ScaledObject: the model's workload between min and max replicas, on its recorded signal."""
    auto = m.autoscaling
    assert auto is not None
    _, _, metric_type, default = SIGNALS[auto.signal]
    target = auto.target if auto.target is not None else default
    return {
        "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
        "metadata": {"name": _name(plan, m), "namespace": m.namespace, "labels": object_labels(plan, COMPONENT)},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": auto.kind, "name": auto.workload or m.name},
            "minReplicaCount": auto.min_replicas, "maxReplicaCount": auto.max_replicas,
            "pollingInterval": POLLING_SECONDS, "cooldownPeriod": COOLDOWN_SECONDS,
            "triggers": [{"type": "prometheus", "metricType": metric_type, "name": f"llmmon-{auto.signal}",
                          "metadata": {"serverAddress": auto.prometheus_url, "query": query(plan, m),
                                       "threshold": number(target),
                                       # no data (Prometheus down, series not yet recorded) must not scale to 0
                                       "ignoreNullValues": "false"}}],
        },
    }
