"""OpenTelemetry Collector: OTLP in, tail sampling (errors, slow traces, a share of the rest), OTLP out.

Slow means slower than the model's own latency objective (else its latency_p99 alert threshold). Models are told
apart by the `gen_ai.response.model` span attribute (OpenTelemetry GenAI conventions; vLLM sets it to the served
model name). With one threshold for every model a single latency policy suffices. With several, each threshold
but the largest gets an `and` policy (model name and latency), and one plain latency policy at the largest
threshold keeps slow traces of every model, including traces that carry no model name: a trace is never kept
for being faster than its own model's objective. Tail sampling needs every span of a trace at one collector:
llmmon deploys one replica (otel_kube.py says why). The collector's own metrics are served for Prometheus on
:8888 and scraped by a ServiceMonitor; the pipeline alerts read them.
"""

from __future__ import annotations

import math
from typing import Any

from llmmon.emit import otel_kube
from llmmon.emit.kube import manifest
from llmmon.emit.kubernetes import object_labels
from llmmon.emit.otel_kube import PORTS, memory_limits
from llmmon.model import Plan
from llmmon.yamlout import dump

MODEL_ATTRIBUTE = "gen_ai.response.model"
MIN_DECISION_WAIT_S = 10
_IN_CLUSTER = (".svc", ".svc.cluster.local", ".local")


def env_safe(text: str) -> str:
    """A string the collector reads back as it is: `$` would start ${env:...} expansion, `$$` is a literal `$`."""
    return text.replace("$", "$$")


def slow_thresholds(plan: Plan) -> dict[float, list[str]]:
    """Latency threshold (seconds) → served names of the models it applies to, smallest first."""
    out: dict[float, list[str]] = {}
    for model in plan.models:
        objective = model.objective("latency")
        alert = model.alert("latency_p99")
        threshold = objective.threshold if objective else alert.threshold if alert else None
        if threshold:
            out.setdefault(threshold, []).append(model.served_name)
    return {t: sorted(set(names)) for t, names in sorted(out.items())}


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _policies(plan: Plan, sampling: float) -> list[dict[str, Any]]:
    policies: list[dict[str, Any]] = [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}}]
    thresholds = slow_thresholds(plan)
    ordered = list(thresholds)
    for threshold in ordered[:-1]:
        policies.append({"name": f"slow-over-{_ms(threshold)}ms", "type": "and", "and": {"and_sub_policy": [
            {"name": "model", "type": "string_attribute",
             "string_attribute": {"key": MODEL_ATTRIBUTE, "values": [env_safe(n) for n in thresholds[threshold]]}},
            {"name": "latency", "type": "latency", "latency": {"threshold_ms": _ms(threshold)}},
        ]}})
    if ordered:
        policies.append({"name": f"slow-over-{_ms(ordered[-1])}ms", "type": "latency",
                         "latency": {"threshold_ms": _ms(ordered[-1])}})
    policies.append({"name": "sample", "type": "probabilistic", "probabilistic": {"sampling_percentage": sampling}})
    return policies


def _insecure(endpoint: str) -> bool:
    """In-cluster service names and loopback speak plain gRPC; anything else gets TLS."""
    host = endpoint.rsplit(":", 1)[0].lower()
    return "." not in host or host.endswith(_IN_CLUSTER) or host in ("localhost", "127.0.0.1")


def collector(plan: Plan) -> dict[str, Any]:
    """The collector configuration as data."""
    tracing = plan.spec.tracing
    assert tracing is not None
    thresholds = list(slow_thresholds(plan))
    wait = max(MIN_DECISION_WAIT_S, math.ceil(2 * max(thresholds, default=0)))
    limit_mib, spike_mib = memory_limits()
    processors: dict[str, Any] = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": limit_mib, "spike_limit_mib": spike_mib},
        "tail_sampling": {"decision_wait": f"{wait}s", "num_traces": 50000,
                          "policies": _policies(plan, tracing.sampling)},
        "batch": {"send_batch_size": 8192, "send_batch_max_size": 16384, "timeout": "5s"},
    }
    pipeline = ["memory_limiter", "tail_sampling"]
    if plan.cluster:
        processors["resource"] = {"attributes": [
            {"key": "k8s.cluster.name", "value": env_safe(plan.cluster), "action": "upsert"}]}
        pipeline.append("resource")
    pipeline.append("batch")
    return {
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{PORTS['health']}"}},
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": f"0.0.0.0:{PORTS['otlp-grpc']}"},
                                             "http": {"endpoint": f"0.0.0.0:{PORTS['otlp-http']}"}}}},
        "processors": processors,
        "exporters": {"otlp": {
            "endpoint": env_safe(tracing.otlp_endpoint),
            "tls": {"insecure": _insecure(tracing.otlp_endpoint)},
            "compression": "gzip",
            "sending_queue": {"enabled": True, "num_consumers": 4, "queue_size": 5000},
            "retry_on_failure": {"enabled": True, "initial_interval": "5s", "max_interval": "30s",
                                 "max_elapsed_time": "300s"},
        }},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": pipeline, "exporters": ["otlp"]}},
            "telemetry": {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {
                "host": "0.0.0.0", "port": PORTS["metrics"]}}}}]}},
        },
    }


def emit(plan: Plan, head: str) -> dict[str, str]:
    """out/otel/collector.yaml and the collector's Deployment with its config, when the spec has a tracing
    section."""
    if plan.spec.tracing is None:
        return {}
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    text = comment + dump(collector(plan))
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{plan.name}-otel-collector", "namespace": plan.namespace,
                     "labels": object_labels(plan, "otel-collector")},
        "data": {"collector.yaml": text},
    }
    return {"otel/collector.yaml": text,
            f"kubernetes/{plan.name}-otel-collector.yaml": manifest(head, otel_kube.objects(plan, text, config_map))}
