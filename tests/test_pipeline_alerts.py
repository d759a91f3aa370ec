"""The log and trace pipeline watches itself: its alerts, their promtool tests, and their route."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from specvariants import files_with

from helpers import EXAMPLE, ROOT, generate, plan_of, promtool
from llmmon.checks import alertmanager
from llmmon.emit import pipeline_alerts

RULES = ROOT / "out" / "prometheus" / "rules" / "llm-platform.rules.yaml"
TEST = "llm-platform-pipeline.test.yaml"


def _group(rules: dict[str, Any]) -> dict[str, Any]:
    [group] = [g for g in rules["groups"] if g["name"] == "llmmon-llm-platform-pipeline"]
    return group


def test_the_pipeline_alerts_watch_fluentd_and_the_collector_in_the_warning_tier() -> None:
    group = _group(yaml.safe_load(RULES.read_text(encoding="utf-8")))
    assert [r["alert"] for r in group["rules"]] == [
        "LlmmonLogShippingRetrying", "LlmmonLogShippingStalled", "LlmmonTraceSpansRefused",
        "LlmmonTraceExportFailing", "LlmmonTraceSpansDropped", "LlmmonTracesDroppedBeforeSampling"]
    assert {r["labels"]["severity"] for r in group["rules"]} == {"warning"}
    assert {r["for"] for r in group["rules"]} == {"5m"}  # the warning tier's
    exprs = "\n".join(r["expr"] for r in group["rules"])
    for metric in ("fluentd_output_status_retry_count", "fluentd_output_status_buffer_queue_length",
                   "otelcol_receiver_refused_spans(_total)?", "otelcol_exporter_send_failed_spans(_total)?",
                   "otelcol_exporter_enqueue_failed_spans(_total)?",
                   "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early(_total)?"):
        assert metric in exprs
    assert 'plugin_id="llm-platform-elasticsearch"' in exprs and 'job="llm-platform-otel-collector"' in exprs


def test_the_promtool_tests_pass_and_fail_when_an_alert_cannot_fire(tmp_path: Path) -> None:
    out = tmp_path / "out"
    generate(plan_of(EXAMPLE), out)
    tests = out / "prometheus" / "tests"
    done = promtool("test", "rules", TEST, cwd=tests)
    assert done.returncode == 0, done.stdout + done.stderr
    rules_path = out / "prometheus" / "rules" / "llm-platform.rules.yaml"
    rules = yaml.safe_load(rules_path.read_text(encoding="utf-8"))
    stalled = next(r for r in _group(rules)["rules"] if r["alert"] == "LlmmonLogShippingStalled")
    stalled["expr"] = stalled["expr"].replace("> 0", "> 1000")
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    done = promtool("test", "rules", TEST, cwd=tests)
    assert done.returncode != 0
    assert "LlmmonLogShippingStalled" in done.stdout + done.stderr


def test_every_pipeline_alert_routes_to_the_warning_receiver() -> None:
    amtool = alertmanager.find()
    assert amtool, "amtool is not installed: `make tools` installs it"
    config = ROOT / "out" / "alertmanager" / "alertmanager.yaml"
    for rule in _group(yaml.safe_load(RULES.read_text(encoding="utf-8")))["rules"]:
        assert alertmanager.route(amtool, config, {"alertname": rule["alert"], **rule["labels"]}) == ["team-chat"]


def test_a_spec_without_logs_or_traces_has_no_pipeline_alerts(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["logging"], d["tracing"]

    files = files_with(tmp_path, change)
    assert "prometheus/tests/llm-platform-pipeline.test.yaml" not in files
    assert "llmmon-llm-platform-pipeline" not in files["prometheus/rules/llm-platform.rules.yaml"]


def test_only_the_collector_alerts_without_logging(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["logging"]

    plan = plan_of(EXAMPLE)
    assert len(pipeline_alerts.alerts(plan)) == 6
    files = files_with(tmp_path, change)
    rules = yaml.safe_load(files["prometheus/rules/llm-platform.rules.yaml"])
    assert [r["alert"] for r in _group(rules)["rules"]] == [a.name for a in pipeline_alerts.alerts(plan)][2:]
