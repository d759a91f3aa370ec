"""The GPU exporter as Kubernetes objects: a DaemonSet on the GPU nodes, its Service and ServiceMonitor.

dcgm-exporter (port 9400) maps GPUs to pods through the kubelet's pod-resources socket, so its series carry
the `namespace` and `pod` of the pod using each GPU; the ServiceMonitor keeps those (honorLabels) because
the utilisation rules join on them. nvidia_gpu_exporter (port 9835) knows no pods: the ServiceMonitor adds a
`node` label, which the rules join with kube_pod_info. Both get `node`, for dashboards.

Every deliberate exception to the security scanner's checks is a `checkov.io/skip<n>` annotation on the
object it concerns, with its reason; `checks/checkov.py` fails on any other finding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from llmmon.emit.kube import crd_duration, manifest, object_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan

COUNTERS_DIR = "/etc/llmmon-dcgm"
PSA = "pod-security.kubernetes.io/enforce"


@dataclass(frozen=True)
class Exporter:
    """One GPU exporter: its image, port and the security posture it needs."""

    kind: str  # the spec's gpu_exporter.kind
    app: str  # component name of its objects
    image: str
    tag: str  # a tested release; the spec may pin another
    port: int
    health_path: str
    run_as_root: bool
    requests: dict[str, str]
    limits: dict[str, str]
    pod_security: str  # the Pod Security Standard its pods need


EXPORTERS = {
    "dcgm": Exporter("dcgm", "dcgm-exporter", "nvcr.io/nvidia/k8s/dcgm-exporter", "4.5.3-4.8.2-distroless", 9400,
                     "/health", True, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "500m", "memory": "512Mi"},
                     "privileged"),
    "nvml": Exporter("nvml", "nvidia-gpu-exporter", "docker.io/utkuozdemir/nvidia_gpu_exporter", "1.15.1", 9835,
                     "/", False, {"cpu": "50m", "memory": "64Mi"}, {"cpu": "500m", "memory": "256Mi"}, "restricted"),
}

# DCGM fields the generated dcgm-exporter collects: (field, Prometheus type, help). The rules and dashboards
# may only query these (checked by `llmmon validate`).
DCGM_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilisation (%)."),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory bandwidth utilisation (%)."),
    ("DCGM_FI_DEV_FB_USED", "gauge", "Frame buffer memory used (MiB)."),
    ("DCGM_FI_DEV_FB_FREE", "gauge", "Frame buffer memory free (MiB)."),
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Energy used since boot (mJ)."),
    ("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (C)."),
    ("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock (MHz)."),
    ("DCGM_FI_DEV_XID_ERRORS", "gauge", "Last XID error; non-zero is a hardware or driver fault."),
    # GPU health (issue 21): names and types as in dcgm-exporter's etc/default-counters.csv
    ("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock (MHz)."),
    ("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (C)."),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "PCIe retries."),
    ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped for uncorrectable errors."),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped for correctable errors."),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping rows has failed (1: failed)."),
)
DCGM_PROFILING_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Share of time the graphics engine is busy (0-1; valid under MIG)."),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Share of cycles the tensor pipe is busy (0-1)."),
    ("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Share of cycles device memory is busy (0-1)."),
)

# The deliberate exceptions to checkov's Kubernetes checks, each with the reason it is safe here.
DCGM_ROOT = ("dcgm-exporter runs as root: it reads the kubelet's pod-resources socket, which only root may open, "
             "to label GPU series with the pod using each GPU; every capability is dropped and escalation is off")
PROFILING = ("SYS_ADMIN, the one capability added, is there only because gpu_exporter.profiling asks for the "
             "DCGM_FI_PROF_* fields, which the driver serves to that capability alone")
EXCEPTIONS: dict[str, str] = {
    "CKV_K8S_23": DCGM_ROOT,
    "CKV_K8S_40": DCGM_ROOT,
    "CKV_K8S_25": PROFILING,
    "CKV_K8S_39": PROFILING,
    "CKV_K8S_43": ("the image is pinned to a release tag; set gpu_exporter.tag to sha256:<digest> to pin the "
                   "digest, which llmmon cannot look up offline"),
}


def collected_metrics(plan: Plan) -> frozenset[str]:
    """The DCGM metric names the generated dcgm-exporter exposes (empty when llmmon deploys none)."""
    cfg = plan.spec.gpu_exporter
    if cfg.kind != "dcgm" or not cfg.deploy:
        return frozenset()
    return frozenset(f for f, _, _ in DCGM_FIELDS + (DCGM_PROFILING_FIELDS if cfg.profiling else ()))


def emit(plan: Plan, head: str) -> dict[str, str]:
    """`kubernetes/<spec>-gpu-exporter.yaml`, or nothing when the spec deploys no exporter."""
    cfg = plan.spec.gpu_exporter
    if cfg.kind == "none" or not cfg.deploy:
        return {}
    return {f"kubernetes/{plan.name}-gpu-exporter.yaml": manifest(head, objects(plan, head))}


def objects(plan: Plan, head: str) -> list[dict[str, Any]]:
    """Namespace (when llmmon owns it), ServiceAccount, counters ConfigMap (dcgm), DaemonSet, NetworkPolicy,
    Service and ServiceMonitor."""
    cfg = plan.spec.gpu_exporter
    exp = EXPORTERS[cfg.kind]
    out: list[dict[str, Any]] = []
    if _owns_namespace(plan):
        labels = {**object_labels(plan, exp.app), PSA: exp.pod_security, f"{PSA}-version": "latest"}
        out.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": cfg.namespace, "labels": dict(sorted(labels.items()))}})
    out.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(plan, exp),
                "automountServiceAccountToken": False})
    counters = _counters(plan, head) if exp.kind == "dcgm" else None
    if counters is not None:
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(plan, exp, "counters"),
                    "data": {"counters.csv": counters}})
    out += [_daemonset(plan, exp, counters), _network_policy(plan, exp), _service(plan, exp),
            _service_monitor(plan, exp)]
    return out


def _owns_namespace(plan: Plan) -> bool:
    cfg = plan.spec.gpu_exporter
    shared = {plan.namespace, *(m.namespace for m in plan.models)}
    return cfg.create_namespace and cfg.namespace not in shared


def _name(plan: Plan, exp: Exporter, suffix: str = "") -> str:
    return object_name(plan.name, exp.app, suffix)


def _meta(plan: Plan, exp: Exporter, suffix: str = "", annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": _name(plan, exp, suffix), "namespace": plan.spec.gpu_exporter.namespace,
                            "labels": object_labels(plan, exp.app)}
    if annotations:
        meta["annotations"] = annotations
    return meta


def _selector(plan: Plan, exp: Exporter) -> dict[str, str]:
    """The pod labels the DaemonSet, Service, NetworkPolicy and ServiceMonitor select on (immutable once applied)."""
    return {"app.kubernetes.io/component": exp.app, "app.kubernetes.io/name": plan.name}


def _counters(plan: Plan, head: str) -> str:
    fields = DCGM_FIELDS + (DCGM_PROFILING_FIELDS if plan.spec.gpu_exporter.profiling else ())
    lines = [f"# {line}" for line in head.splitlines()]
    lines.append("# DCGM field, Prometheus metric type, help message")
    lines += [f"{field}, {kind}, {text}" for field, kind, text in fields]
    return "\n".join(lines) + "\n"


def _skips(plan: Plan, exp: Exporter, image_ref: str) -> dict[str, str]:
    ids = []
    if exp.run_as_root:
        ids += ["CKV_K8S_23", "CKV_K8S_40"]
    if exp.kind == "dcgm" and plan.spec.gpu_exporter.profiling:
        ids += ["CKV_K8S_25", "CKV_K8S_39"]
    if "@sha256:" not in image_ref:
        ids.append("CKV_K8S_43")
    return {f"checkov.io/skip{i}": f"{check}={EXCEPTIONS[check]}" for i, check in enumerate(ids, 1)}


def _image(plan: Plan, exp: Exporter) -> str:
    cfg = plan.spec.gpu_exporter
    tag = cfg.tag or exp.tag
    return f"{cfg.image or exp.image}{'@' if tag.startswith('sha256:') else ':'}{tag}"


def _container(plan: Plan, exp: Exporter) -> dict[str, Any]:
    cfg = plan.spec.gpu_exporter
    env: list[dict[str, Any]] = [{"name": "NVIDIA_VISIBLE_DEVICES", "value": "all"}]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    args: list[str] = []
    if exp.kind == "dcgm":
        env += [{"name": "DCGM_EXPORTER_LISTEN", "value": f":{exp.port}"},
                {"name": "DCGM_EXPORTER_KUBERNETES", "value": "true"},
                {"name": "DCGM_EXPORTER_COLLECTORS", "value": f"{COUNTERS_DIR}/counters.csv"},
                {"name": "DCGM_EXPORTER_INTERVAL", "value": str(cfg.scrape_interval.ms)},
                {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
        mounts += [{"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True},
                   {"name": "counters", "mountPath": COUNTERS_DIR, "readOnly": True}]
    else:
        env.append({"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "utility"})
        args = [f"--web.listen-address=:{exp.port}", "--web.telemetry-path=/metrics", "--query-field-names=AUTO"]
    security: dict[str, Any] = {"allowPrivilegeEscalation": False, "privileged": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]}}
    if exp.kind == "dcgm" and cfg.profiling:
        security["capabilities"]["add"] = ["SYS_ADMIN"]
    if exp.run_as_root:
        security.update(runAsNonRoot=False, runAsUser=0)
    else:
        security.update(runAsNonRoot=True, runAsUser=65534, runAsGroup=65534)
    probe = {"httpGet": {"path": exp.health_path, "port": "metrics"}, "timeoutSeconds": 5}
    container: dict[str, Any] = {
        "name": exp.app, "image": _image(plan, exp), "imagePullPolicy": "Always",
        **({"args": args} if args else {}),
        "env": env,
        "ports": [{"name": "metrics", "containerPort": exp.port, "protocol": "TCP"}],
        # DCGM starts its embedded host engine first: give it a minute before liveness counts
        "livenessProbe": {**probe, "initialDelaySeconds": 60, "periodSeconds": 30, "failureThreshold": 3},
        "readinessProbe": {**probe, "initialDelaySeconds": 5, "periodSeconds": 10},
        "resources": {kind: {**base, **cfg.resources.get(kind, {})}  # type: ignore[call-overload]
                      for kind, base in (("requests", exp.requests), ("limits", exp.limits))},
        "securityContext": security,
        "volumeMounts": sorted(mounts, key=lambda m: m["mountPath"]),
    }
    return container


def _daemonset(plan: Plan, exp: Exporter, counters: str | None) -> dict[str, Any]:
    cfg = plan.spec.gpu_exporter
    image = _image(plan, exp)
    volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}}]
    template_annotations = {}
    if exp.kind == "dcgm":
        volumes += [{"name": "pod-resources", "hostPath": {"path": cfg.pod_resources_path, "type": "Directory"}},
                    {"name": "counters", "configMap": {"name": _name(plan, exp, "counters")}}]
        # a changed field list must restart the pods: the ConfigMap's hash is part of the pod template
        template_annotations["llmmon.dev/counters-sha256"] = hashlib.sha256((counters or "").encode()).hexdigest()
    pod: dict[str, Any] = {
        "serviceAccountName": _name(plan, exp),
        "automountServiceAccountToken": False,
        "priorityClassName": cfg.priority_class,
        **({"runtimeClassName": cfg.runtime_class} if cfg.runtime_class else {}),
        "nodeSelector": dict(sorted(cfg.node_selector.items())),
        "tolerations": [t.model_dump(exclude_none=True) for t in cfg.tolerations],
        "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [_container(plan, exp)],
        "volumes": sorted(volumes, key=lambda v: v["name"]),
    }
    template_meta: dict[str, Any] = {"labels": object_labels(plan, exp.app)}
    if template_annotations:
        template_meta["annotations"] = template_annotations
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": _meta(plan, exp, annotations=_skips(plan, exp, image)),
        "spec": {
            "selector": {"matchLabels": _selector(plan, exp)},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {"metadata": template_meta, "spec": pod},
        },
    }


def _network_policy(plan: Plan, exp: Exporter) -> dict[str, Any]:
    """Only the metrics port is reachable, and the exporter reaches nothing: it talks to the kubelet and the
    driver through local sockets and devices, never the network."""
    return {
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _meta(plan, exp),
        "spec": {"podSelector": {"matchLabels": _selector(plan, exp)}, "policyTypes": ["Ingress", "Egress"],
                 "ingress": [{"ports": [{"port": "metrics", "protocol": "TCP"}]}], "egress": []},
    }


def _service(plan: Plan, exp: Exporter) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(plan, exp),
        "spec": {"type": "ClusterIP", "selector": _selector(plan, exp),
                 "ports": [{"name": "metrics", "port": exp.port, "targetPort": "metrics", "protocol": "TCP"}]},
    }


def _service_monitor(plan: Plan, exp: Exporter) -> dict[str, Any]:
    cfg = plan.spec.gpu_exporter
    endpoint: dict[str, Any] = {
        "port": "metrics", "path": "/metrics", "scheme": "http", "interval": crd_duration(cfg.scrape_interval),
        # dcgm's own namespace/pod labels name the pod using the GPU: they must win over the exporter pod's
        "honorLabels": exp.kind == "dcgm",
        "relabelings": [{"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"],
                         "targetLabel": "node"}],
    }
    return {
        "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
        "metadata": {"name": _name(plan, exp), "namespace": plan.namespace, "labels": object_labels(plan, exp.app)},
        "spec": {"namespaceSelector": {"matchNames": [cfg.namespace]},
                 "selector": {"matchLabels": _selector(plan, exp)}, "endpoints": [endpoint]},
    }

