"""The SLO windows averaged from 5m rates, with their edge term (llmmon.slo.edge_weight), on the real promtool of
each supported Prometheus: whole-request counters, a step from healthy traffic to 10% errors."""

from __future__ import annotations

from pathlib import Path

import yaml
from versions import PrometheusRelease

from helpers import eval_order, generate, plan_from_text, promtool

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: windows, runbook_base_url: "https://runbooks.example.com"}
defaults: {engine: vllm, namespace: serving}
models:
  - {name: chat, slo: {availability: 99.9}, gpus: {type: H100, count: 1}}
  - {name: young, slo: {availability: 99.9}, gpus: {type: H100, count: 1}}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/am/pd}}
costs: {gpu_hourly: {H100: 2.50}}
"""
PER_MIN = 600  # requests a minute, whole requests: one in ten fails from ONSET on
HEALTHY = 130  # minutes of good traffic: the 1h window and its offset are full
ONSET = HEALTHY


def _counters(start: int, minutes: int) -> list[dict[str, str]]:
    """vLLM's API-server counters of one pod: 2xx and 5xx answers, minute by minute from `start`."""
    ok, failed, oks, fails = 0, 0, [], []
    for minute in range(minutes + 1):
        oks.append(str(ok) if minute >= start else "_")
        fails.append(str(failed) if minute >= start else "_")
        share = PER_MIN // 10 if minute >= ONSET else 0
        ok, failed = ok + PER_MIN - share, failed + share
    return [oks, fails]  # type: ignore[list-item]


def _series(model: str, start: int, minutes: int) -> list[dict[str, str]]:
    labels = f'handler="/v1/chat/completions", method="POST", namespace="serving", pod="{model}-0"'
    oks, fails = _counters(start, minutes)
    return [{"series": f'http_requests_total{{status="2xx", {labels}}}', "values": " ".join(oks)},
            {"series": f'http_requests_total{{status="5xx", {labels}}}', "values": " ".join(fails)}]


def test_the_1h_window_is_the_hours_error_ratio_and_a_young_model_has_one(
        tmp_path: Path, prometheus_release: PrometheusRelease) -> None:
    plan = plan_from_text(tmp_path, SPEC)
    generate(plan, tmp_path / "out")
    rules = tmp_path / "out/prometheus/rules/windows.rules.yaml"
    minutes = ONSET + 12
    ratio = 'model:slo_errors:ratio_rate1h{slo="availability", model="%s"}'

    def at(minute: int, expr: str, expected: float | None) -> dict[str, object]:
        return {"expr": expr, "eval_time": f"{minute}m",
                "exp_samples": [] if expected is None else [{"labels": "{}", "value": expected}]}

    def within(model: str, low: float, high: float) -> str:
        return f"count({ratio % model} >= {low} and {ratio % model} <= {high})"

    def pages(model: str) -> str:
        return (f'count(ALERTS{{alertname="ErrorBudgetBurn", alertstate="firing", model="{model}", '
                f'long_window="1h"}})')

    tests = [
        at(ONSET - 1, within("chat", 0, 0), 1),  # steady: the edge term adds nothing
        # ten minutes of 10% errors: 6,000 of the hour's 36,000 requests (a 1/60 share) failed, 1.667%. The window
        # reads 1.645% on Prometheus 2.42 (its closed range averages 61 samples) and 1.668% on 3.16, above
        # 14.4 x 0.1% = 1.44%. The plain average of the 5m rates read 1.31%, two minutes late.
        at(ONSET + 10, within("chat", 0.0162, 0.0170), 1),
        at(ONSET + 7, pages("chat"), None),  # 1.17% (exact) over the hour: not yet
        at(ONSET + 10, pages("chat"), 1),
        # a model whose series began 20 minutes before the errors: its window exists (the rate an hour ago
        # counts as 0) and pages as well
        at(ONSET + 10, f"count({ratio % 'young'})", 1),
        at(ONSET + 10, pages("young"), 1),
    ]
    # groups in file order (the engine's 5m rates, the SLO windows, then the alerts): a server running them in
    # another order reads each a step later (`llmmon explain` gives that worst case, tests/test_explain.py)
    test = {"rule_files": [str(rules)], "evaluation_interval": "1m", "group_eval_order": eval_order(rules),
            "tests": [{"interval": "1m", "input_series": _series("chat", 0, minutes)
                       + _series("young", ONSET - 20, minutes), "promql_expr_test": tests}]}
    test_file = tmp_path / "windows.test.yaml"
    test_file.write_text(yaml.safe_dump(test), encoding="utf-8")

    done = promtool("test", "rules", str(test_file), cwd=tmp_path, binary=prometheus_release.promtool)

    assert done.returncode == 0, done.stdout + done.stderr
