"""KEDA ScaledObjects (keda.sh/v1alpha1): scale a model's workload on the series llmmon records for it.

A team that scales on `vllm:num_requests_waiting` straight from the engine and alerts on llmmon's recorded
queue sees two different numbers; here the trigger queries the very series the alerts and dashboards read
(`model:llm_requests_waiting:sum`, `model:llm_kv_cache_usage:ratio`, `model:llm_requests:rate5m`), already
summed over replicas and named by the spec's model. Checked against KEDA's CRD schema (checks/crds_keda.py).
"""

from __future__ import annotations

from typing import Any

from llmmon.emit import prometheus as p
from llmmon.emit.kube import manifest, object_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Model, Plan
from llmmon.promql import SPEC_LABEL, eq, number, selector

COMPONENT = "autoscaling"
# signal → (recorded series, how replicas are aggregated, KEDA metricType, default target per replica)
SIGNALS: dict[str, tuple[str, str, str, float]] = {
    "waiting": (p.GAUGE_RECORDS["waiting"][0], "sum", "AverageValue", 5.0),  # queued requests per replica
    "kv_cache": (p.GAUGE_RECORDS["kv_cache"][0], "max", "Value", 0.8),  # usage of the fullest KV cache
    "requests": (p.REQUESTS, "sum", "AverageValue", 1.0),  # requests/s per replica
}
POLLING_SECONDS = 30  # KEDA's default; the recorded series change every 2m at most
COOLDOWN_SECONDS = 300


def emit(plan: Plan, head: str) -> dict[str, str]:
    """`kubernetes/<spec>-autoscaling.yaml` with a ScaledObject per model that asks for one (else nothing)."""
    objects = [scaled_object(plan, m) for m in plan.models if m.autoscaling]
    return {f"kubernetes/{plan.name}-autoscaling.yaml": manifest(head, objects)} if objects else {}


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
        "metadata": {"name": object_name(plan.name, m.name.replace(".", "-").replace("_", "-"), "scaler"),
                     "namespace": m.namespace, "labels": object_labels(plan, COMPONENT)},
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
