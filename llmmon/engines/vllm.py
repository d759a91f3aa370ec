"""vLLM: `vllm:` series labelled `model_name`, plus the OpenAI server's HTTP counters (no model label).

Requests and errors come from the API server's `http_requests_total` (prometheus-fastapi-instrumentator) on the
`/v1/...` POST handlers, attributed to models by namespace and pod regex: the engine's own
`vllm:request_success_total` only counts requests that reached the engine and finished, by reason (V1 pre-creates
stop, length and abort; an `error` reason exists only in late-2025 versions and only for KV-transfer failures),
so a server answering 500s shows no error in it. It stays the secondary signal (`engine_errors`).

Errors are `status="5xx"` only. The instrumentator groups statuses (2xx/4xx/5xx), so a 429 cannot be told from a
400 "prompt too long" or a 404 "model not found"; counting 4xx would page the on-call for clients' mistakes.
vLLM sheds load by queueing, not by 429; overload that a proxy rejects is seen by an edge `errors` source.

Versions differ in bucket sets and names (see VERSIONS); the KV-cache gauge is read as `new or old`, so one rule
set keeps working through a rolling upgrade from a version with the old name.
"""

from dataclasses import replace

from llmmon.engines.base import Counter, Deprecation, Gauge, Histogram, Preset, Semantics

E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
               120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
               80.0)  # also those of the deprecated vllm:time_per_output_token_seconds
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
# vLLM ~0.5 (0.4-0.6): checked on a real page (tests/expositions/real/vllm-0.5.txt).
E2E_BUCKETS_05 = (1.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0)
TTFT_BUCKETS_05 = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

HTTP = "http_requests_total"
_V1_POST = (("handler", "=~", "/v1/.*"),)
_HANDLER = (("handler", "/v1/chat/completions"),)  # what synthetic test series carry to satisfy the select
ENGINE_FINISHED = Counter("vllm:request_success_total")
ENGINE_ERRORS = Counter("vllm:request_success_total", (("finished_reason", "error"),))

PRESET = Preset(
    name="vllm",
    title="vLLM (V1 engine, 0.10 and later)",
    model_label="model_name",
    requests=Counter(HTTP, (("method", "POST"),), select=_V1_POST, synth=_HANDLER, by_pod=True),
    ok_labels=(("status", "2xx"),),
    errors=Counter(HTTP, (("method", "POST"), ("status", "5xx")), select=_V1_POST, synth=_HANDLER, by_pod=True),
    latency=Histogram("vllm:e2e_request_latency_seconds", E2E_BUCKETS),
    ttft=Histogram("vllm:time_to_first_token_seconds", TTFT_BUCKETS),
    input_tokens=Counter("vllm:prompt_tokens_total"),
    output_tokens=Counter("vllm:generation_tokens_total"),
    gauges={
        "running": Gauge("vllm:num_requests_running"),
        "waiting": Gauge("vllm:num_requests_waiting"),
        "kv_cache": Gauge("vllm:kv_cache_usage_perc", old=("vllm:gpu_cache_usage_perc",)),
    },
    deprecated=(
        Deprecation("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc",
                    "the V0-era name, still set beside the new one by early V1 releases and later removed; "
                    "the rules read both"),
        Deprecation("vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds",
                    "deprecated, then hidden"),
        Deprecation("vllm:cpu_cache_usage_perc", None, "removed with the V0 engine"),
    ),
    notes="requests and errors from the API server's HTTP counters, attributed by pod regex",
    version="0.10",
    semantics=Semantics(
        request='a POST to a /v1/... handler of the OpenAI server (http_requests_total, any status)',
        error='such a request answered 5xx; 4xx are the client\'s (statuses are grouped, 429 is not told apart)',
        errors_before_first=False,
        empty_errors='the instrumentator creates the status="5xx" series on the first 5xx answer: absent '
                     'means none yet (read as 0 while requests exist)'),
    engine_errors=ENGINE_ERRORS,
    verified=("vllm-0.10-v1.txt (fragment: the KV-cache gauge under its new name)",),
    markers=("vllm:kv_cache_usage_perc",),
    preemptions=Counter("vllm:num_preemptions_total"),
    itl=Histogram("vllm:inter_token_latency_seconds", ITL_BUCKETS),
    itl_also=("vllm:time_per_output_token_seconds",),
    phases=(("queue", "vllm:request_queue_time_seconds"), ("prefill", "vllm:request_prefill_time_seconds"),
            ("decode", "vllm:request_decode_time_seconds")),
    prefix_cache=("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"),
    finish_reason_label="finished_reason",
    finished=Counter("vllm:request_success_total"),
    lengths=(("prompt", "vllm:request_prompt_tokens"), ("generation", "vllm:request_generation_tokens")),
    # vLLM's docs (vllm.v1.spec_decode.metrics.SpecDecodingProm; docs/design/metrics.md for the LoRA gauge)
    spec_decode=("vllm:spec_decode_num_accepted_tokens_total", "vllm:spec_decode_num_draft_tokens_total"),
    lora_info="vllm:lora_requests_info",
    unverified=("itl", "phases", "prefix cache", "lengths", "spec decode", "lora"),  # from vLLM's source and docs
)

# V0 engine at 0.8 and early V1 (0.7-0.9): today's bucket sets, the KV gauge under its old name.
V08 = replace(PRESET, title="vLLM 0.7-0.9 (V0 engine, early V1)", version="0.8",
              verified=("vllm-0.8-v1-early.txt (fragment: running, waiting, the KV gauge under its old name)",
                        "vllm-v1-finished-reasons.txt (fragment: finished reasons, no error reason)",
                        "vllm-0.8-http-statuses.txt (fragment: the API server's requests by HTTP status)"),
              markers=("vllm:gpu_cache_usage_perc",))

# vLLM ~0.5: short bucket sets (e2e 1 ... 60 s, TTFT up to 10 s) and no HTTP counters on the page.
V05 = replace(
    PRESET, title="vLLM 0.4-0.6 (V0 engine)", version="0.5",
    requests=ENGINE_FINISHED, ok_labels=(("finished_reason", "stop"),), errors=ENGINE_ERRORS,
    latency=Histogram("vllm:e2e_request_latency_seconds", E2E_BUCKETS_05),
    ttft=Histogram("vllm:time_to_first_token_seconds", TTFT_BUCKETS_05),
    notes="no HTTP counters and no error reason: errors read 0 unless an edge `errors` source is set",
    semantics=Semantics(
        request="a request the engine finished, any finished_reason (vllm:request_success_total)",
        error="none exposed: finished_reason shows only stop and length (set an edge `errors` source)",
        errors_before_first=False,
        empty_errors='vLLM 0.5 has no error reason; finished_reason="error" never appears (errors read as 0)'),
    engine_errors=None, verified=("vllm-0.5.txt (whole page)",), markers=(),
    # the V0 engine computed the acceptance rate itself (a gauge); the V1 counters came later
    spec_decode=None, spec_accept_gauge="vllm:spec_decode_draft_acceptance_rate")

VERSIONS = {"0.5": V05, "0.8": V08, "0.10": PRESET}
