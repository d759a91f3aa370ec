"""Bugs the property and fault tests found, each reproduced on a small spec: they must stay fixed."""

from __future__ import annotations

from pathlib import Path

from helpers import generate, plan_from_text, promtool

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {{name: bugs, runbook_base_url: "https://runbooks.example.com"}}
defaults: {{namespace: serving, slo: {{availability: {availability}}}}}
models:
{models}
alert_tiers:
  critical: {{for: 2m, receiver: pager}}
  warning: {{for: 5m, receiver: pager}}
  info: {{for: 10m, receiver: pager}}
receivers:
  pager: {{webhook: {{url: "http://pager.example.com/"}}}}
"""


def test_models_alerting_in_one_tier_at_different_thresholds_pass_the_duplicate_rules_lint(tmp_path: Path) -> None:
    models = ("  - {name: a, alerts: {error_rate: {threshold: 1%}}}\n"
              "  - {name: b, alerts: {error_rate: {threshold: 5%}}}\n"
              "  - {name: c, engine: triton, alerts: {latency_p99: {threshold: 2s}}}\n"  # mean, not p99: another rule
              "  - {name: d, engine: vllm, alerts: {latency_p99: {threshold: 2s}}}")
    plan = plan_from_text(tmp_path, SPEC.format(availability=99.9, models=models))
    generate(plan, tmp_path / "out")
    done = promtool("check", "rules", "--lint=duplicate-rules", "--lint-fatal",
                    str(tmp_path / "out" / "prometheus" / "rules" / "bugs.rules.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_value_checks_hold_when_the_expected_value_is_a_rounding_tie(tmp_path: Path) -> None:
    # an error ratio of 0.0077115 is checked per million: 7711.5 rounded, which float noise used to decide
    plan = plan_from_text(tmp_path, SPEC.format(availability=90, models="  - {name: a, alerts: {error_rate: "
                                                                        "{threshold: 7.7115%}}}"))
    bundle = generate(plan, tmp_path / "out")
    healthy = next(rel for rel, scenario in bundle.test_files.items() if scenario == "healthy")
    done = promtool("test", "rules", Path(healthy).name, cwd=(tmp_path / "out" / healthy).parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_value_checks_hold_at_very_low_request_rates(tmp_path: Path) -> None:
    # 0.0005 req/s with a 0.002% budget: a failure step of 5.742e-08 a minute, once written 5.7e-08 (9 decimals)
    text = SPEC.replace("defaults:", "slo_window: 28d17h3m\ndefaults:").format(
        availability=99.998, models="  - {name: a, alerts: {throughput_low: {enabled: true, threshold: 0.001}}}")
    bundle = generate(plan_from_text(tmp_path, text), tmp_path / "out")
    scenario = next(rel for rel, name in bundle.test_files.items() if name == "low-throughput")
    done = promtool("test", "rules", Path(scenario).name, cwd=(tmp_path / "out" / scenario).parent)
    assert done.returncode == 0, done.stdout + done.stderr
