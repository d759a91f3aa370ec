"""The offline Kubernetes checks of `llmmon validate`: the example passes, and each kind of broken manifest fails."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_helpers import variant

from helpers import EXAMPLE, generate, plan_of
from llmmon.checks import crds, kubernetes
from llmmon.checks.registry import CheckResult
from llmmon.emit.kustomize import KUSTOMIZATION
from llmmon.generate import Bundle
from llmmon.model import Plan
from llmmon.spec_values import LABEL_KEY

EXPORTER = "kubernetes/llm-platform-gpu-exporter.yaml"
MONITORS = "kubernetes/llm-platform-serving-monitors.yaml"
RULES = "kubernetes/llm-platform-prometheusrule.yaml"
needs_kubectl = pytest.mark.skipif(kubernetes.kubectl() is None, reason=(
    "kubectl is not installed here; `make test` does not install it (Debian's is 1.20) and the check runs "
    "only where it is present"))


def _written(tmp_path: Path, plan: Plan | None = None) -> tuple[Plan, Bundle, Path]:
    plan = plan or plan_of(EXAMPLE)
    out = tmp_path / "out"
    return plan, generate(plan, out), out


def _edit(out: Path, rel: str, change: Callable[[list[dict[str, Any]]], None]) -> None:
    """Rewrite one manifest after changing its objects (as someone editing the output by hand would)."""
    docs = [d for d in yaml.safe_load_all((out / rel).read_text(encoding="utf-8")) if d]
    change(docs)
    (out / rel).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")


def _kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


def _findings_after(tmp_path: Path, rel: str, change: Callable[[list[dict[str, Any]]], None]) -> list[str]:
    plan, bundle, out = _written(tmp_path)
    _edit(out, rel, change)
    return kubernetes.check(out, bundle, plan).findings


def test_the_example_manifests_pass_every_kubernetes_check(tmp_path: Path) -> None:
    result = kubernetes.check(*_reordered(_written(tmp_path)))
    assert result.findings == []
    passed = "\n".join(result.passed)
    for expected in ("kustomization: lists all", "kubernetes-validate --strict (Kubernetes 1.34)", "2 DaemonSet",
                     "CRD models:", "2 PodMonitor", "23 PrometheusRule", "2 ServiceMonitor",
                     "dcgm-exporter: collects every DCGM field"):
        assert expected in passed, passed


def _reordered(written: tuple[Plan, Bundle, Path]) -> tuple[Path, Bundle, Plan]:
    plan, bundle, out = written
    return out, bundle, plan


@pytest.mark.parametrize("change", [
    lambda d: d["gpu_exporter"].update(kind="nvml"),
    lambda d: d["gpu_exporter"].update(profiling=True, tag="sha256:" + "0" * 64),
    lambda d: d.update(kubernetes={"version": "1.25", "serving_monitors": False}),
], ids=["nvml", "dcgm-profiling-digest", "oldest-version-no-monitors"])
def test_variants_of_the_example_pass_too(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    result = kubernetes.check(*_reordered(_written(tmp_path, variant(tmp_path, change))))
    assert result.findings == []


def test_an_unknown_field_in_a_core_object_is_refused_by_the_strict_schema(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        _kind(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["resource"] = {}

    findings = _findings_after(tmp_path, EXPORTER, change)
    assert len(findings) == 1
    assert findings[0].startswith(f"{EXPORTER}: DaemonSet gpu-monitoring/llm-platform-dcgm-exporter: "
                                  "spec.template.spec.containers.0: ")
    assert "'resource' was unexpected" in findings[0]


def test_a_wrong_type_in_a_core_object_is_refused(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        _kind(docs, "Service")["spec"]["ports"][0]["port"] = "9400"

    (finding,) = _findings_after(tmp_path, EXPORTER, change)
    assert "Service gpu-monitoring/llm-platform-dcgm-exporter: spec.ports.0.port: '9400' is not of type 'integer'" \
        in finding


def test_an_unknown_field_in_a_custom_resource_is_refused(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        docs[0]["spec"]["podMetricsEndpoints"][0]["intervall"] = "30s"

    assert _findings_after(tmp_path, MONITORS, change) == [
        f"{MONITORS}: PodMonitor monitoring/llm-platform-serving-llm-serving: "
        "spec.podMetricsEndpoints.0.intervall: unknown field (not in the CRD)"]


def test_a_decimal_duration_in_a_rule_is_refused_as_the_crd_would(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        alert = next(r for d in docs for g in d["spec"]["groups"] for r in g["rules"] if "alert" in r)
        alert["for"] = "0.5m"

    (finding,) = _findings_after(tmp_path, RULES, change)
    assert finding.endswith("for: '0.5m' is not a duration the CRD accepts (whole units: 30s, 1m30s, 500ms)")


def test_an_object_without_a_namespace_is_reported(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        del _kind(docs, "ConfigMap")["metadata"]["namespace"]

    findings = _findings_after(tmp_path, EXPORTER, change)
    assert findings == [f"{EXPORTER}: ConfigMap llm-platform-dcgm-exporter-counters: metadata.namespace is required "
                        "(the kustomization sets none, so kubectl would use the current context's namespace)"]


def test_names_labels_duplicates_and_unknown_kinds_are_reported(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        _kind(docs, "Service")["metadata"]["name"] = "9-dcgm"  # a Service name must start with a letter
        _kind(docs, "ServiceAccount")["metadata"]["labels"]["team"] = "gpu platform"
        docs.append(dict(_kind(docs, "NetworkPolicy")))
        docs.append({"apiVersion": "example.com/v1", "kind": "Widget",
                     "metadata": {"name": "w", "namespace": "gpu-monitoring"}})

    findings = "\n".join(_findings_after(tmp_path, EXPORTER, change))
    assert "Service gpu-monitoring/9-dcgm: metadata.name '9-dcgm' is not a DNS-1035 label" in findings
    assert "metadata.labels: team='gpu platform' is not a valid label" in findings
    assert "NetworkPolicy gpu-monitoring/llm-platform-dcgm-exporter is generated 2 times" in findings
    assert "Widget gpu-monitoring/w: no schema for example.com/v1 Widget in Kubernetes 1.34" in findings


def test_an_object_too_large_for_client_side_apply_is_reported(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        _kind(docs, "ConfigMap")["data"]["padding.txt"] = "x" * 300_000

    (finding,) = _findings_after(tmp_path, EXPORTER, change)
    assert "`kubectl apply` (client-side) stores the object in an annotation of at most 262144 bytes" in finding


def test_a_manifest_missing_from_the_kustomization_is_reported(tmp_path: Path) -> None:
    plan, bundle, out = _written(tmp_path)
    text = (out / KUSTOMIZATION).read_text(encoding="utf-8")
    (out / KUSTOMIZATION).write_text(text.replace("  - llm-platform-serving-monitors.yaml\n", ""), encoding="utf-8")
    findings = kubernetes.check(out, bundle, plan).findings
    assert f"{KUSTOMIZATION}: must list every manifest; missing: llm-platform-serving-monitors.yaml" in findings


def test_the_kustomization_lists_every_manifest_of_every_emitter() -> None:
    plan = plan_of(EXAMPLE)
    from llmmon.generate import build

    bundle = build(plan)
    listed = yaml.safe_load(bundle.files[KUSTOMIZATION])["resources"]
    manifests = sorted(p.removeprefix("kubernetes/") for p in bundle.files
                       if p.startswith("kubernetes/") and p != KUSTOMIZATION)
    assert listed == manifests and len(listed) >= 3
    assert "namespace" not in yaml.safe_load(bundle.files[KUSTOMIZATION])  # objects keep their own namespaces


def test_an_unsupported_kubernetes_version_is_a_finding(tmp_path: Path) -> None:
    plan = variant(tmp_path, lambda d: d.update(kubernetes={"version": "1.99"}))
    findings = kubernetes.check(*_reordered(_written(tmp_path, plan))).findings
    assert len(findings) == 1 and findings[0].startswith("kubernetes.version 1.99: kubernetes-validate ")


def test_a_dcgm_field_the_exporter_does_not_collect_is_reported(tmp_path: Path) -> None:
    plan, bundle, out = _written(tmp_path)
    rules = out / "prometheus" / "rules" / "llm-platform.rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                                                               1), encoding="utf-8")
    findings = kubernetes.check(out, bundle, plan).findings
    assert findings == ["prometheus/rules/llm-platform.rules.yaml: query DCGM_FI_PROF_GR_ENGINE_ACTIVE, which the "
                        "generated dcgm-exporter does not collect (set gpu_exporter.profiling: true)"]


def test_without_kubernetes_validate_the_core_check_is_skipped_not_failed(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    result = kubernetes.check(*_reordered(_written(tmp_path)))
    assert result.findings == []
    assert any(s.startswith("kubernetes-validate is not installed (pip install kubernetes-validate)")
               for s in result.missing)


def test_without_kubectl_the_kustomize_build_is_skipped_not_failed(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMMON_KUBECTL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = kubernetes.check(*_reordered(_written(tmp_path)))
    assert result.findings == []
    assert f"kubectl is not installed: `kubectl kustomize` not run ({kubernetes.KUBECTL_HINT})" in result.missing


@needs_kubectl
def test_kubectl_kustomize_builds_every_generated_object(tmp_path: Path) -> None:
    result: CheckResult = kubernetes.check(*_reordered(_written(tmp_path)))
    assert any(p.startswith("kubectl kustomize: builds ") for p in result.passed), result.passed


@needs_kubectl
def test_kubectl_kustomize_refuses_two_objects_with_one_name(tmp_path: Path) -> None:
    def change(docs: list[dict[str, Any]]) -> None:
        docs.append(dict(_kind(docs, "Service")))

    findings = _findings_after(tmp_path, EXPORTER, change)
    assert any(f.startswith("kubernetes/: kubectl kustomize failed:") for f in findings), findings


RULE = {"record": "a:b", "expr": "1"}
MONITOR: dict[str, Any] = {"selector": {}, "podMetricsEndpoints": [{"port": "http"}]}


def _object(kind: str, spec: dict[str, Any], api: str = "monitoring.coreos.com/v1") -> dict[str, Any]:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": "monitoring"}, "spec": spec}


@pytest.mark.parametrize(("document", "expected"), [
    (_object("PrometheusRule", {"groups": [{"name": "g", "rules": [{**RULE, "alert": "A"}]}]}),
     "spec.groups.0.rules.0: a rule has exactly one of record and alert"),
    (_object("PrometheusRule", {"groups": [{"name": "g", "rules": [{**RULE, "annotations": {"summary": "s"}}]}]}),
     "spec.groups.0.rules.0: recording rule a:b: for, keep_firing_for and annotations are for alerts"),
    (_object("PrometheusRule", {"groups": [{"name": "g", "rules": [RULE]}, {"name": "g", "rules": [RULE]}]}),
     "spec: group names must be unique, repeated: g"),
    (_object("PodMonitor", {"selector": {}, "podMetricsEndpoints": [{"path": "/metrics"}]}),
     "spec.podMetricsEndpoints.0: no port, portNumber or targetPort: every container port of every pod would "
     "be scraped"),
    (_object("PodMonitor", {**MONITOR, "podMetricsEndpoints": [{"port": "http", "interval": "10s",
                                                                "scrapeTimeout": "30s"}]}),
     "spec.podMetricsEndpoints.0: scrapeTimeout 30s exceeds interval 10s: the operator rejects the resource"),
    (_object("PodMonitor", {**MONITOR, "podMetricsEndpoints": [
        {"port": "http", "relabelings": [{"sourceLabels": ["__meta_kubernetes_pod_name"]}]}]}),
     "spec.podMetricsEndpoints.0.relabelings.0: action replace needs targetLabel"),
    (_object("ServiceMonitor", {"selector": {}}), "spec.endpoints: Field required"),
    (_object("PodMonitor", {**MONITOR, "podMetricsEndpoints": [{"portNumber": 70000}]}),
     "spec.podMetricsEndpoints.0.portNumber: Input should be less than or equal to 65535"),
    (_object("AlertmanagerConfig", {"route": {"receiver": "pager", "routes": [{"receiver": "chat"}]},
                                    "receivers": [{"name": "pager"}]}, "monitoring.coreos.com/v1alpha1"),
     "spec: routes name undefined receivers: chat"),
    (_object("AlertmanagerConfig", {"receivers": [{"name": "r", "slackConfigs": [{"apiUrl": {"key": "k"}}]}]},
             "monitoring.coreos.com/v1alpha1"),
     "spec.receivers.0.slackConfigs.0.apiUrl: unknown field (not in the CRD)"),
], ids=["alert-and-record", "annotated-record", "repeated-group", "no-port", "timeout-over-interval",
        "replace-without-target", "no-endpoints", "port-out-of-range", "undefined-receiver", "misspelt-slack-field"])
def test_the_crd_models_refuse_what_the_api_server_or_operator_would(document: dict[str, Any],
                                                                     expected: str) -> None:
    assert crds.known(document)
    assert expected in crds.problems(document)


def test_the_crd_models_accept_what_the_operator_documents() -> None:
    document = _object("AlertmanagerConfig", {
        "route": {"receiver": "pager", "groupBy": ["alertname"], "groupWait": "30s", "continue": False,
                  "matchers": [{"name": "severity", "value": "critical", "matchType": "="}],
                  "routes": [{"receiver": "pager", "matchers": [{"name": "team", "value": "ml"}]}]},
        "receivers": [{"name": "pager", "pagerdutyConfigs": [{"routingKey": {"name": "pd", "key": "key"},
                                                              "class": "gpu", "sendResolved": True}],
                       "webhookConfigs": [{"url": "http://bridge:8080/alerts", "maxAlerts": 10}]}],
        "inhibitRules": [{"sourceMatch": [{"name": "severity", "value": "critical"}], "equal": ["model"]}],
    }, "monitoring.coreos.com/v1alpha1")
    assert crds.problems(document) == []


def test_a_large_fleet_fits_kubectl_client_side_apply(tmp_path: Path) -> None:
    def fleet(data: dict[str, Any]) -> None:
        data["models"] = [{"name": f"m{i}", "gpus": {"type": "A100", "count": 1}} for i in range(700)]

    plan = variant(tmp_path, fleet)
    findings = kubernetes.check(*_reordered(_written(tmp_path, plan))).findings
    assert not [f for f in findings if "client-side" in f], findings


_PREFIXES = st.lists(st.text("-a0.", max_size=4), min_size=1, max_size=3).map(".".join)
_NAMES = st.text("-aZ0_.", max_size=5)
_KEYS = st.one_of(_NAMES, st.tuples(_PREFIXES, _NAMES).map("/".join),
                  st.from_regex(re.compile(r"^[-a-z0-9./A-Z_]{1,30}$"), fullmatch=True))


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(_KEYS)
def test_the_spec_accepts_a_label_key_exactly_when_the_kubernetes_check_does(key: str) -> None:
    # the spec's own pattern once let "0.-x/y" through (a subdomain label starting with "-"), and every manifest
    # carrying it failed the check after generate had succeeded
    assert bool(LABEL_KEY.fullmatch(key)) is bool(kubernetes._QUALIFIED.fullmatch(key)), key
