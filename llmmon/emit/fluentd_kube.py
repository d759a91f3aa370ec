"""Fluentd as Kubernetes objects: a DaemonSet on the serving (GPU) nodes, its RBAC, config and PodMonitor.

The image is the official fluent/fluentd-kubernetes-daemonset, Elasticsearch 8 flavour, pinned. Its Gemfile
ships every plugin the generated config uses (PLUGINS); the config uses no other.

Fluentd runs as root with every capability dropped: the kubelet writes container logs as root-owned files of mode
0640, which only their owner may read, and the positions and buffers live on a hostPath the kubelet creates
owned by root. The log folders are mounted read-only; only the state folder is writable. Every deliberate
exception to checkov's checks is a `checkov.io/skip<n>` annotation with its reason (EXCEPTIONS).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Any

from llmmon.emit import fluentd
from llmmon.emit.kube import manifest, object_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan

IMAGE = "docker.io/fluent/fluentd-kubernetes-daemonset"
TAG = "v1.19.3-debian-elasticsearch8-1.1"  # fluentd 1.19.3; plugins as in its Gemfile.lock (PLUGINS)
COMPONENT = "fluentd"
CONFIG_DIR = "/fluentd/etc"  # the image reads /fluentd/etc/$FLUENTD_CONF (fluent.conf)
CREDENTIALS_SECRET = "elasticsearch-credentials"  # optional Secret: keys username, password
# The plugins of the image's Gemfile.lock (docker-image/v1.19/debian-elasticsearch8) the config uses, by type.
PLUGINS: dict[str, str] = {
    "tail, regexp, json, grep, parser, record_transformer, relabel, file, secondary_file, monitor_agent":
        "fluentd 1.19.3 (core)",
    "elasticsearch": "fluent-plugin-elasticsearch 5.4.4",
    "kubernetes_metadata": "fluent-plugin-kubernetes_metadata_filter 3.8.0",
    "concat": "fluent-plugin-concat 2.6.2",
    "prometheus, prometheus_output_monitor": "fluent-plugin-prometheus 2.2.2",
}
REQUESTS = {"cpu": "100m", "memory": "256Mi"}
LIMITS = {"cpu": "1", "memory": "512Mi"}

ROOT_REASON = ("Fluentd runs as root to read the container log files, which the kubelet writes as root-owned files "
               "of mode 0640; every capability is dropped, escalation is off and the log folders are read-only")
EXCEPTIONS: dict[str, str] = {
    "CKV_K8S_23": ROOT_REASON,
    "CKV_K8S_40": ROOT_REASON,
    "CKV_K8S_38": ("the kubernetes_metadata filter reads pod and namespace names from the API server with the "
                   "service account's token (get, list and watch on pods and namespaces only)"),
    "CKV_K8S_35": ("fluent-plugin-elasticsearch takes user and password as parameters, which the config reads only "
                   "from the environment; the optional Secret fills them, the config holds no secret"),
    "CKV_K8S_43": "the image is pinned to a release tag; llmmon cannot look up its digest offline",
}
_GLOB = re.compile(r"[*?\[{]")


def name(plan: Plan) -> str:
    """Name of the ServiceAccount, DaemonSet, ClusterRole and PodMonitor."""
    return object_name(plan.name, COMPONENT)


def selector(plan: Plan) -> dict[str, str]:
    """The pod labels the DaemonSet and PodMonitor select on."""
    return {"app.kubernetes.io/component": COMPONENT, "app.kubernetes.io/name": plan.name}


def host_folders(plan: Plan) -> list[str]:
    """The node folders Fluentd reads, mounted read-only: /var/log for container logs (the links in
    /var/log/containers point into /var/log/pods), else the fixed part of each glob of `path`."""
    logging = plan.spec.logging
    assert logging is not None
    if logging.source == "containers":
        return ["/var/log"]
    folders: set[str] = set()
    for glob in (logging.path or "").split(","):
        fixed = _GLOB.split(glob.strip(), maxsplit=1)[0]
        folders.add(posixpath.dirname(fixed.rstrip("/")) if _GLOB.search(glob) or not fixed.endswith("/")
                    else fixed.rstrip("/"))
    ordered = sorted(f or "/" for f in folders)
    return [f for f in ordered if not any(f != o and f.startswith(o.rstrip("/") + "/") for o in ordered)]


def objects(plan: Plan, conf: str, config_map: dict[str, Any]) -> list[dict[str, Any]]:
    """ServiceAccount, ClusterRole and binding, ConfigMap, DaemonSet, NetworkPolicy and PodMonitor."""
    meta = {"name": name(plan), "namespace": plan.namespace, "labels": object_labels(plan, COMPONENT)}
    cluster_meta = {"name": object_name(plan.name, COMPONENT, plan.namespace, limit=253),
                    "labels": object_labels(plan, COMPONENT)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta, "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": cluster_meta,
         "rules": [{"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": cluster_meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": cluster_meta["name"]},
         "subjects": [{"kind": "ServiceAccount", "name": name(plan), "namespace": plan.namespace}]},
        config_map,
        _daemonset(plan, conf),
        _network_policy(plan, meta),
        _pod_monitor(plan),
    ]


def _skips() -> dict[str, str]:
    return {f"checkov.io/skip{i}": f"{check}={reason}" for i, (check, reason) in enumerate(EXCEPTIONS.items(), 1)}


def _daemonset(plan: Plan, conf: str) -> dict[str, Any]:
    gpu = plan.spec.gpu_exporter
    folders = host_folders(plan)
    volumes: list[dict[str, Any]] = [
        {"name": "config", "configMap": {"name": f"{plan.name}-fluentd"}},
        {"name": "state", "hostPath": {"path": fluentd.STATE_DIR, "type": "DirectoryOrCreate"}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
        {"name": "state", "mountPath": fluentd.STATE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    for i, folder in enumerate(folders):
        volume = "logs" if len(folders) == 1 else f"logs-{i}"
        volumes.append({"name": volume, "hostPath": {"path": folder, "type": "Directory"}})
        mounts.append({"name": volume, "mountPath": folder, "readOnly": True})
    credentials = [{"name": env, "valueFrom": {"secretKeyRef": {"name": CREDENTIALS_SECRET, "key": key,
                                                                 "optional": True}}}
                   for env, key in (("FLUENT_ELASTICSEARCH_USER", "username"),
                                    ("FLUENT_ELASTICSEARCH_PASSWORD", "password"))]
    probe = {"httpGet": {"path": "/api/plugins.json", "port": "monitor"}, "timeoutSeconds": 5}
    container = {
        "name": COMPONENT, "image": f"{IMAGE}:{TAG}", "imagePullPolicy": "Always",
        "env": [{"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "FLUENTD_CONF", "value": "fluent.conf"}, *credentials],
        "ports": [{"name": "metrics", "containerPort": fluentd.PROMETHEUS_PORT, "protocol": "TCP"},
                  {"name": "monitor", "containerPort": fluentd.MONITOR_PORT, "protocol": "TCP"}],
        "livenessProbe": {**probe, "initialDelaySeconds": 30, "periodSeconds": 30, "failureThreshold": 3},
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {"requests": dict(REQUESTS), "limits": dict(LIMITS)},
        "securityContext": {"allowPrivilegeEscalation": False, "privileged": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": False, "runAsUser": 0, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": sorted(mounts, key=lambda m: m["mountPath"]),
    }
    pod: dict[str, Any] = {
        "serviceAccountName": name(plan),
        "automountServiceAccountToken": True,  # the kubernetes_metadata filter asks the API server
        "priorityClassName": gpu.priority_class,
        "nodeSelector": dict(sorted(gpu.node_selector.items())),
        "tolerations": [t.model_dump(exclude_none=True) for t in gpu.tolerations],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": 60,  # flush_at_shutdown: buffered chunks are written out first
        "containers": [container],
        "volumes": sorted(volumes, key=lambda v: v["name"]),
    }
    digest = hashlib.sha256(conf.encode()).hexdigest()
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name(plan), "namespace": plan.namespace, "labels": object_labels(plan, COMPONENT),
                     "annotations": _skips()},
        "spec": {
            "selector": {"matchLabels": selector(plan)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                # a changed config restarts the pods: its hash is part of the pod template
                "metadata": {"labels": object_labels(plan, COMPONENT),
                             "annotations": {"llmmon.dev/config-sha256": digest}},
                "spec": pod,
            },
        },
    }


def _network_policy(plan: Plan, meta: dict[str, Any]) -> dict[str, Any]:
    """Only the metrics and monitor ports are reachable; egress stays open (Elasticsearch, the API server, DNS)."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta,
        "spec": {"podSelector": {"matchLabels": selector(plan)}, "policyTypes": ["Ingress"],
                 "ingress": [{"ports": [{"port": "metrics", "protocol": "TCP"},
                                        {"port": "monitor", "protocol": "TCP"}]}]},
    }


def _pod_monitor(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": {"name": name(plan), "namespace": plan.namespace, "labels": object_labels(plan, COMPONENT)},
        "spec": {"namespaceSelector": {"matchNames": [plan.namespace]}, "selector": {"matchLabels": selector(plan)},
                 "podMetricsEndpoints": [{"port": "metrics", "path": "/metrics", "scheme": "http",
                                          "interval": str(plan.spec.kubernetes.scrape_interval)}]},
    }


def emit(plan: Plan, head: str, conf: str, config_map: dict[str, Any]) -> str:
    """The manifest text of kubernetes/<spec>-fluentd.yaml."""
    return manifest(head, objects(plan, conf, config_map))
