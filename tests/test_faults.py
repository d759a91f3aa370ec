"""Faults of the monitored system, fed to the generated rules with the real promtool: the rules must neither page
nor record NaN or Inf.

Scenarios: idle models, metrics that vanish, counter resets (pod restarts), label churn from a rollout (every
pod renamed), NaN and Inf samples from a source, and zero denominators. Two engines are covered: vLLM (series
joined to the spec by their `model_name` label) and TGI (no model label: selected by namespace and pod name).
Every recorded series is scanned for NaN and Inf at several times of each scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import eval_order, generate, plan_from_text, promtool
from llmmon.engines import PRESETS
from llmmon.promql import eq, selector

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: faults, runbook_base_url: "https://runbooks.example.com"}
defaults:
  namespace: serving
  slo: {availability: 99.9, min_request_rate: 0.1}
models:
  - name: chat
    engine: vllm
    served_name: org/chat
    pods: "chat-.*"
    gpus: {type: H100, count: 8}
    slo: {latency: {threshold: 2s, target: 99}, ttft: {threshold: 1s, target: 95}}
  - name: gen
    engine: tgi
    pods: "gen-.*"
    alerts: {ttft_p95: {enabled: false}}
alert_tiers:
  critical: {for: 2m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 10m, receiver: pager}
receivers:
  pager: {webhook: {url: "http://pager.example.com/"}}
costs: {gpu_hourly: {H100: 2.5}}
"""
MINUTES = 180
RPM = 600.0  # requests a minute of each model: 10 req/s
ERROR_SHARE = 0.0005  # half the 0.1% budget: well under every burn rate
CHECKED_AT = ("30m", "59m", "61m", "63m", "70m", "90m", "179m")
Shape = Callable[[float, float], str]  # (first value, increment a minute) → promtool series values


def steady(start: float, per_minute: float) -> str:
    """A series over the whole scenario: a counter if it grows, a gauge if it does not."""
    return f"{start:g}+{per_minute:g}x{MINUTES}"


def idle(start: float, per_minute: float) -> str:
    """Counters present but never incremented; gauges at 0."""
    return f"0+0x{MINUTES}"


def reset_at(minute: int) -> Shape:
    """The process restarts at `minute`: its counters start again from their first value."""
    return lambda start, pm: f"{start:g}+{pm:g}x{minute - 1} {start:g}+{pm:g}x{MINUTES - minute}"


def gone_at(minute: int) -> Shape:
    """The series end at `minute` (stale marker): the pod is gone."""
    return lambda start, pm: f"{start:g}+{pm:g}x{minute - 1} stale"


def from_minute(minute: int) -> Shape:
    """The series begin at `minute`: a pod that starts then."""
    return lambda start, pm: f"_x{minute} {start:g}+{pm:g}x{MINUTES - minute}"


def _series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    return {"series": selector(metric, *(eq(k, v) for k, v in sorted(labels.items()))), "values": values}


def _tgi_bound(seconds: float) -> str:
    """The TGI bucket bound just under `seconds`, printed as TGI prints it."""
    histogram = PRESETS["tgi"].latency
    assert histogram is not None
    return repr(max(b for b in histogram.buckets if b <= seconds))


def chat_pod(pod: str, shape: Shape = steady, share: float = 1.0, error_values: str | None = None
             ) -> list[dict[str, str]]:
    """A vLLM pod of model chat serving `share` of its traffic, 0.05% failing, fast; GPUs 80% busy."""
    base = {"model_name": "org/chat", "namespace": "serving", "pod": pod}
    rpm = RPM * share

    def counter(per_minute: float) -> str:
        return shape(0, per_minute)

    # Requests and errors as vLLM's API server counts them (no model label: the pod says which model); the
    # engine's own finished-reason counter shows only requests that finished.
    http = {"namespace": "serving", "pod": pod, "handler": "/v1/chat/completions", "method": "POST"}
    out = [_series("http_requests_total", {**http, "status": "2xx"}, counter(rpm * (1 - ERROR_SHARE))),
           _series("http_requests_total", {**http, "status": "5xx"}, error_values or counter(rpm * ERROR_SHARE)),
           _series("vllm:request_success_total", {**base, "finished_reason": "stop"}, counter(rpm * (1 - ERROR_SHARE)))]
    for metric, bounds, seconds in (("vllm:e2e_request_latency_seconds", ("1.0", "2.0", "+Inf"), 0.5),
                                    ("vllm:time_to_first_token_seconds", ("0.5", "1.0", "+Inf"), 0.1)):
        out += [_series(f"{metric}_bucket", {**base, "le": le}, counter(rpm)) for le in bounds]
        out += [_series(f"{metric}_count", base, counter(rpm)),
                _series(f"{metric}_sum", base, counter(rpm * seconds))]
    out += [_series("vllm:prompt_tokens_total", base, counter(rpm * 40)),
            _series("vllm:generation_tokens_total", base, counter(rpm * 60)),
            _series("DCGM_FI_DEV_GPU_UTIL", {"namespace": "serving", "pod": pod, "gpu": "0"}, shape(80, 0))]
    return out


def gen_pod(pod: str, shape: Shape = steady, share: float = 1.0) -> list[dict[str, str]]:
    """A TGI pod of model gen (no model label): the same traffic as chat."""
    base = {"namespace": "serving", "pod": pod}
    rpm = RPM * share
    return [_series(metric, {**base, **extra}, shape(0, per_minute)) for metric, extra, per_minute in (
        ("tgi_request_count", {}, rpm),
        ("tgi_request_failure", {"err": "generation"}, rpm * ERROR_SHARE),
        ("tgi_request_duration_bucket", {"le": _tgi_bound(1.0)}, rpm),
        ("tgi_request_duration_bucket", {"le": "+Inf"}, rpm),
        ("tgi_request_duration_count", {}, rpm),
        ("tgi_request_duration_sum", {}, rpm * 0.5),
        ("tgi_request_input_length_sum", {}, rpm * 40),
        ("tgi_request_generated_tokens_sum", {}, rpm * 60))]


# --- assertions ---------------------------------------------------------------------------------------------------


def firing(at: str, *alerts: tuple[str, str]) -> dict[str, Any]:
    """Exactly these (alertname, model) pairs fire at `at`."""
    return {"expr": 'count by (alertname, model) (ALERTS{alertstate="firing"})', "eval_time": at,
            "exp_samples": [{"labels": f'{{alertname="{a}", model="{m}"}}', "value": 1} for a, m in sorted(alerts)]}


def value(at: str, expr: str, expected: float | None, scale: float = 1000) -> dict[str, Any]:
    """`expr` (one series) is `expected` at `at` to 1/scale; None: it has no sample at all."""
    samples = [] if expected is None else [{"labels": "{}", "value": round(expected * scale)}]
    return {"expr": f"round(sum({expr}) * {scale:g})" if expected is not None else f"count({expr})",
            "eval_time": at, "exp_samples": samples}


def no_nan_or_inf(at: str) -> list[dict[str, Any]]:
    """No series the rules record is NaN (x != x) or infinite; a failure names the series (label `name`)."""
    every = 'label_replace({llmmon_spec="faults"}, "name", "$1", "__name__", "(.+)")'  # x != x needs unique labels
    return [{"expr": f"count by (name) (({every} != {every}) or (abs({every}) > 1e300))", "eval_time": at,
             "exp_samples": []}]


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("faults")
    plan = plan_from_text(tmp, SPEC)
    generate(plan, tmp / "out")
    return tmp / "out" / "prometheus" / "rules" / "faults.rules.yaml"


def run(rules: Path, tmp_path: Path, series: list[dict[str, str]], checks: list[dict[str, Any]]) -> None:
    """Feed `series` to the generated rules and assert `checks` with `promtool test rules`."""
    test = {"rule_files": [str(rules)], "evaluation_interval": "1m", "group_eval_order": eval_order(rules),
            "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": checks}]}
    path = tmp_path / "fault.test.yaml"
    path.write_text(yaml.safe_dump(test, sort_keys=False), encoding="utf-8")
    done = promtool("test", "rules", str(path), cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def _everywhere(*checks: Callable[[str], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [c for at in CHECKED_AT for check in checks for c in check(at)]


# --- scenarios ----------------------------------------------------------------------------------------------------


def test_idle_models_neither_alert_nor_record_nan_and_keep_a_full_budget(rules: Path, tmp_path: Path) -> None:
    series = chat_pod("chat-0", idle) + gen_pod("gen-0", idle)
    checks = _everywhere(lambda at: [firing(at)], no_nan_or_inf)
    for model, slos in (("chat", ("availability", "latency", "ttft")), ("gen", ("availability",))):
        for slo in slos:
            sel = f'{{model="{model}", slo="{slo}"}}'
            checks += [value("179m", f"slo:error_budget_remaining:ratio{sel}", 1.0),
                       value("179m", f"model:slo_errors:ratio_rate5m{sel}", 0.0),
                       value("179m", f"model:slo_errors:ratio_rate30d{sel}", 0.0)]
        checks += [value("179m", f'model:llm_request_duration_seconds:p99{{model="{model}"}}', None),
                   value("179m", f'llm_cost_per_million_tokens{{model="{model}"}}', None)]
    run(rules, tmp_path, series, checks)


def test_vanishing_metrics_raise_only_the_absence_alert_and_keep_the_budget(rules: Path, tmp_path: Path) -> None:
    """chat's pods disappear at minute 60. LLMMetricsAbsent (critical, `for: 2m`) is the designed page for it;
    no burn-rate, error or latency alert may fire, and its SLO series end instead of turning NaN."""
    series = chat_pod("chat-0", gone_at(60)) + gen_pod("gen-0")
    checks = _everywhere(no_nan_or_inf)
    checks += [firing("59m"), firing("61m"), firing("70m", ("LLMMetricsAbsent", "chat")),
               firing("179m", ("LLMMetricsAbsent", "chat"))]
    sel = '{model="chat", slo="availability"}'
    checks += [value("59m", f"slo:error_budget_remaining:ratio{sel}", 0.5),
               value("179m", f"slo:error_budget_remaining:ratio{sel}", 0.5),
               value("179m", f"model:slo_errors:ratio_rate5m{sel}", None),
               value("179m", 'model:llm_requests:rate5m{model="chat"}', None),
               value("179m", 'model:llm_requests:rate5m{model="gen"}', 10.0)]
    run(rules, tmp_path, series, checks)


def test_a_pod_restart_resetting_every_counter_neither_alerts_nor_moves_the_ratios(rules: Path,
                                                                                   tmp_path: Path) -> None:
    series = chat_pod("chat-0", reset_at(60)) + gen_pod("gen-0", reset_at(60))
    checks = _everywhere(lambda at: [firing(at)], no_nan_or_inf)
    for at in ("61m", "63m", "66m", "90m"):
        for model in ("chat", "gen"):
            checks.append(value(at, f'model:llm_request_errors:ratio_rate5m{{model="{model}"}}', ERROR_SHARE, 1e4))
            checks.append(value(at, f'slo:error_budget_remaining:ratio{{model="{model}", slo="availability"}}',
                                0.5))
    checks.append(value("66m", 'model:slo_errors:ratio_rate5m{model="chat", slo="latency"}', 0.0))
    run(rules, tmp_path, series, checks)


def test_a_rollout_renaming_every_pod_neither_alerts_nor_records_nan(rules: Path, tmp_path: Path) -> None:
    """New pods start at minute 55, the old ones are gone at 62: for 7 minutes both serve (a surge rollout)."""
    series = [*chat_pod("chat-5d8f-a", gone_at(62), 0.5), *chat_pod("chat-5d8f-b", gone_at(62), 0.5),
              *chat_pod("chat-7c4e-a", from_minute(55), 0.5), *chat_pod("chat-7c4e-b", from_minute(55), 0.5),
              *gen_pod("gen-5d8f-a", gone_at(62)), *gen_pod("gen-7c4e-a", from_minute(55))]
    checks = _everywhere(lambda at: [firing(at)], no_nan_or_inf)
    for at in ("50m", "90m", "179m"):  # before and after the rollout: the same traffic, ratio and GPU figures
        checks += [value(at, 'model:llm_requests:rate5m{model="chat"}', 10.0),
                   value(at, 'model:llm_requests:rate5m{model="gen"}', 10.0),
                   value(at, 'model:llm_request_errors:ratio_rate5m{model="chat"}', ERROR_SHARE, 1e4),
                   value(at, 'model:llm_gpu_utilization:ratio{model="chat"}', 0.8)]
    for model in ("chat", "gen"):
        checks.append(value("179m", f'slo:error_budget_remaining:ratio{{model="{model}", slo="availability"}}', 0.5))
    run(rules, tmp_path, series, checks)


@pytest.mark.parametrize("bad", ["NaN", "Inf"])
def test_a_nan_or_inf_sample_of_a_source_never_reaches_the_slo_series(rules: Path, tmp_path: Path, bad: str) -> None:
    """One scrape of chat's error counter reads NaN (or +Inf) at minute 60; the next is normal again."""
    per_minute = RPM * ERROR_SHARE
    errors = f"0+{per_minute:g}x59 {bad} {per_minute * 61:g}+{per_minute:g}x{MINUTES - 61}"
    series = chat_pod("chat-0", error_values=errors) + gen_pod("gen-0")
    checks = _everywhere(no_nan_or_inf)
    checks += [firing("61m"), firing("70m"), firing("179m")]
    run(rules, tmp_path, series, checks)


def test_traffic_without_token_counts_records_no_cost_per_token_rather_than_inf(rules: Path, tmp_path: Path) -> None:
    """Zero denominators: requests flow but the token counters never move (an engine started without them)."""
    series = [s for s in chat_pod("chat-0") + gen_pod("gen-0") if "token" not in s["series"]
              and "length_sum" not in s["series"]]
    zero = steady(0, 0)
    series += [_series("vllm:prompt_tokens_total", {"model_name": "org/chat", "namespace": "serving",
                                                     "pod": "chat-0"}, zero),
               _series("tgi_request_input_length_sum", {"namespace": "serving", "pod": "gen-0"}, zero)]
    checks = _everywhere(lambda at: [firing(at)], no_nan_or_inf)
    checks += [value("90m", 'llm_cost_per_million_tokens{model="chat"}', None),
               value("90m", 'model:llm_tokens:rate1h{model="chat"}', 0.0),
               value("90m", 'llm_cost_per_hour{model="chat"}', 20.0)]
    run(rules, tmp_path, series, checks)
