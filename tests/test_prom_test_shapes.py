"""The generated promtool tests at fleet scale: the healthy scenario feeds every model, the others one model per
rule shape, and promtool passes them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import versions
import yaml

from helpers import EXAMPLE, generate, plan_from_text, promtool
from llmmon.emit.prom_test_load import FIRING_HORIZON_MS
from llmmon.emit.prom_test_shapes import representatives, shape
from llmmon.model import Plan
from llmmon.units import Duration

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: shapes, namespace: monitoring, runbook_base_url: "https://runbooks.example.com/llm"}
defaults:
  engine: vllm
  namespace: llm-serving
  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, ttft: {threshold: 1s, target: 95},
        min_request_rate: 0.1}
models:
  - {name: a, gpus: {type: H100, count: 8}}
  - {name: b, namespace: team-b, served_name: org/b, pods: "bee-.*", gpus: {type: H100, count: 2}}
  - {name: c, gpus: {type: H100, count: 4}}
  - {name: d, gpus: {type: H100, count: 8}, alerts: {kv_cache_high: {threshold: 80%}}}
  - {name: e, gpus: {type: H100, count: 8}, replicas: 3}
  - {name: f, engine: openai-compatible, gpus: {type: A100, count: 1}, slo: {availability: 99.5}}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/alertmanager/secrets/llm/pagerduty}}
costs: {currency: USD, gpu_hourly: {H100: 2.50, A100: 1.10}}
"""


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return plan_from_text(tmp_path_factory.mktemp("spec"), SPEC)


def test_models_differing_only_in_names_and_prices_share_a_shape_and_others_do_not(plan: Plan) -> None:
    by_name = {m.name: m for m in plan.models}
    assert shape(by_name["a"]) == shape(by_name["b"]) == shape(by_name["c"])  # names, namespace, pods, GPU count
    for other in "def":  # an alert threshold, replicas, engine and objectives
        assert shape(by_name[other]) != shape(by_name["a"]), other
    assert [m.name for m in representatives(plan.models)] == ["a", "d", "e", "f"]


def _asserted_models(test_file: Path) -> set[str]:
    content = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    checks = content["tests"][0]["promql_expr_test"]
    return {re.search(r'model="([^"]+)"', c["expr"]).group(1) for c in checks if "ALERTS" in c["expr"]}


def _fed_models(test_file: Path) -> set[str]:
    content = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    pods = {p for s in content["tests"][0]["input_series"] for p in re.findall(r'pod="([^"]+)"', s["series"])}
    return {name for name, prefix in (("a", "a-"), ("b", "bee"), ("c", "c-"), ("d", "d-"), ("e", "e-"), ("f", "f-"))
            if any(p.startswith(prefix) for p in pods)}


def test_healthy_feeds_every_model_and_the_incidents_one_per_shape_all_passing_promtool(
        plan: Plan, tmp_path: Path) -> None:
    bundle = generate(plan, tmp_path)
    tests = sorted((tmp_path / "prometheus" / "tests").glob("shapes-*.test.yaml"))
    scenarios = {p.name.removeprefix("shapes-").removesuffix(".test.yaml"): p for p in tests}
    assert len(scenarios) >= 18 and "healthy" in scenarios and "outage" in scenarios
    for name, path in scenarios.items():
        if name == "pipeline":
            continue
        expected = set("abcdef") if name == "healthy" else set("adef")
        assert _asserted_models(path) == expected, name
        if name != "absent":  # the absent scenario feeds no series of the model at all
            assert _fed_models(path) == expected, name
    assert bundle.counts is not None and bundle.counts.assertions > 0
    for path in tests:
        done = promtool("test", "rules", path.name, cwd=path.parent)
        assert done.returncode == 0, f"{path.name}:\n{done.stdout}\n{done.stderr}"


# A spec whose tiers wait days before an alert fires: its scenarios once ran for the whole `for` (a `for: 30d`
# tier gave promtool 43,000 minutes of series a scenario and kept `validate` busy for hours).
LONG_WAITS = EXAMPLE.read_text(encoding="utf-8").replace("warning:  {for: 5m", "warning:  {for: 3d") \
    .replace("info:     {for: 30m", "info:     {for: 30d")


def _checks(files: list[Path]) -> list[dict[str, object]]:
    return [check for f in files for test in yaml.safe_load(f.read_text(encoding="utf-8"))["tests"]
            for check in test["promql_expr_test"]]


def test_alerts_that_wait_days_are_asserted_pending_in_scenarios_of_two_hours_at_most(
        tmp_path: Path, prometheus_release: versions.PrometheusRelease) -> None:
    plan = plan_from_text(tmp_path, LONG_WAITS)
    generate(plan, tmp_path / "out")
    files = sorted((tmp_path / "out" / "prometheus" / "tests").glob("*.test.yaml"))
    checks = _checks(files)
    assert max(Duration.parse(str(c["eval_time"])).ms for c in checks) <= FIRING_HORIZON_MS
    pending = {re.search(r'alertname="(\w+)"', str(sample["labels"])).group(1)  # type: ignore[union-attr]
               for c in checks if 'alertstate="pending"' in str(c["expr"])
               for sample in c["exp_samples"]}  # type: ignore[attr-defined]
    # an info alert of the models, a warning one, and the log pipeline's (warning) alerts
    assert {"LowGPUUtilization", "HighInferenceLatency", "LlmmonLogShippingStalled"} <= pending, pending
    done = promtool("test", "rules", *(f.name for f in files), cwd=files[0].parent, binary=prometheus_release.promtool)
    assert done.returncode == 0, done.stdout + done.stderr

    # the pending assertions hold the rule to its long `for`: one that fires after a minute fails them
    rules = tmp_path / "out" / "prometheus" / "rules" / "llm-platform.rules.yaml"
    rules.write_text(rules.read_text(encoding="utf-8").replace("for: 30d", "for: 1m"), encoding="utf-8")
    done = promtool("test", "rules", *(f.name for f in files), cwd=files[0].parent, binary=prometheus_release.promtool)
    assert done.returncode != 0 and "LowGPUUtilization" in done.stdout + done.stderr
