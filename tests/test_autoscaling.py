"""KEDA ScaledObjects: valid against KEDA's CRD schema, and their trigger reads what the rules record."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from helpers import EXAMPLE, generate, plan_from_text, plan_of, promtool
from llmmon.checks import crds, crds_keda, kubernetes, prometheus_adapter
from llmmon.compiler import load
from llmmon.emit import autoscaling, prom_tests
from llmmon.emit import prometheus as rules


def _scaled_objects(out: Path) -> list[dict[str, object]]:
    plan = plan_of(EXAMPLE)
    bundle = generate(plan, out)
    text = bundle.files[f"kubernetes/{plan.name}-autoscaling.yaml"]
    return [d for d in yaml.safe_load_all(text) if d]


def test_the_example_scaled_object_is_valid_against_kedas_crd_and_listed_in_the_kustomization(tmp_path: Path) -> None:
    objects = _scaled_objects(tmp_path)
    assert [o["kind"] for o in objects] == ["ScaledObject"]
    assert crds.known(objects[0]) and crds.problems(objects[0]) == []
    kustomization = yaml.safe_load((tmp_path / "kubernetes" / "kustomization.yaml").read_text())
    assert "llm-platform-autoscaling.yaml" in kustomization["resources"]


def test_a_field_the_crd_does_not_name_is_an_error_not_silently_pruned(tmp_path: Path) -> None:
    bad = copy.deepcopy(_scaled_objects(tmp_path)[0])
    spec = bad["spec"]
    assert isinstance(spec, dict)
    spec["minReplicas"] = spec.pop("minReplicaCount")  # the HPA's spelling
    spec["maxReplicaCount"] = "6"
    found = crds.problems(bad)
    assert "spec.minReplicas: unknown field (not in the CRD)" in found
    assert any(p.startswith("spec.maxReplicaCount: '6' is not of type 'integer'") for p in found)


def test_the_crd_schema_fixture_names_its_source_commit() -> None:
    raw = json.loads(crds_keda.SCHEMA_FILE.read_text())
    assert "kedacore/keda" in raw["$comment"] and "keda.sh_scaledobjects.yaml" in raw["$comment"]
    assert crds_keda.schema()["properties"]["spec"]["additionalProperties"] is False


def test_the_trigger_query_returns_the_models_request_rate_from_the_recorded_rules(tmp_path: Path) -> None:
    """promtool evaluates the trigger's query over the healthy scenario: one sample, the model's request rate."""
    plan = plan_of(EXAMPLE)
    generate(plan, tmp_path)
    model = next(m for m in plan.models if m.autoscaling)
    assert model.autoscaling is not None and model.autoscaling.signal == "requests"
    query = autoscaling.query(plan, model)
    assert rules.REQUESTS in query
    path = tmp_path / "prometheus" / "tests" / f"{plan.name}-healthy.test.yaml"
    test = yaml.safe_load(path.read_text())
    rps = prom_tests.healthy(model, plan).rps
    test["tests"][0]["promql_expr_test"] = [{"expr": f"round({query} * 1000)", "eval_time": "30m",
                                             "exp_samples": [{"labels": "{}", "value": round(rps * 1000)}]}]
    path.write_text(yaml.safe_dump(test))
    done = promtool("test", "rules", path.name, cwd=path.parent)
    assert done.returncode == 0, done.stdout + done.stderr


HPA_SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: hpa, namespace: monitoring, runbook_base_url: "https://runbooks.example.com"}
defaults:
  namespace: llm
  slo: {availability: 99.9}
models:
  - {name: chat, engine: vllm, served_name: org/chat, replicas: 2,
     autoscaling: {autoscaler: hpa, min_replicas: 1, max_replicas: 8}}
  - {name: kv, engine: vllm, served_name: org/kv, autoscaling: {autoscaler: hpa, max_replicas: 4, signal: kv_cache}}
  - {name: keda, engine: vllm, served_name: org/keda, autoscaling: {max_replicas: 4, signal: requests}}
receivers: {chat: {slack: {api_url_file: /etc/alertmanager/secrets/hpa-alerting/slack}}}
alert_tiers:
  critical: {for: 0s, receiver: chat}
  warning: {for: 5m, receiver: chat}
  info: {for: 30m, receiver: chat}
"""


def _hpa_bundle(tmp_path: Path) -> tuple[list[dict[str, Any]], Any]:
    plan = plan_from_text(tmp_path, HPA_SPEC)
    bundle = generate(plan, tmp_path / "out")
    docs = [d for d in yaml.safe_load_all(bundle.files["kubernetes/hpa-autoscaling.yaml"]) if d]
    return docs, (plan, bundle)


def test_hpa_models_get_an_hpa_and_the_adapter_rules_others_keep_keda(tmp_path: Path) -> None:
    docs, _ = _hpa_bundle(tmp_path)
    assert [(d["kind"], d["metadata"]["name"]) for d in docs] == [
        ("HorizontalPodAutoscaler", "hpa-chat-scaler"), ("HorizontalPodAutoscaler", "hpa-kv-scaler"),
        ("ScaledObject", "hpa-keda-scaler"), ("ConfigMap", "hpa-prometheus-adapter")]
    chat, kv = docs[0]["spec"]["metrics"][0]["external"], docs[1]["spec"]["metrics"][0]["external"]
    assert chat["metric"] == {"name": "llmmon_requests_waiting",
                              "selector": {"matchLabels": {"llmmon_spec": "hpa", "model": "chat"}}}
    assert chat["target"] == {"type": "AverageValue", "averageValue": "5"}
    assert kv["target"] == {"type": "Value", "value": "800m"}  # a quantity, not a float
    config = yaml.safe_load(docs[3]["data"][autoscaling.ADAPTER_CONFIG])
    assert [r["name"]["as"] for r in config["externalRules"]] == ["llmmon_kv_cache_usage", "llmmon_requests_waiting"]


def test_the_hpa_is_valid_for_kubernetes_validate_strict_and_the_adapter_config_passes_its_check(
        tmp_path: Path) -> None:
    _, (plan, bundle) = _hpa_bundle(tmp_path)
    result = kubernetes.check(tmp_path / "out", bundle, plan)
    assert result.findings == []
    assert any("kubernetes-validate --strict" in p and "2 HorizontalPodAutoscaler" in p for p in result.passed), \
        result.passed
    assert "prometheus-adapter: 2 external rules, each reading a recorded series" in result.passed
    kustomization = yaml.safe_load((tmp_path / "out" / "kubernetes" / "kustomization.yaml").read_text())
    assert "hpa-autoscaling.yaml" in kustomization["resources"]


def test_the_adapter_check_catches_a_misspelt_key_a_bad_placeholder_and_an_unrecorded_series() -> None:
    recorded = {"model:llm_requests_waiting:sum"}
    good = {"seriesQuery": 'model:llm_requests_waiting:sum{llmmon_spec!=""}', "resources": {"namespaced": False},
            "name": {"matches": "^model:llm_requests_waiting:sum$", "as": "x"},
            "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>})"}
    assert prometheus_adapter.problems({"externalRules": [good]}, recorded) == []
    assert prometheus_adapter.problems({"externalRules": [{**good, "metricQuery": "x"}]}, recorded) == [
        "externalRules.0.metricQuery: unknown key"]
    assert prometheus_adapter.problems({"externalRules": [{**good, "resources": {"namespaced": "no"}}]},
                                       recorded) == ["externalRules.0.resources.namespaced: 'no' is not of type "
                                                     "'boolean'"]
    found = prometheus_adapter.problems({"externalRules": [{**good, "metricsQuery": "sum(<<.Serie>>)"}]}, recorded)
    assert found == ["externalRules.0.metricsQuery: <<.Serie>> is not a placeholder the adapter fills "
                     "(.GroupBy, .LabelMatchers, .Series)"]
    found = prometheus_adapter.problems({"externalRules": [good]}, {"model:llm_requests:rate5m"})
    assert found == ["externalRules.0.seriesQuery: 'model:llm_requests_waiting:sum{llmmon_spec!=\"\"}' reads no "
                     "series the generated rules record"]


def test_a_hpa_cannot_scale_to_zero(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(HPA_SPEC.replace("min_replicas: 1, max_replicas: 8", "min_replicas: 0, max_replicas: 8"))
    plan, diagnostics = load(path, path.name)
    assert plan is None
    assert any("a HorizontalPodAutoscaler cannot scale to zero replicas" in d.render() for d in diagnostics)


def test_the_adapter_query_for_the_hpa_selector_returns_what_the_keda_trigger_would(tmp_path: Path) -> None:
    """The adapter fills <<.Series>> and <<.LabelMatchers>> from the HPA's metric selector: promtool evaluates the
    result over the queue-build-up scenario and gets the queued requests of the model, the KEDA trigger's value."""
    docs, (plan, _) = _hpa_bundle(tmp_path)
    config = yaml.safe_load(docs[3]["data"][autoscaling.ADAPTER_CONFIG])
    rule = next(r for r in config["externalRules"] if r["name"]["as"] == "llmmon_requests_waiting")
    labels = docs[0]["spec"]["metrics"][0]["external"]["metric"]["selector"]["matchLabels"]
    matchers = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    query = rule["metricsQuery"].replace("<<.Series>>", rule["name"]["matches"].strip("^$")).replace(
        "<<.LabelMatchers>>", matchers)
    model = next(m for m in plan.models if m.name == "chat")
    assert query == autoscaling.query(plan, model).replace(", ", ",")
    path = tmp_path / "out" / "prometheus" / "tests" / "hpa-queue-build-up.test.yaml"
    test = yaml.safe_load(path.read_text())
    waiting = prom_tests.SCENARIOS[[s.name for s in prom_tests.SCENARIOS].index("queue-build-up")].load(
        model, prom_tests.healthy(model, plan)).waiting
    replicas = len(prom_tests.pod_names(model))
    test["tests"][0]["promql_expr_test"] = [{"expr": f"round({query} * 1000)", "eval_time": "30m",
                                             "exp_samples": [{"labels": "{}", "value": round(waiting * replicas
                                                                                             * 1000)}]}]
    path.write_text(yaml.safe_dump(test))
    done = promtool("test", "rules", path.name, cwd=path.parent)
    assert done.returncode == 0, done.stdout + done.stderr
