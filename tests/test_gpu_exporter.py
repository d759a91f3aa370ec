"""The GPU exporter manifests: what runs on the GPU nodes, with which privileges, and how it is scraped."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import exporter, objects, one, variant

from helpers import EXAMPLE, plan_of
from llmmon.emit import gpu_exporter
from llmmon.emit.kustomize import KUSTOMIZATION
from llmmon.generate import build


def _container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = one(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.fixture(scope="module")
def dcgm() -> list[dict[str, Any]]:
    return exporter(plan_of(EXAMPLE))


def test_the_example_deploys_dcgm_exporter_with_its_service_and_service_monitor(dcgm: list[dict[str, Any]]) -> None:
    assert [d["kind"] for d in dcgm] == ["Namespace", "ServiceAccount", "ConfigMap", "DaemonSet", "NetworkPolicy",
                                         "Service", "ServiceMonitor"]
    assert {d["metadata"]["namespace"] for d in dcgm if d["kind"] not in ("Namespace", "ServiceMonitor")} == \
        {"gpu-monitoring"}
    assert one(dcgm, "ServiceMonitor")["metadata"]["namespace"] == "monitoring"


def test_the_dcgm_image_is_pinned_and_never_latest(dcgm: list[dict[str, Any]]) -> None:
    image = _container(dcgm)["image"]
    assert re.fullmatch(r"nvcr\.io/nvidia/k8s/dcgm-exporter:\d+\.\d+\.\d+-\d+\.\d+\.\d+-distroless", image), image


def test_dcgm_listens_on_9400_in_kubernetes_mode_with_the_node_name(dcgm: list[dict[str, Any]]) -> None:
    container = _container(dcgm)
    assert container["ports"] == [{"name": "metrics", "containerPort": 9400, "protocol": "TCP"}]
    env = _env(container)
    assert env["DCGM_EXPORTER_LISTEN"] == ":9400"
    assert env["DCGM_EXPORTER_KUBERNETES"] == "true"
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert env["DCGM_EXPORTER_INTERVAL"] == "30000"  # collected as often as it is scraped


def test_dcgm_mounts_the_pod_resources_folder_read_only(dcgm: list[dict[str, Any]]) -> None:
    mount = next(m for m in _container(dcgm)["volumeMounts"] if m["name"] == "pod-resources")
    assert mount == {"name": "pod-resources", "mountPath": "/var/lib/kubelet/pod-resources", "readOnly": True}
    volumes = one(dcgm, "DaemonSet")["spec"]["template"]["spec"]["volumes"]
    host_paths = [v["hostPath"]["path"] for v in volumes if "hostPath" in v]
    assert host_paths == ["/var/lib/kubelet/pod-resources"]


def test_dcgm_drops_every_capability_and_adds_none_without_profiling(dcgm: list[dict[str, Any]]) -> None:
    security = _container(dcgm)["securityContext"]
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False
    assert security["privileged"] is False
    assert security["readOnlyRootFilesystem"] is True
    pod = one(dcgm, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["automountServiceAccountToken"] is False
    assert "hostNetwork" not in pod and "hostPID" not in pod


def test_profiling_adds_sys_admin_and_the_profiling_fields(tmp_path: Path) -> None:
    docs = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(profiling=True)))
    assert _container(docs)["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["SYS_ADMIN"]}
    counters = one(docs, "ConfigMap")["data"]["counters.csv"]
    assert "DCGM_FI_PROF_GR_ENGINE_ACTIVE, gauge," in counters
    annotations = one(docs, "DaemonSet")["metadata"]["annotations"]
    assert {v.split("=")[0] for v in annotations.values()} >= {"CKV_K8S_25", "CKV_K8S_39"}


def test_the_pods_restart_when_the_collected_fields_change(tmp_path: Path, dcgm: list[dict[str, Any]]) -> None:
    def checksum(docs: list[dict[str, Any]]) -> str:
        return str(one(docs, "DaemonSet")["spec"]["template"]["metadata"]["annotations"]["llmmon.dev/counters-sha256"])

    profiled = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(profiling=True)))
    assert checksum(profiled) != checksum(dcgm)


def test_the_exporter_has_requests_limits_gpu_node_placement_and_node_critical_priority(
        dcgm: list[dict[str, Any]]) -> None:
    resources = _container(dcgm)["resources"]
    assert set(resources) == {"requests", "limits"}
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    pod = one(dcgm, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["runtimeClassName"] == "nvidia"


def test_the_service_monitor_carries_metadata_labels_and_the_spec_scrape_interval(tmp_path: Path) -> None:
    docs = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(scrape_interval="15s")))
    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["interval"] == "15s"
    assert _env(_container(docs))["DCGM_EXPORTER_INTERVAL"] == "15000"


def test_the_service_monitor_selects_the_exporter_service_and_keeps_dcgm_pod_labels(
        dcgm: list[dict[str, Any]]) -> None:
    monitor, service = one(dcgm, "ServiceMonitor"), one(dcgm, "Service")
    daemonset = one(dcgm, "DaemonSet")
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["gpu-monitoring"]}
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert service["spec"]["selector"] == daemonset["spec"]["selector"]["matchLabels"]
    assert daemonset["spec"]["selector"]["matchLabels"].items() <= \
        daemonset["spec"]["template"]["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    # the utilisation rule joins DCGM series on the GPU pod's namespace/pod, which the exporter writes itself
    assert endpoint["honorLabels"] is True


def test_nvml_exports_on_9835_as_nobody_with_a_node_label(tmp_path: Path) -> None:
    docs = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(kind="nvml")))
    container = _container(docs)
    assert container["ports"] == [{"name": "metrics", "containerPort": 9835, "protocol": "TCP"}]
    assert container["image"].startswith("docker.io/utkuozdemir/nvidia_gpu_exporter:")
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["runAsUser"] == 65534
    assert "hostPath" not in yaml.safe_dump(one(docs, "DaemonSet"))
    assert one(docs, "Namespace")["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    (endpoint,) = one(docs, "ServiceMonitor")["spec"]["endpoints"]
    # the rules join nvidia_smi_* on (node) with kube_pod_info: the exporter's series need `node`
    assert {"action": "replace", "sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node"} \
        in endpoint["relabelings"]
    assert endpoint["honorLabels"] is False


def test_image_repository_and_tag_can_be_overridden_and_a_digest_needs_no_exception(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    docs = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(
        image="registry.internal:5000/mirror/dcgm-exporter", tag=digest)))
    assert _container(docs)["image"] == f"registry.internal:5000/mirror/dcgm-exporter@{digest}"
    skipped = [v.split("=")[0] for v in one(docs, "DaemonSet")["metadata"]["annotations"].values()]
    assert skipped == ["CKV_K8S_23", "CKV_K8S_40"]


def test_every_checkov_exception_states_its_reason_without_an_equals_sign(dcgm: list[dict[str, Any]]) -> None:
    annotations = one(dcgm, "DaemonSet")["metadata"]["annotations"]
    assert set(annotations) == {"checkov.io/skip1", "checkov.io/skip2", "checkov.io/skip3"}
    for value in annotations.values():
        check, reason = value.split("=")  # checkov splits on '=': a second one would break its parser
        assert check in gpu_exporter.EXCEPTIONS and len(reason) > 40


def test_resources_node_selector_and_tolerations_come_from_the_spec(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["gpu_exporter"].update(resources={"limits": {"memory": "1Gi"}}, node_selector={"gpu": "h100"},
                                    tolerations=[{"operator": "Exists"}], runtime_class=None,
                                    priority_class="gpu-monitoring")

    docs = exporter(variant(tmp_path, change))
    resources = _container(docs)["resources"]
    assert resources["limits"] == {"cpu": "500m", "memory": "1Gi"}
    assert resources["requests"] == {"cpu": "100m", "memory": "128Mi"}
    pod = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "h100"}
    assert pod["tolerations"] == [{"operator": "Exists"}]
    assert "runtimeClassName" not in pod
    assert pod["priorityClassName"] == "gpu-monitoring"


def _no_gpu_exporter(data: dict[str, Any]) -> None:
    data["gpu_exporter"]["kind"] = "none"
    data["defaults"]["alerts"]["gpu_utilization_low"]["enabled"] = False  # it would have no GPU series


@pytest.mark.parametrize("change", [_no_gpu_exporter, lambda d: d["gpu_exporter"].update(deploy=False)],
                         ids=["kind-none", "deploy-false"])
def test_an_exporter_turned_off_leaves_no_manifest_and_the_kustomization_follows(tmp_path: Path, change: Any) -> None:
    bundle = build(variant(tmp_path, change))
    assert not [p for p in bundle.files if "gpu-exporter" in p]
    listed = yaml.safe_load(bundle.files[KUSTOMIZATION])["resources"]
    assert "llm-platform-gpu-exporter.yaml" not in listed
    assert "llm-platform-prometheusrule.yaml" in listed


def test_rules_keep_the_exporter_metric_names_when_llmmon_does_not_deploy_it(tmp_path: Path) -> None:
    bundle = build(variant(tmp_path, lambda d: d["gpu_exporter"].update(deploy=False)))
    assert "DCGM_FI_DEV_GPU_UTIL" in bundle.files[bundle.rules_file]


def test_every_dcgm_field_the_rules_query_is_collected_by_the_generated_exporter(
        dcgm: list[dict[str, Any]]) -> None:
    plan = plan_of(EXAMPLE)
    rules = build(plan).files[f"prometheus/rules/{plan.name}.rules.yaml"]
    queried = set(re.findall(r"\bDCGM_FI_[A-Z0-9_]+", rules))
    collected = {line.split(",")[0] for line in one(dcgm, "ConfigMap")["data"]["counters.csv"].splitlines()
                 if not line.startswith("#")}
    assert queried and queried <= collected


def test_the_namespace_is_not_generated_when_it_is_shared(tmp_path: Path) -> None:
    docs = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(namespace="monitoring")))
    assert "Namespace" not in [d["kind"] for d in docs]
    docs = exporter(variant(tmp_path, lambda d: d["gpu_exporter"].update(create_namespace=False)))
    assert "Namespace" not in [d["kind"] for d in docs]


def test_names_stay_dns_labels_for_the_longest_spec_name(tmp_path: Path) -> None:
    long = "a" * 30 + "-" + "b" * 32
    docs = exporter(variant(tmp_path, lambda d: d["metadata"].update(name=long)))
    names = {d["metadata"]["name"] for d in docs if d["kind"] != "Namespace"}
    assert all(len(n) <= 63 and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", n) for n in names), names
    assert len(names) == 2  # the workload's name and its counters ConfigMap's


def test_the_exporter_only_reaches_its_metrics_port(dcgm: list[dict[str, Any]]) -> None:
    policy = one(dcgm, "NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["egress"] == []
    assert policy["ingress"] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}]
    assert policy["podSelector"] == one(dcgm, "DaemonSet")["spec"]["selector"]


def test_the_file_starts_with_the_generated_by_header() -> None:
    bundle = build(plan_of(EXAMPLE))
    text = bundle.files["kubernetes/llm-platform-gpu-exporter.yaml"]
    assert text.startswith("# Code generated by llmmon ")
    assert objects(bundle, "gpu-exporter.yaml")[0]["kind"] == "Namespace"
