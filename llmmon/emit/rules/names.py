"""Names of the series llmmon records, and how often each kind of rule group runs."""

from __future__ import annotations

from llmmon.slo import SAMPLE_EVERY
from llmmon.units import Duration

INFO = "llmmon:model_info"
OBJECTIVE = "slo:objective:ratio"
MIN_RATE = "llmmon:min_request_rate"
GPU_COST = "llmmon:gpu_cost_per_hour"
GPUS = "llmmon:gpus_allocated"
REQUESTS = "model:llm_requests:rate5m"
ERRORS = "model:llm_request_errors:rate5m"
ERROR_RATIO = "model:llm_request_errors:ratio_rate5m"
REQUESTS_1H = "model:llm_requests:rate1h"
LATENCY = "model:llm_request_duration_seconds"
SLO_BUCKET = "_slo_bucket:rate5m"  # the buckets at SLO thresholds only: model:llm_request_duration_seconds_slo_bucket
LATENCY_MEAN = "model:llm_request_duration_seconds:mean"
TTFT = "model:llm_time_to_first_token_seconds"
INPUT_TOKENS = "model:llm_input_tokens:rate5m"
OUTPUT_TOKENS = "model:llm_output_tokens:rate5m"
TOKENS = "model:llm_tokens:rate5m"
TOKENS_1H = "model:llm_tokens:rate1h"
GPU_UTIL = "model:llm_gpu_utilization:ratio"
CPU_CORES = "model:llm_cpu_cores:rate5m"
POD_MODEL = "llmmon:pod_model_info"
# The pods of an engine whose series carry no model label (TGI; vLLM's HTTP counters), each with the model whose
# pod regex selects it: the pods present now, then those present within a rate window (what the rates still read).
ENGINE_POD_PRESENT = "llmmon:engine_pod_model_present"
ENGINE_POD = "llmmon:engine_pod_model_info"
DCGM_UTIL = "DCGM_FI_DEV_GPU_UTIL"
CPU_SECONDS = "container_cpu_usage_seconds_total"
# Pods are mapped to models this often; a new pod's GPU and CPU series count for its model from the next run.
POD_MAP_EVERY = Duration.parse("5m")
POD_MAP_LOOKBACK = Duration(POD_MAP_EVERY.ms * 2)  # two runs: one late or failed run loses nothing
COST_PER_HOUR = "llm_cost_per_hour"
COST_PER_MTOK = "llm_cost_per_million_tokens"
SLO_REQUESTS = "model:slo_requests:rate"
SLO_ERRORS = "model:slo_errors:rate"
SLO_RATIO = "model:slo_errors:ratio_rate"
SAMPLED = f"{SAMPLE_EVERY}_every{SAMPLE_EVERY}"  # suffix of the sampled 30m window: rate30m_every30m
AVAILABILITY = "slo:availability:ratio"  # availability only, one series per model (the design's name)
GOOD = "slo:good_requests:ratio"  # share of good requests over the SLO window, per model and `slo`
BUDGET = "slo:error_budget_remaining:ratio"
GAUGE_RECORDS = {"running": ("model:llm_requests_running:sum", "sum"),
                 "waiting": ("model:llm_requests_waiting:sum", "sum"),
                 "kv_cache": ("model:llm_kv_cache_usage:ratio", "avg")}
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
# Models per static group: keeps each PrometheusRule object well under Kubernetes' size limits
# (262144 bytes of annotations for `kubectl apply`'s last-applied configuration).
STATIC_CHUNK = 100
# Static series only change with the rules: their groups run this often, well inside the 5m an instant query looks
# back, so joins always find them (7 rules a model: 3500 at 500 models, 70 ms of a Prometheus' time per run).
STATIC_EVERY = Duration.parse("2m")
# Buckets, quantiles, tokens, gauges and cost feed dashboards and alerts held for minutes (latency, TTFT, idle GPUs):
# recomputed this often instead of at every evaluation. Most raw series of an engine are buckets: at 500 models ×
# 4 replicas, 44,000 of the 58,000 it reads, 0.30 s of a Prometheus' time per run (bench/rule_cost.py).
DETAIL_EVERY = Duration.parse("2m")
# Burn-rate alerts compare with constants, one term per (SLO kind, objective, minimum rate); past this many terms
# (objectives set model by model) they join the objective series instead.
MAX_BURN_TERMS = 12

