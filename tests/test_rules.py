"""What the generated rules compute and when their alerts fire, checked with the real promtool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import versions
import yaml

from helpers import EXAMPLE, ROOT, eval_order, generate, plan_from_text, plan_of, promtool
from llmmon.emit import prometheus
from llmmon.emit.prom_tests import SCENARIOS
from llmmon.promql import number
from llmmon.slo import BURN_WINDOWS
from llmmon.validate import run as validate

ONE_MODEL = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {{name: cost, runbook_base_url: "https://runbooks.example.com"}}
slo_window: {window}
defaults: {{engine: vllm, namespace: serving, slo: {{availability: 99.9}}}}
models:
{models}
alert_tiers:
  critical: {{for: 10m, receiver: pager}}
  warning: {{for: 5m, receiver: pager}}
  info: {{for: 30m, receiver: pager}}
receivers:
  pager: {{pagerduty: {{routing_key_file: /etc/am/pd}}}}
costs: {{gpu_hourly: {{H100: 2.50}}}}
"""


def _spec(tmp_path: Path, models: int = 1, window: str = "30d") -> str:
    lines = "\n".join(f"  - {{name: m{i}, gpus: {{type: H100, count: 8}}}}" for i in range(models))
    return ONE_MODEL.format(models=lines, window=window)


def _run_test(tmp_path: Path, rules: str, tests: list[dict[str, object]], series: list[dict[str, str]]) -> None:
    test_file = tmp_path / "hand.test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules], "evaluation_interval": "1m",
                                         "group_eval_order": eval_order(tmp_path / rules), "tests": [
        {"interval": "1m", "input_series": series, "promql_expr_test": tests}]}), encoding="utf-8")
    done = promtool("test", "rules", str(test_file), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def _vllm(metric: str, per_minute: float, minutes: int = 120, **labels: str) -> dict[str, str]:
    pairs = {"model_name": "m0", "namespace": "serving", "pod": "m0-0", **labels}
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(pairs.items()))
    return {"series": f"{metric}{{{inner}}}", "values": f"0+{per_minute}x{minutes}"}


def test_cost_per_million_tokens_is_5_56_for_8_h100_at_2_50_serving_1000_tokens_per_second(tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, _spec(tmp_path))
    generate(plan, tmp_path / "out")
    series = [_vllm("vllm:prompt_tokens_total", 400 * 60), _vllm("vllm:generation_tokens_total", 600 * 60)]
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": 'round(llm_cost_per_million_tokens{model="m0"} * 100)', "eval_time": "90m",
         "exp_samples": [{"labels": '{currency="USD", llmmon_spec="cost", model="m0"}', "value": 556}]},
        {"expr": 'llm_cost_per_hour{model="m0"}', "eval_time": "90m",
         "exp_samples": [{"labels": '{__name__="llm_cost_per_hour", currency="USD", llmmon_spec="cost", model="m0"}',
                          "value": 20}]},
    ], series)


def test_lora_adapters_are_counted_per_model_from_each_replicas_newest_gauge_and_only_for_its_pods(
        tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, _spec(tmp_path, models=2))
    generate(plan, tmp_path / "out")

    def lora(pod: str, running: str, waiting: str, set_at: float) -> dict[str, str]:
        return {"series": f'vllm:lora_requests_info{{max_lora="4", namespace="serving", pod="{pod}", '
                          f'running_lora_adapters="{running}", waiting_lora_adapters="{waiting}"}}',
                "values": f"{number(set_at)}+0x30"}

    series = [lora("m0-0", "sql,support", "chat", 1.7e9), lora("m0-0", "old", "", 1.6e9),  # an older label set
              lora("m0-1", "sql", "", 1.7e9), lora("m1-0", "support", "sql", 1.7e9),
              lora("other-0", "sql", "sql", 1.7e9)]  # a pod of no model, in the same namespace

    def count(model: str, adapter: str, state: str, value: int) -> dict[str, object]:
        return {"labels": f'{{__name__="model:llm_lora_adapter_replicas:count", adapter="{adapter}", '
                          f'llmmon_spec="cost", model="{model}", state="{state}"}}', "value": value}

    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": "model:llm_lora_adapter_replicas:count", "eval_time": "20m",
         "exp_samples": [count("m0", "chat", "waiting", 1), count("m0", "sql", "running", 2),
                         count("m0", "support", "running", 1), count("m1", "sql", "waiting", 1),
                         count("m1", "support", "running", 1)]},
    ], series)


def _http(status: str, values: str, handler: str = "/v1/chat/completions") -> dict[str, str]:
    """vLLM's API-server counter as prometheus-fastapi-instrumentator exposes it: no model label, the pod's."""
    return {"series": f'http_requests_total{{handler="{handler}", method="POST", namespace="serving", pod="m0-0", '
                      f'status="{status}"}}', "values": values}


def test_http_counters_count_for_the_model_whose_pods_they_are_and_a_gone_pod_for_one_rate_window(
        tmp_path: Path) -> None:
    """vLLM's HTTP counters carry no model label: each pod's series count for the model whose pod regex selects
    the pod, a pod of no model counts for none, and a pod that is gone counts as long as a rate still reads it
    (its last 5xx answers are not forgiven the moment its series go stale)."""
    plan = plan_from_text(tmp_path, _spec(tmp_path, models=2))
    generate(plan, tmp_path / "out")

    def http(pod: str, status: str, values: str) -> dict[str, str]:
        return {**_http(status, values), "series": _http(status, "")["series"].replace('pod="m0-0"', f'pod="{pod}"')}

    series = [http("m0-0", "2xx", "0+600x40"),
              http("m0-1", "2xx", "0+600x20 stale"), http("m0-1", "5xx", "0+600x20 stale"),  # gone at minute 21
              http("m1-0", "2xx", "0+300x40"), http("m1-0", "5xx", "0+60x40"),
              http("other-0", "2xx", "0+6000x40"), http("other-0", "5xx", "0+6000x40")]  # a pod of no model

    def rate(name: str, model: str, per_second: int) -> dict[str, object]:
        return {"labels": f'{{engine="vllm", llmmon_spec="cost", model="{model}"}}', "value": per_second}

    errors = "model:llm_request_errors:rate5m"
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": "round(model:llm_requests:rate5m)", "eval_time": "15m",
         "exp_samples": [rate("requests", "m0", 30), rate("requests", "m1", 6)]},
        {"expr": f"round({errors} * 10)", "eval_time": "15m",
         "exp_samples": [rate("errors", "m0", 100), rate("errors", "m1", 10)]},
        {"expr": f'{errors}{{model="m0"}} > 1', "eval_time": "23m",  # the gone pod's 5xx, 2 minutes later
         "exp_samples": [{"labels": f'{{__name__="{errors}", engine="vllm", llmmon_spec="cost", model="m0"}}',
                          "value": 5}]},
        {"expr": f'{errors}{{model="m0"}}', "eval_time": "27m",
         "exp_samples": [{"labels": f'{{__name__="{errors}", engine="vllm", llmmon_spec="cost", model="m0"}}',
                          "value": 0}]},
    ], series)


def test_tgi_series_count_for_their_pods_model_and_an_idle_replica_is_serving(tmp_path: Path) -> None:
    """TGI's series carry no model label at all: requests, errors and load gauges are attributed by pod regex, and
    a replica with no request yet (its counters appear with the first one) counts as serving by its gauges."""
    spec = _spec(tmp_path, models=2).replace("engine: vllm", "engine: tgi").replace(
        "{name: m1,", "{name: m1, pods: 'gen-.*',")
    plan = plan_from_text(tmp_path, spec)
    generate(plan, tmp_path / "out")

    def tgi(metric: str, pod: str, values: str, **labels: str) -> dict[str, str]:
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted({"namespace": "serving", "pod": pod, **labels}.items()))
        return {"series": f"{metric}{{{inner}}}", "values": values}

    series = [tgi("tgi_request_count", "m0-0", "0+600x30"), tgi("tgi_queue_size", "m0-0", "2x30"),
              tgi("tgi_queue_size", "m0-1", "3x30"),  # started, no request yet
              tgi("tgi_request_count", "gen-0", "0+60x30"), tgi("tgi_queue_size", "gen-0", "0x30"),
              tgi("tgi_request_failure", "gen-0", "0+6x30", err="generation"),
              tgi("tgi_request_failure", "gen-0", "0+30x30", err="validation"),  # the client's fault
              tgi("tgi_request_count", "other-0", "0+6000x30"), tgi("tgi_queue_size", "other-0", "50x30")]

    def sample(name: str, model: str, value: float) -> dict[str, object]:
        return {"labels": f'{{__name__="{name}", engine="tgi", llmmon_spec="cost", model="{model}"}}', "value": value}

    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": "model:llm_requests:rate5m", "eval_time": "20m",
         "exp_samples": [sample("model:llm_requests:rate5m", "m0", 10), sample("model:llm_requests:rate5m", "m1", 1)]},
        {"expr": "model:llm_request_errors:rate5m", "eval_time": "20m",
         "exp_samples": [sample("model:llm_request_errors:rate5m", "m0", 0),
                         sample("model:llm_request_errors:rate5m", "m1", 0.1)]},
        {"expr": "model:llm_requests_waiting:sum", "eval_time": "20m",
         "exp_samples": [sample("model:llm_requests_waiting:sum", "m0", 5),
                         sample("model:llm_requests_waiting:sum", "m1", 0)]},
        {"expr": "model:llm_replicas_serving:count", "eval_time": "20m",
         "exp_samples": [{"labels": '{__name__="model:llm_replicas_serving:count", llmmon_spec="cost", model="m0"}',
                          "value": 2},
                         {"labels": '{__name__="model:llm_replicas_serving:count", llmmon_spec="cost", model="m1"}',
                          "value": 1}]},
    ], series)


def test_a_model_counted_at_the_edge_leaves_its_pods_out_of_the_engines_pod_map(tmp_path: Path) -> None:
    """Beside a TGI model read from its engine, one whose requests and errors come from ingress-nginx: the engine
    rules join to the pod map of their own models only (Builder.among within the engine's models), so the edge
    model's TGI counters count for nothing and its rates are the ingress's alone."""
    spec = _spec(tmp_path, models=2).replace("engine: vllm", "engine: tgi").replace(
        "{name: m1,", "{name: m1, pods: 'gen-.*',").replace("{name: m0,", "{name: m0, errors: {source: ingress-nginx},")
    plan = plan_from_text(tmp_path, spec)
    generate(plan, tmp_path / "out")

    def series(metric: str, values: str, **labels: str) -> dict[str, str]:
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        return {"series": f"{metric}{{{inner}}}", "values": values}

    inputs = [series("tgi_request_count", "0+600x30", namespace="serving", pod="m0-0"),  # the edge model's engine
              series("tgi_request_failure", "0+60x30", namespace="serving", pod="m0-0", err="generation"),
              series("tgi_request_count", "0+60x30", namespace="serving", pod="gen-0"),
              series("tgi_request_failure", "0+6x30", namespace="serving", pod="gen-0", err="generation"),
              series("nginx_ingress_controller_requests", "0+1200x30", ingress="m0", status="200"),
              series("nginx_ingress_controller_requests", "0+120x30", ingress="m0", status="503")]

    def sample(name: str, model: str, value: float) -> dict[str, object]:
        labels = {"engine": "tgi"} if model == "m1" else {"source": "ingress-nginx"}
        inner = ", ".join(f'{k}="{v}"' for k, v in sorted({"llmmon_spec": "cost", "model": model, **labels}.items()))
        return {"labels": f'{{__name__="{name}", {inner}}}', "value": value}

    requests, errors = "model:llm_requests:rate5m", "model:llm_request_errors:rate5m"
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": requests, "eval_time": "20m", "exp_samples": [sample(requests, "m0", 22), sample(requests, "m1", 1)]},
        {"expr": errors, "eval_time": "20m", "exp_samples": [sample(errors, "m0", 2), sample(errors, "m1", 0.1)]},
        {"expr": 'llmmon:engine_pod_model_info{engine="tgi"}', "eval_time": "20m", "exp_samples": [
            {"labels": '{__name__="llmmon:engine_pod_model_info", engine="tgi", llmmon_spec="cost", model="m0", '
                       'namespace="serving", pod="m0-0"}', "value": 1},
            {"labels": '{__name__="llmmon:engine_pod_model_info", engine="tgi", llmmon_spec="cost", model="m1", '
                       'namespace="serving", pod="gen-0"}', "value": 1}]},
    ], inputs)


def test_a_total_outage_pages_within_five_minutes(tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, _spec(tmp_path))
    generate(plan, tmp_path / "out")
    # 10 req/s healthy for an hour, then the API server answers every request with 5xx from minute 60 on; the
    # engine's own counter shows only the reasons a real vLLM shows (no "error" reason ever appears).
    ok, failed = _http("2xx", "0+600x60 36000+0x60"), _http("5xx", "_x60 600+600x59")
    finished = {"series": 'vllm:request_success_total{finished_reason="stop", model_name="m0", namespace="serving", '
                          'pod="m0-0"}', "values": "0+600x60 36000+0x60"}
    page = 'group(ALERTS{alertname="ErrorBudgetBurn", alertstate="firing", severity="critical", model="m0"})'
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": page, "eval_time": "59m", "exp_samples": []},
        {"expr": page, "eval_time": "65m", "exp_samples": [{"labels": "{}", "value": 1}]},
    ], [ok, failed, finished])


def test_vllm_4xx_answers_and_other_handlers_are_not_errors(tmp_path: Path) -> None:
    """Statuses are grouped (2xx/4xx/5xx): a 4xx may be a prompt too long or a 429, so it is the client's; GETs
    of /metrics and /health are not requests to a model."""
    plan = plan_from_text(tmp_path, _spec(tmp_path))
    generate(plan, tmp_path / "out")
    series = [_http("2xx", "0+540x30"), _http("4xx", "0+60x30"), _http("5xx", "0+0x30"),
              {"series": 'http_requests_total{handler="/metrics", method="GET", namespace="serving", pod="m0-0", '
                         'status="5xx"}', "values": "0+600x30"}]
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": 'round(model:llm_requests:rate5m{model="m0"} * 100)', "eval_time": "20m",
         "exp_samples": [{"labels": '{engine="vllm", llmmon_spec="cost", model="m0"}', "value": 1000}]},
        {"expr": 'model:llm_request_errors:ratio_rate5m{model="m0"}', "eval_time": "20m",
         "exp_samples": [{"labels": '{__name__="model:llm_request_errors:ratio_rate5m", engine="vllm", '
                                    'llmmon_spec="cost", model="m0"}', "value": 0}]},
    ], series)


def test_vllm_error_ratio_is_0_not_empty_before_the_first_5xx(tmp_path: Path) -> None:
    """The instrumentator creates the 5xx series on the first 5xx: until then the ratio is 0, never absent."""
    plan = plan_from_text(tmp_path, _spec(tmp_path))
    generate(plan, tmp_path / "out")
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": 'model:llm_request_errors:rate5m{model="m0"}', "eval_time": "20m",
         "exp_samples": [{"labels": '{__name__="model:llm_request_errors:rate5m", engine="vllm", llmmon_spec="cost", '
                                    'model="m0"}', "value": 0}]},
    ], [_http("2xx", "0+600x30")])


def test_each_replica_has_its_own_p99_and_the_slow_one_is_the_outlier(tmp_path: Path) -> None:
    """The per-replica p99 is taken per pod before the join to the models; a pod of another model serving the
    same name in another namespace does not mix in, and an idle pod has none."""
    plan = plan_from_text(tmp_path, _spec(tmp_path))
    generate(plan, tmp_path / "out")
    per_minute = 600
    series = []
    for pod, slow in (("m0-0", False), ("m0-1", False), ("m0-2", True)):
        for le in ("0.3", "0.5", "2.5", "5.0", "+Inf"):
            # fast pods answer in (0.3, 0.5] s, the slow one in (2.5, 5] s
            count = per_minute if float(le) >= (5.0 if slow else 0.5) else 0
            labels = f'model_name="m0", namespace="serving", pod="{pod}", le="{le}"'
            series.append({"series": f"vllm:e2e_request_latency_seconds_bucket{{{labels}}}",
                           "values": f"0+{count}x40"})
        series.append({**_http("2xx", f"0+{per_minute}x40"),
                       "series": _http("2xx", "")["series"].replace('pod="m0-0"', f'pod="{pod}"')})
    series.append({"series": 'vllm:e2e_request_latency_seconds_bucket{model_name="m0", namespace="elsewhere", '
                             'pod="m0-9", le="+Inf"}', "values": "0+600x40"})
    series.append({"series": 'vllm:e2e_request_latency_seconds_bucket{model_name="m0", namespace="serving", '
                             'pod="m0-3", le="+Inf"}', "values": "0x40"})
    labels = 'engine="vllm", llmmon_spec="cost", model="m0"'
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": "round(model_pod:llm_request_duration_seconds:p99 * 1000)", "eval_time": "30m", "exp_samples": [
            {"labels": f'{{{labels}, pod="m0-0"}}', "value": 498},
            {"labels": f'{{{labels}, pod="m0-1"}}', "value": 498},
            {"labels": f'{{{labels}, pod="m0-2"}}', "value": 4975}]},
        {"expr": 'ALERTS{alertname="LLMReplicaOutlier", alertstate="firing"}', "eval_time": "35m", "exp_samples": [
            {"labels": f'{{__name__="ALERTS", alertname="LLMReplicaOutlier", alertstate="firing", '
                       f'{labels}, pod="m0-2", severity="warning", signal="p99", threshold="3"}}', "value": 1}]},
    ], series)


def test_the_kv_cache_gauge_is_read_under_its_old_name_during_a_rolling_upgrade(tmp_path: Path) -> None:
    """vLLM renamed vllm:gpu_cache_usage_perc to vllm:kv_cache_usage_perc: a pod on either version counts."""
    plan = plan_from_text(tmp_path, _spec(tmp_path))
    generate(plan, tmp_path / "out")
    old = {"series": 'vllm:gpu_cache_usage_perc{model_name="m0", namespace="serving", pod="m0-0"}', "values": "0.5x30"}
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": 'model:llm_kv_cache_usage:ratio{model="m0"}', "eval_time": "20m",
         "exp_samples": [{"labels": '{__name__="model:llm_kv_cache_usage:ratio", engine="vllm", llmmon_spec="cost", '
                                    'model="m0"}', "value": 0.5}]},
    ], [old])


def test_gpu_and_cpu_count_for_the_model_whose_pod_regex_names_the_pod(tmp_path: Path) -> None:
    text = _spec(tmp_path, 2).replace("costs: {gpu_hourly: {H100: 2.50}}",
                                      "costs: {gpu_hourly: {H100: 2.50}, cpu_core_hourly: 0.05}")
    generate(plan_from_text(tmp_path, text), tmp_path / "out")

    def gpu(pod: str, index: int, percent: int, namespace: str = "serving") -> dict[str, str]:
        return {"series": f'DCGM_FI_DEV_GPU_UTIL{{gpu="{index}", namespace="{namespace}", pod="{pod}"}}',
                "values": f"{percent}x120"}

    def cpu(pod: str, cores: int, namespace: str = "serving") -> dict[str, str]:
        return {"series": f'container_cpu_usage_seconds_total{{container="server", namespace="{namespace}", '
                          f'pod="{pod}"}}', "values": f"0+{cores * 60}x120"}

    # m0's pods hold 2 and 1 GPUs: its utilisation is the mean over its 3 GPUs (0.6), not over its pods (0.65)
    series = [gpu("m0-a", 0, 40), gpu("m0-a", 1, 60), gpu("m0-c", 0, 80), gpu("m1-a", 0, 90), gpu("other-x", 0, 10),
              gpu("m0-b", 0, 5, namespace="elsewhere"), cpu("m0-a", 2), cpu("m1-a", 1), cpu("other-x", 7),
              cpu("m0-b", 9, namespace="elsewhere")]
    labels = 'llmmon_spec="cost"'
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": "llmmon:pod_model_info", "eval_time": "30m", "exp_samples": [
            {"labels": f'{{__name__="llmmon:pod_model_info", {labels}, model="m0", namespace="serving", pod="m0-a"}}',
             "value": 1},
            {"labels": f'{{__name__="llmmon:pod_model_info", {labels}, model="m0", namespace="serving", pod="m0-c"}}',
             "value": 1},
            {"labels": f'{{__name__="llmmon:pod_model_info", {labels}, model="m1", namespace="serving", pod="m1-a"}}',
             "value": 1}]},
        {"expr": "model:llm_gpu_utilization:ratio", "eval_time": "30m", "exp_samples": [
            {"labels": f'{{__name__="model:llm_gpu_utilization:ratio", {labels}, model="m0"}}', "value": 0.6},
            {"labels": f'{{__name__="model:llm_gpu_utilization:ratio", {labels}, model="m1"}}', "value": 0.9}]},
        {"expr": "model:llm_cpu_cores:rate5m", "eval_time": "30m", "exp_samples": [
            {"labels": f'{{__name__="model:llm_cpu_cores:rate5m", {labels}, model="m0"}}', "value": 2},
            {"labels": f'{{__name__="model:llm_cpu_cores:rate5m", {labels}, model="m1"}}', "value": 1}]},
    ], series)


def test_latency_slo_counts_good_requests_whatever_the_le_spelling(tmp_path: Path) -> None:
    """A rolling upgrade can leave replicas printing a bound as `2.0` (Python clients) and as `2` (Go)."""
    text = _spec(tmp_path).replace("slo: {availability: 99.9}",
                                   "slo: {availability: 99.9, latency: {threshold: 2s, target: 99}}")
    generate(plan_from_text(tmp_path, text), tmp_path / "out")
    metric = "vllm:e2e_request_latency_seconds"
    series = [_vllm(f"{metric}_bucket", 60, pod="m0-0", le="2.0"), _vllm(f"{metric}_bucket", 60, pod="m0-0", le="+Inf"),
              _vllm(f"{metric}_count", 60, pod="m0-0"),
              _vllm(f"{metric}_bucket", 120, pod="m0-1", le="2"), _vllm(f"{metric}_bucket", 180, pod="m0-1", le="+Inf"),
              _vllm(f"{metric}_count", 180, pod="m0-1")]
    # 60 of 240 requests a minute take over 2s; half of them take at most 2 × 120/180 s.
    _run_test(tmp_path, "out/prometheus/rules/cost.rules.yaml", [
        {"expr": 'round(model:slo_errors:ratio_rate5m{slo="latency"} * 1000)', "eval_time": "30m", "exp_samples": [
            {"labels": '{engine="vllm", llmmon_spec="cost", model="m0", slo="latency"}', "value": 250}]},
        {"expr": "round(model:llm_request_duration_seconds:p50 * 1000)", "eval_time": "30m", "exp_samples": [
            {"labels": '{engine="vllm", llmmon_spec="cost", model="m0"}', "value": 1333}]},
    ], series)


def test_burn_rate_factors_are_derived_from_the_slo_window(tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, _spec(tmp_path, window="28d"))
    exprs = [r["expr"] for r in prometheus.build(plan).rules if r.get("alert") == "ErrorBudgetBurn"]
    thresholds = [float(re.search(r"ratio_rate\w+\{[^}]*\}(?:\[\w+\]\))? > ([\d.e-]+)", e)[1])  # type: ignore[index]
                  for e in exprs]
    assert thresholds == pytest.approx([f * 0.001 for f in (13.44, 2.8, 5.6, 2.8, 0.9333)])


def test_burn_rate_terms_select_models_only_where_a_kind_has_several_objectives(tmp_path: Path) -> None:
    """Only models with an objective have series of its kind: a term covering all of them needs no model regex."""
    lines = ("  - {name: m0, gpus: {type: H100, count: 8}, slo: {latency: {threshold: 2s, target: 99}}}\n"
             "  - {name: m1, gpus: {type: H100, count: 8}}\n"
             "  - {name: m2, gpus: {type: H100, count: 8}, slo: {availability: 99.5}}")
    plan = plan_from_text(tmp_path, ONE_MODEL.format(models=lines, window="30d"))
    page = next(r["expr"] for r in prometheus.build(plan).rules if r.get("alert") == "ErrorBudgetBurn")
    assert 'slo="latency"} > 0.144' in page
    assert 'slo="availability", model=~"m0|m1"} > 0.0144' in page
    assert 'slo="availability", model=~"m2"} > 0.072' in page


def test_burn_rate_alerts_join_objectives_set_model_by_model(tmp_path: Path) -> None:
    """Past MAX_BURN_TERMS distinct objectives the alerts join the objective series; the generated promtool tests
    (an outage of the first model pages, the others stay quiet) still pass."""
    models = prometheus.MAX_BURN_TERMS + 1
    lines = "\n".join(f"  - {{name: m{i}, gpus: {{type: H100, count: 8}}, slo: {{availability: {99 + i / 100}}}}}"
                      for i in range(models))
    plan = plan_from_text(tmp_path, ONE_MODEL.format(models=lines, window="30d"))
    alerts = [r for r in prometheus.build(plan).rules if r.get("alert") == "ErrorBudgetBurn"]
    factors = {(p.tier, str(p.long)): p.factor(plan.slo_window) for p in BURN_WINDOWS}
    assert len(alerts) == len(factors) == 5
    for alert in alerts:  # each pair its own factor
        factor = factors[(alert["labels"]["severity"], alert["labels"]["long_window"])]
        # both windows, each compared with its own factor
        assert alert["expr"].count(f"group_left () ({number(factor)} * (1 - slo:objective:ratio") == 2, alert
    generate(plan, tmp_path / "out")
    for test_file in sorted((tmp_path / "out/prometheus/tests").glob("*.yaml")):
        done = promtool("test", "rules", str(test_file), cwd=test_file.parent)
        assert done.returncode == 0, done.stdout + done.stderr


def test_computed_rules_do_not_grow_with_the_fleet(tmp_path: Path) -> None:
    def counts(models: int) -> tuple[int, int]:
        ruleset = prometheus.build(plan_from_text(tmp_path, _spec(tmp_path, models), f"s{models}.yaml"))
        static = sum(len(g["rules"]) for g in ruleset.groups if "-static" in g["name"])
        return len(ruleset.rules) - static, static

    small, large = counts(2), counts(150)
    assert small[0] == large[0]
    assert large[1] == 75 * small[1]


def _widest_or(expr: str) -> int:
    """The most `or` operators at one nesting level of `expr` (strings skipped)."""
    counts, stack = [0], [0]
    for token in re.findall(r'"(?:[^"\\]|\\.)*"|[()]|\bor\b', expr):
        if token == "(":
            stack.append(len(counts))
            counts.append(0)
        elif token == ")":
            stack.pop()
        elif token == "or":
            counts[stack[-1]] += 1
    return max(counts)


def test_per_model_terms_are_joined_as_a_balanced_tree(tmp_path: Path) -> None:
    """Prometheus matches each `or` against everything on its left: a flat chain of one term per model costs a
    label hash per series per term (quadratic in the fleet; at 500 models the restart-loop alert alone cost 1.6 s
    an evaluation). Every union of per-model terms is a balanced tree: at most two `or` at one level."""
    ruleset = prometheus.build(plan_from_text(tmp_path, _spec(tmp_path, 32), "s32.yaml"))
    per_model = [r for r in ruleset.rules if r["expr"].count('"model", "m') >= 32]
    assert {r.get("alert") or r.get("record") for r in per_model} >= {
        "LLMPodRestartLoop", "LLMPodsPending", "model:llm_replicas_expected:count", "llmmon:engine_pod_model_present"}
    wide = {r.get("alert") or r.get("record"): _widest_or(r["expr"]) for r in per_model if _widest_or(r["expr"]) > 2}
    assert not wide


def test_every_alert_carries_severity_summary_description_and_runbook() -> None:
    ruleset = prometheus.build(plan_of(EXAMPLE))
    alerts = [r for r in ruleset.rules if "alert" in r]
    assert {a["alert"] for a in alerts} == {"HighInferenceLatency", "HighErrorRate", "LowGPUUtilization",
                                            "HighTimeToFirstToken", "LowThroughput", "ErrorBudgetBurn",
                                            "LLMMetricsAbsent", "HighInterTokenLatency", "LLMKVCacheNearFull",
                                            "LLMQueueBuildUp",
                                            "LLMPreemptions", "LLMReplicasMissing", "LLMReplicaOutlier",
                                            "LLMPodRestartLoop", "LLMPodsPending", "GPUXidError",
                                            "GPURowRemapFailure", "GPUTemperatureHigh"}
    for alert in alerts:
        assert alert["labels"]["severity"] in ("critical", "warning", "info")
        assert set(alert["annotations"]) == {"summary", "description", "runbook_url", "dashboard_url"}
        assert alert["annotations"]["summary"].startswith("{{ $labels.model }}")  # whom it is about, first
        assert "{{ $labels.model }}" in alert["annotations"]["description"]
        anchor = "#{{ $labels.slo }}" if alert["alert"] == "ErrorBudgetBurn" else ""
        assert alert["annotations"]["runbook_url"] == \
            f"https://runbooks.example.com/llm/{alert['alert'].lower()}{anchor}"
        assert alert["annotations"]["dashboard_url"] == (
            "https://grafana.example.com/d/llm-platform-sre?"
            "var-model={{ $labels.model }}&var-cluster={{ $labels.cluster }}")
        assert re.search(r"\bmodel\b", alert["expr"])


SPECS = [*sorted((ROOT / "specs").glob("*.yaml")), *sorted((ROOT / "tests" / "specs").glob("*.yaml"))]


@pytest.mark.parametrize("spec", SPECS,
                         ids=lambda p: p.stem)
def test_generated_rules_pass_promtool_check_and_their_own_tests(spec: Path,
                                                                 with_promtool: versions.PrometheusRelease) -> None:
    plan = plan_of(spec)
    from llmmon.generate import build

    bundle = build(plan)
    result = validate(bundle, plan)
    assert result.ok, "\n".join(result.findings)
    pipeline = plan.spec.logging is not None or plan.spec.tracing is not None  # one scenario of their own
    assert result.scenarios == len(bundle.test_files) == len(SCENARIOS) + pipeline
    assert result.assertions >= 8 * len(plan.models)


def test_values_from_the_spec_cannot_break_out_of_promql_strings(tmp_path: Path) -> None:
    text = _spec(tmp_path).replace("- {name: m0,", '- {name: m0, served_name: "a\\"} or vector(1) #\\\\",')
    plan = plan_from_text(tmp_path, text)
    ruleset = prometheus.build(plan)
    info = next(r for r in ruleset.rules if r.get("record") == "llmmon:model_info")
    assert info["labels"]["served_model"] == 'a"} or vector(1) #\\'
    out = tmp_path / "out"
    generate(plan, out)
    done = promtool("check", "rules", str(out / "prometheus/rules/cost.rules.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "or vector(1)" not in "".join(r["expr"] for r in ruleset.rules)


SEED_AND_VLLM = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: race, runbook_base_url: "https://runbooks.example.com"}
defaults: {namespace: serving, slo: {availability: 99.9}}
models:
  - {name: v, engine: vllm}
  - {name: s, engine: openai-compatible}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/am/pd}}
gpu_exporter: {kind: none}
"""


@pytest.mark.parametrize("finished", [False, True], ids=["http-only", "with-finished-reasons"])
def test_a_vllm_answering_10_percent_5xx_pages_in_the_same_minute_as_the_seed_contract(tmp_path: Path,
                                                                                      finished: bool) -> None:
    """vLLM's series as vLLM exposes them (HTTP counters without a model label, the pod's labels; the engine's
    finished-reason counter showing only stop and length) against the seed contract at the same traffic."""
    plan = plan_from_text(tmp_path, SEED_AND_VLLM)
    generate(plan, tmp_path / "out")
    # 10 req/s; from minute 60 one request in ten fails (the 5xx series appears with its first answer)
    bad_v, ok_before = "_x60 0+60x60", "0+600x60 36000+540x60"
    series = [
        {"series": 'http_requests_total{handler="/v1/chat/completions", method="POST", namespace="serving", '
                   'pod="v-0", status="2xx"}', "values": ok_before},
        {"series": 'http_requests_total{handler="/v1/chat/completions", method="POST", namespace="serving", '
                   'pod="v-0", status="5xx"}', "values": bad_v},
        {"series": 'llm_requests_total{model="s", namespace="serving", pod="s-0", status="success"}',
         "values": ok_before},
        {"series": 'llm_requests_total{model="s", namespace="serving", pod="s-0", status="error"}', "values": bad_v},
    ]
    if finished:
        series += [{"series": f'vllm:request_success_total{{finished_reason="{reason}", model_name="v", '
                              f'namespace="serving", pod="v-0"}}', "values": values}
                   for reason, values in (("stop", "0+500x60 30000+450x60"), ("length", "0+100x60 6000+90x60"))]
    page = 'ALERTS{{alertname="ErrorBudgetBurn", alertstate="firing", severity="critical", model="{}"}}'
    tests: list[dict[str, object]] = []
    for minute in range(58, 100):  # both page in the same evaluation, never one before the other
        tests.append({"expr": f'(count({page.format("v")}) or vector(0)) - (count({page.format("s")}) or vector(0))',
                      "eval_time": f"{minute}m", "exp_samples": [{"labels": "{}", "value": 0}]})
    tests.append({"expr": f'group({page.format("v")}) + group({page.format("s")})', "eval_time": "99m",
                  "exp_samples": [{"labels": "{}", "value": 2}]})
    _run_test(tmp_path, "out/prometheus/rules/race.rules.yaml", tests, series)


EDGE = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {{name: edge, runbook_base_url: "https://runbooks.example.com"}}
defaults: {{namespace: serving, engine: vllm, slo: {{availability: 99.9}}}}
models:
  - {{name: m0, errors: {errors}}}
alert_tiers:
  critical: {{for: 10m, receiver: pager}}
  warning: {{for: 5m, receiver: pager}}
  info: {{for: 30m, receiver: pager}}
receivers:
  pager: {{pagerduty: {{routing_key_file: /etc/am/pd}}}}
gpu_exporter: {{kind: none}}
"""


@pytest.mark.parametrize(("errors", "ok", "bad"), [
    ("{source: ingress-nginx, name: chat}",
     'nginx_ingress_controller_requests{ingress="chat", namespace="ingress", status="200", method="POST"}',
     'nginx_ingress_controller_requests{ingress="chat", namespace="ingress", status="502", method="POST"}'),
    ("{source: istio}",
     'istio_requests_total{reporter="destination", destination_workload="m0", '
     'destination_workload_namespace="serving", response_code="200"}',
     'istio_requests_total{reporter="destination", destination_workload="m0", '
     'destination_workload_namespace="serving", response_code="503"}'),
    ("{source: http, metric: gateway_requests_total, status_label: code}",
     'gateway_requests_total{namespace="serving", pod="m0-1", code="200"}',
     'gateway_requests_total{namespace="serving", pod="m0-1", code="500"}'),
])
def test_a_crashed_engine_pages_through_the_errors_counted_at_the_edge(tmp_path: Path, errors: str, ok: str,
                                                                       bad: str) -> None:
    """The engine stops counting at minute 60 (it crashed); only the proxy sees the 5xx answers."""
    source = re.findall(r"source: ([\w-]+)", errors)[0]
    plan = plan_from_text(tmp_path, EDGE.format(errors=errors))
    generate(plan, tmp_path / "out")
    engine = {"series": 'http_requests_total{handler="/v1/chat/completions", method="POST", namespace="serving", '
                        'pod="m0-1", status="2xx"}', "values": "0+600x60 _x60"}
    series = [engine, {"series": ok, "values": "0+600x60 36000+0x60"}, {"series": bad, "values": "_x60 600+600x59"}]
    page = 'group(ALERTS{alertname="ErrorBudgetBurn", alertstate="firing", severity="critical", model="m0"})'
    _run_test(tmp_path, "out/prometheus/rules/edge.rules.yaml", [
        {"expr": 'model:llm_request_errors:ratio_rate5m{model="m0"}', "eval_time": "50m",
         "exp_samples": [{"labels": '{__name__="model:llm_request_errors:ratio_rate5m", llmmon_spec="edge", '
                                    f'model="m0", source="{source}"}}', "value": 0}]},
        {"expr": page, "eval_time": "59m", "exp_samples": []},
        {"expr": page, "eval_time": "65m", "exp_samples": [{"labels": "{}", "value": 1}]},
    ], series)
