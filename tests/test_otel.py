"""OpenTelemetry Collector: the generated config, its tail-sampling policies, and llmmon's own checker of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from specvariants import diagnostics_with, files_with

from helpers import ROOT
from llmmon import yamlpos
from llmmon.checks import otel

OUT = ROOT / "out"
RAW = (OUT / "otel/collector.yaml").read_text(encoding="utf-8")
CONFIG = yaml.safe_load(RAW)


def _check(text: str) -> list[str]:
    doc, problems = yamlpos.load(text.encode())
    assert problems == []
    return otel.check(doc)


def _collector(tmp_path: Path, change: Any) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(files_with(tmp_path, change)["otel/collector.yaml"])
    return data


def _policies(config: dict[str, Any]) -> list[dict[str, Any]]:
    policies: list[dict[str, Any]] = config["processors"]["tail_sampling"]["policies"]
    return policies


def test_the_golden_collector_config_passes_the_checker() -> None:
    assert _check(RAW) == []


def test_the_golden_collector_keeps_errors_slow_traces_and_five_percent_of_the_rest() -> None:
    assert _policies(CONFIG) == [
        {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "slow-over-2000ms", "type": "latency", "latency": {"threshold_ms": 2000}},
        {"name": "sample", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}},
    ]


def test_the_golden_collector_pipeline_limits_memory_first_and_batches_after_sampling() -> None:
    pipeline = CONFIG["service"]["pipelines"]["traces"]
    assert pipeline == {"receivers": ["otlp"], "processors": ["memory_limiter", "tail_sampling", "resource", "batch"],
                        "exporters": ["otlp"]}
    assert CONFIG["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert CONFIG["exporters"]["otlp"]["endpoint"] == "tempo.monitoring.svc:4317"
    assert CONFIG["exporters"]["otlp"]["tls"] == {"insecure": True}  # an in-cluster service
    assert CONFIG["processors"]["resource"]["attributes"] == [
        {"key": "k8s.cluster.name", "value": "prod-gpu-1", "action": "upsert"}]


def test_the_collector_configmap_carries_the_same_config() -> None:
    objects = yaml.safe_load_all((OUT / "kubernetes/llm-platform-otel-collector.yaml").read_text(encoding="utf-8"))
    [manifest] = [o for o in objects if o and o["kind"] == "ConfigMap"]
    assert manifest["metadata"]["name"] == "llm-platform-otel-collector"
    assert manifest["data"]["collector.yaml"] == RAW


def test_models_with_different_latency_objectives_keep_slow_traces_at_their_own_threshold(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["models"][0]["slo"] = {"latency": {"threshold": "30s", "target": 99}}

    config = _collector(tmp_path, change)
    assert _policies(config)[1:3] == [
        {"name": "slow-over-2000ms", "type": "and", "and": {"and_sub_policy": [
            {"name": "model", "type": "string_attribute",
             "string_attribute": {"key": "gen_ai.response.model", "values": ["qwen2-7b"]}},
            {"name": "latency", "type": "latency", "latency": {"threshold_ms": 2000}}]}},
        {"name": "slow-over-30000ms", "type": "latency", "latency": {"threshold_ms": 30000}},
    ]
    assert config["processors"]["tail_sampling"]["decision_wait"] == "60s"  # a 30s trace must be complete
    assert otel.check(yamlpos.load(yaml.safe_dump(config).encode())[0]) == []


def test_without_latency_objectives_the_latency_alert_threshold_marks_slow_traces(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["defaults"]["slo"]["latency"]
        d["defaults"]["alerts"]["latency_p99"]["threshold"] = "5s"

    assert _policies(_collector(tmp_path, change))[1] == {
        "name": "slow-over-5000ms", "type": "latency", "latency": {"threshold_ms": 5000}}


def test_an_endpoint_outside_the_cluster_is_exported_over_tls(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["tracing"]["otlp_endpoint"] = "otlp.tracing.example.com:443"

    assert _collector(tmp_path, change)["exporters"]["otlp"]["tls"] == {"insecure": False}


def test_a_served_name_cannot_expand_collector_environment_variables(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["models"][1]["served_name"] = "${env:AWS_SECRET_ACCESS_KEY}\" x: {"
        d["models"][1]["slo"] = {"latency": {"threshold": "5s", "target": 99}}

    text = files_with(tmp_path, change)["otel/collector.yaml"]
    config = yaml.safe_load(text)
    values = _policies(config)[1]["and"]["and_sub_policy"][0]["string_attribute"]["values"]
    assert values == ["meta-llama/Meta-Llama-3-70B-Instruct"]
    assert _policies(config)[2]["name"] == "slow-over-5000ms"
    swapped = files_with(tmp_path, lambda d: (change(d), d["models"][0].update(
        slo={"latency": {"threshold": "30s", "target": 99}})))["otel/collector.yaml"]
    values = _policies(yaml.safe_load(swapped))[1]["and"]["and_sub_policy"][0]["string_attribute"]["values"]
    assert values == ['$${env:AWS_SECRET_ACCESS_KEY}" x: {']  # `$$` is the collector's literal `$`
    assert _check(swapped) == []


def test_sampling_outside_one_to_ten_percent_is_a_warning_and_outside_zero_to_hundred_an_error(tmp_path: Path) -> None:
    def sampling(value: str) -> Any:
        return lambda d: d["tracing"].update(sampling=value)

    [warning] = diagnostics_with(tmp_path, sampling("20%"))
    assert "warning: tracing.sampling: 20.0% is outside the recommended 1-10%" in warning
    assert any("tracing.sampling: must be above 0% and at most 100%" in d
               for d in diagnostics_with(tmp_path, sampling("150%")))


def test_an_otlp_port_beyond_65535_is_refused(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["tracing"]["otlp_endpoint"] = "tempo:70000"

    assert any("tracing.otlp_endpoint: port 70000 is not between 1 and 65535" in d
               for d in diagnostics_with(tmp_path, change))


BROKEN = [
    ("        - resource\n", "", "processors.resource: processor 'resource' is defined but not used"),
    ("      exporters:\n        - otlp\n", "      exporters:\n        - otlp/tempo\n",
     "exporter 'otlp/tempo' is not defined under exporters"),
    ("        - memory_limiter\n        - tail_sampling\n", "        - tail_sampling\n        - memory_limiter\n",
     "memory_limiter must be the first processor"),
    ("        - tail_sampling\n        - resource\n        - batch\n", "        - batch\n        - tail_sampling\n"
     "        - resource\n", "batch must come after tail_sampling"),
    ("threshold_ms: 2000", "threshold_ms: 0", "latency.threshold_ms: Input should be greater than 0"),
    ("threshold_ms: 2000", "treshold_ms: 2000", "policies.1.latency.treshold_ms: Extra inputs are not permitted"),
    ("sampling_percentage: 5", "sampling_percentage: 500", "sampling_percentage: Input should be less than"),
    ("        type: latency\n", "        type: status_code\n", "of type status_code needs ['status_code']"),
    ("      - name: sample\n", "      - name: errors\n", "policy names must be unique"),
    ("endpoint: tempo.monitoring.svc:4317", "endpoint: tempo.monitoring.svc:99999", "port from 1 to 65535"),
    ("    check_interval: 1s\n", "    check_interval: 1 second\n", "expected a Go duration"),
    ("  health_check:\n", "  healthcheck:\n", "does not know the extension type 'healthcheck'"),
    ("    traces:\n", "    spans:\n", "a pipeline is traces, metrics or logs"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=[b[2] for b in BROKEN])
def test_the_checker_catches_a_broken_collector_config(old: str, new: str, message: str) -> None:
    assert old in RAW
    found = _check(RAW.replace(old, new, 1))
    assert any(message in f for f in found), found


def test_checker_findings_point_at_the_line_of_the_problem() -> None:
    broken = RAW.replace("threshold_ms: 2000", "threshold_ms: 0")
    [finding] = _check(broken)
    line = int(finding.split(":", 1)[0])
    assert "threshold_ms: 0" in broken.splitlines()[line - 1]
