"""The `itl` SLO: share of output tokens that follow the previous one within a threshold, measured on the engine's
inter-token latency histogram like the latency SLO on its latency histogram, with burn-rate pages and a budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import generate, invoke, plan_from_text, promtool
from llmmon.compiler import load
from llmmon.emit import insight, prom_tests
from llmmon.emit import prometheus as rules

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {{name: itl, namespace: monitoring, runbook_base_url: "https://runbooks.example.com"}}
defaults:
  namespace: llm
  slo: {{availability: 99.9}}
models:
{models}
receivers: {{chat: {{slack: {{api_url_file: /etc/alertmanager/secrets/itl-alerting/slack}}}}}}
alert_tiers:
  critical: {{for: 0s, receiver: chat}}
  warning: {{for: 5m, receiver: chat}}
  info: {{for: 30m, receiver: chat}}
"""
MODELS = """\
  - {name: chat, engine: vllm, served_name: org/chat, slo: {itl: {threshold: 100ms, target: 99}},
     alerts: {itl_p99: {enabled: true, threshold: 200ms}}}
  - {name: fast, engine: sglang, served_name: org/fast, slo: {itl: {threshold: 40ms, target: 95}}}
  - {name: plain, engine: vllm, served_name: org/plain}
"""


def _errors(tmp: Path, models: str) -> list[str]:
    path = tmp / "spec.yaml"
    path.write_text(SPEC.format(models=models), encoding="utf-8")
    plan, diagnostics = load(path, path.name)
    assert plan is None
    return [d.render() for d in diagnostics if d.severity.name == "ERROR"]


def test_an_engine_without_an_itl_histogram_is_an_error_naming_the_engine(tmp_path: Path) -> None:
    found = _errors(tmp_path, "  - {name: seed, slo: {itl: {threshold: 100ms, target: 99}}}\n")
    assert len(found) == 1 and "engine openai-compatible has no inter-token latency histogram" in found[0], found
    assert "models.0.slo.itl.threshold" in found[0]


def test_the_threshold_must_be_a_bucket_of_the_engine_versions_histogram(tmp_path: Path) -> None:
    found = _errors(tmp_path, "  - {name: fast, engine: sglang, served_name: o/f, slo: {itl: {threshold: 50ms, "
                              "target: 95}}}\n")
    assert len(found) == 1 and "is not a bucket of sglang:inter_token_latency_seconds (nearest: 0.04, 0.06)" in found[0]


def test_itl_slo_records_tokens_at_every_evaluation_and_the_bucket_at_each_threshold(tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, SPEC.format(models=MODELS))
    groups = {g["name"]: g for g in rules.build(plan).groups}
    fast = groups["llmmon-itl-engine-vllm-itl"]
    assert "interval" not in fast  # read by the 1h/5m page pair at every evaluation, like the latency SLO
    records = {r["record"]: r["expr"] for r in fast["rules"]}
    assert set(records) == {insight.ITL + "_count:rate5m", insight.ITL + rules.SLO_BUCKET}
    bucket = records[insight.ITL + rules.SLO_BUCKET]
    assert 'le=~"0\\\\.1"' in bucket and "vllm:time_per_output_token_seconds_bucket" in bucket  # the older name too
    detail = {r["record"] for r in groups["llmmon-itl-engine-vllm-insight"]["rules"]}
    assert insight.ITL + "_count:rate5m" not in detail  # one rule records it, not two
    slo = [r for r in groups["llmmon-itl-slo"]["rules"] if r.get("labels", {}).get("slo") == "itl"]
    assert [r["record"] for r in slo] == [rules.SLO_REQUESTS + "5m", rules.SLO_ERRORS + "5m"]
    assert 'model=~"fast"' in slo[1]["expr"] and 'le="0.04"' in slo[1]["expr"]
    # a spec without an itl SLO keeps the token count in the detail group and has no such group
    plain = plan_from_text(tmp_path, SPEC.format(models="  - {name: plain, engine: vllm, served_name: o/p}\n"),
                           name="plain.yaml")
    names = {g["name"] for g in rules.build(plain).groups}
    assert "llmmon-itl-engine-vllm-itl" not in names


@pytest.mark.parametrize("scenario", ["healthy", "slow-tokens"])
def test_promtool_pages_on_slow_tokens_and_stays_quiet_when_healthy(tmp_path: Path, scenario: str) -> None:
    plan = plan_from_text(tmp_path, SPEC.format(models=MODELS))
    generate(plan, tmp_path / "out")
    test = tmp_path / "out" / "prometheus" / "tests" / f"itl-{scenario}.test.yaml"
    expected = yaml.safe_load(test.read_text())["tests"][0]["promql_expr_test"]
    burns = [s["labels"] for c in expected for s in c["exp_samples"] if 'slo="itl"' in s["labels"]]
    if scenario == "healthy":
        assert not burns
    else:  # both SLO models burn every tier; the model without an itl SLO does not
        assert sorted(burns) == sorted([f'{{alertname="ErrorBudgetBurn", severity="{t}", slo="itl"}}'
                                        for t in ("critical", "warning")] * 2)
        chat = next(m for m in plan.models if m.name == "chat")
        assert {"alertname": "HighInterTokenLatency", "severity": "warning"} in prom_tests.SCENARIOS[
            [s.name for s in prom_tests.SCENARIOS].index("slow-tokens")].expect(chat, plan)
    result = promtool("test", "rules", test.name, cwd=test.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_metrics_reads_the_itl_slo_bucket_on_a_real_vllm_page_under_its_older_name(tmp_path: Path) -> None:
    """vLLM 0.5's page (tests/expositions/real) has the ITL histogram only as vllm:time_per_output_token_seconds."""
    model = ('  - {name: opt, engine: vllm, engine_version: "0.5", served_name: facebook/opt-125m,\n'
             "     slo: {itl: {threshold: 100ms, target: 99}}}\n")
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.format(models=model), encoding="utf-8")
    page = Path(__file__).parent / "expositions" / "real" / "vllm-0.5.txt"
    result = invoke("check-metrics", str(spec), "--metrics-file", str(page), "--format", "json")
    rows = [r for r in json.loads(result.stdout)["rows"] if r["signal"].startswith("itl")]
    assert [(r["signal"], r["metric"], r["status"]) for r in rows] == [
        ("itl", "vllm:time_per_output_token_seconds_bucket", "present")], rows
