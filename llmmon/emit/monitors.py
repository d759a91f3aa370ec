"""PodMonitors for the serving pods, so Prometheus scrapes exactly the series the rules query.

One PodMonitor per serving namespace, in metadata.namespace (next to the PrometheusRule, where the Prometheus
Operator's selectors already look). Pods are known to the spec only by name (each model's `pods` regex), so
every endpoint keeps the pods whose name matches one of its models' regexes; models that expose metrics on
another port or path get an endpoint of their own. The operator adds the `namespace` and `pod` labels the
rules select and join on.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from llmmon.emit.kube import crd_duration, manifest, object_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Model, Plan

# Default metrics port of each engine preset: its server's default HTTP port (metrics share it), or a port
# name where the engine has no fixed port. A model may set `metrics_port` (name or number) instead.
ENGINE_PORTS: dict[str, str | int] = {"vllm": 8000, "sglang": 30000, "tgi": 80, "triton": 8002}
DEFAULT_PORT: str | int = "http"
DEFAULT_PATH = "/metrics"


def endpoints(plan: Plan) -> dict[str, tuple[str | int, str]]:
    """Model name → the (port, path) its pods are scraped on: the model's setting, else defaults', else the
    engine's."""
    specs = {m.name: m for m in plan.spec.models}
    defaults = plan.spec.defaults
    out = {}
    for model in plan.models:
        spec = specs[model.name]
        port = spec.metrics_port or defaults.metrics_port or ENGINE_PORTS.get(model.engine.name, DEFAULT_PORT)
        out[model.name] = (port, spec.metrics_path or defaults.metrics_path or DEFAULT_PATH)
    return out


def emit(plan: Plan, head: str) -> dict[str, str]:
    """`kubernetes/<spec>-serving-monitors.yaml`, unless kubernetes.serving_monitors is false."""
    if not plan.spec.kubernetes.serving_monitors or not plan.models:
        return {}
    return {f"kubernetes/{plan.name}-serving-monitors.yaml": manifest(head, pod_monitors(plan))}


def pod_monitors(plan: Plan) -> list[dict[str, Any]]:
    """One PodMonitor per serving namespace, in namespace order."""
    by_namespace: dict[str, list[Model]] = defaultdict(list)
    for model in plan.models:
        by_namespace[model.namespace].append(model)
    where = endpoints(plan)
    return [_pod_monitor(plan, namespace, models, where) for namespace, models in sorted(by_namespace.items())]


def _pod_monitor(plan: Plan, namespace: str, models: list[Model],
                 where: dict[str, tuple[str | int, str]]) -> dict[str, Any]:
    groups: dict[tuple[str, str, str], list[Model]] = defaultdict(list)
    for model in models:
        port, path = where[model.name]
        groups[(type(port).__name__, str(port), path)].append(model)
    endpoints = []
    for (kind, port, path), members in sorted(groups.items()):
        regexes = sorted({m.pods for m in members})
        endpoint: dict[str, Any] = {"portNumber": int(port)} if kind == "int" else {"port": port}
        endpoint.update({
            "path": path, "scheme": "http", "interval": crd_duration(plan.spec.kubernetes.scrape_interval),
            # relabel regexes are anchored, like `pods`: a pod is kept when its whole name matches one model's
            "relabelings": [{"action": "keep", "sourceLabels": ["__meta_kubernetes_pod_name"],
                             "regex": "|".join(f"(?:{r})" for r in regexes)}],
        })
        endpoints.append(endpoint)
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": {"name": object_name(plan.name, "serving", namespace, limit=253), "namespace": plan.namespace,
                     "labels": object_labels(plan, "serving-monitor")},
        "spec": {"namespaceSelector": {"matchNames": [namespace]}, "selector": {},
                 "podMetricsEndpoints": endpoints},
    }
