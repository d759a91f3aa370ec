"""The OpenTelemetry Collector as Kubernetes objects: one replica, its Service (OTLP gRPC and HTTP), ServiceMonitor.

One replica, by design: tail sampling decides on whole traces, so every span of a trace must reach the same
collector. Two replicas behind one Service would each see part of most traces and judge them apart (an error in
one half, the latency in the other); spreading by trace ID needs a second tier of collectors with the
load-balancing exporter, which one replica does not. For the same reason a rollout replaces the pod (Recreate)
rather than running old and new side by side; senders retry OTLP while it restarts. One replica holds about
`num_traces` traces for `decision_wait`; memory_limiter refuses spans (senders retry) before the container limit.
"""

from __future__ import annotations

import hashlib
from typing import Any

from llmmon.emit.kube import object_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan

IMAGE = "docker.io/otel/opentelemetry-collector-contrib"
TAG = "0.161.0"  # the collector-contrib release whose components llmmon's config is written for
COMPONENT = "otel-collector"
CONFIG_DIR = "/etc/otelcol"
MEMORY_LIMIT_MIB = 2048  # the container limit; memory_limiter and GOMEMLIMIT are derived from it
MEMORY_LIMIT_PERCENT = 80  # memory_limiter's hard limit, as a share of the container's
SPIKE_PERCENT = 20  # of memory_limiter's limit: headroom between its soft and hard limit
PORTS = {"otlp-grpc": 4317, "otlp-http": 4318, "health": 13133, "metrics": 8888}
EXCEPTIONS: dict[str, str] = {
    "CKV_K8S_43": "the image is pinned to a release tag; llmmon cannot look up its digest offline",
}


def memory_limits() -> tuple[int, int]:
    """memory_limiter's (limit_mib, spike_limit_mib), below the container's memory limit."""
    limit = MEMORY_LIMIT_MIB * MEMORY_LIMIT_PERCENT // 100
    return limit, limit * SPIKE_PERCENT // 100


def name(plan: Plan) -> str:
    """Name of the Deployment, Service, ServiceAccount and ServiceMonitor (the Service is a DNS-1035 label)."""
    return object_name(plan.name, COMPONENT)


def endpoint(plan: Plan) -> str:
    """The OTLP/gRPC address serving pods send spans to."""
    return f"{name(plan)}.{plan.namespace}.svc:{PORTS['otlp-grpc']}"


def selector(plan: Plan) -> dict[str, str]:
    """The pod labels the Deployment, Service and NetworkPolicy select on."""
    return {"app.kubernetes.io/component": COMPONENT, "app.kubernetes.io/name": plan.name}


def objects(plan: Plan, config: str, config_map: dict[str, Any]) -> list[dict[str, Any]]:
    """ServiceAccount, ConfigMap, Deployment, Service, NetworkPolicy and ServiceMonitor."""
    meta = {"name": name(plan), "namespace": plan.namespace, "labels": object_labels(plan, COMPONENT)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        config_map,
        _deployment(plan, config, meta),
        {"apiVersion": "v1", "kind": "Service", "metadata": meta,
         "spec": {"type": "ClusterIP", "selector": selector(plan),
                  "ports": [{"name": port, "port": number, "targetPort": port, "protocol": "TCP",
                             **({"appProtocol": "grpc"} if port == "otlp-grpc" else {})}
                            for port, number in PORTS.items() if port != "health"]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
         "spec": {"podSelector": {"matchLabels": selector(plan)}, "policyTypes": ["Ingress"],
                  "ingress": [{"ports": [{"port": port, "protocol": "TCP"} for port in PORTS]}]}},
        {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": meta,
         "spec": {"namespaceSelector": {"matchNames": [plan.namespace]},
                  "selector": {"matchLabels": selector(plan)},
                  "endpoints": [{"port": "metrics", "path": "/metrics", "scheme": "http",
                                 "interval": str(plan.spec.kubernetes.scrape_interval)}]}},
    ]


def _deployment(plan: Plan, config: str, meta: dict[str, Any]) -> dict[str, Any]:
    limit, _ = memory_limits()
    probe = {"httpGet": {"path": "/", "port": "health"}, "timeoutSeconds": 5}
    container = {
        "name": COMPONENT, "image": f"{IMAGE}:{TAG}", "imagePullPolicy": "Always",
        "args": [f"--config={CONFIG_DIR}/collector.yaml"],
        # the Go runtime collects harder as the heap nears memory_limiter's limit, before the limiter refuses
        "env": [{"name": "GOMEMLIMIT", "value": f"{limit}MiB"}],
        "ports": [{"name": port, "containerPort": number, "protocol": "TCP"} for port, number in PORTS.items()],
        "livenessProbe": {**probe, "initialDelaySeconds": 10, "periodSeconds": 30, "failureThreshold": 3},
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "200m", "memory": f"{MEMORY_LIMIT_MIB // 2}Mi"},
                      "limits": {"cpu": "2", "memory": f"{MEMORY_LIMIT_MIB}Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    digest = hashlib.sha256(config.encode()).hexdigest()
    skips = {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(EXCEPTIONS.items(), 1)}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {**meta, "annotations": skips},
        "spec": {
            "replicas": 1,  # tail sampling: every span of a trace at one collector (module docstring)
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector(plan)},
            "template": {
                "metadata": {"labels": object_labels(plan, COMPONENT),
                             "annotations": {"llmmon.dev/config-sha256": digest}},
                "spec": {
                    "serviceAccountName": name(plan),
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [{"name": "config", "configMap": {"name": f"{plan.name}-otel-collector"}}],
                },
            },
        },
    }
