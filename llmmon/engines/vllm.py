"""vLLM (V1 engine): `vllm:` series labelled `model_name`.

Errors are finished requests with finished_reason="error"; aborts are client cancellations and are
not counted against the server.
"""

from llmmon.engines.base import Counter, Deprecation, Gauge, Histogram, Preset

E2E_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
               120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
ITL_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
               80.0)  # also those of the deprecated vllm:time_per_output_token_seconds
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)

PRESET = Preset(
    name="vllm",
    title="vLLM (V1 engine)",
    model_label="model_name",
    requests=Counter("vllm:request_success_total"),
    ok_labels=(("finished_reason", "stop"),),
    errors=Counter("vllm:request_success_total", (("finished_reason", "error"),)),
    latency=Histogram("vllm:e2e_request_latency_seconds", E2E_BUCKETS),
    ttft=Histogram("vllm:time_to_first_token_seconds", TTFT_BUCKETS),
    input_tokens=Counter("vllm:prompt_tokens_total"),
    output_tokens=Counter("vllm:generation_tokens_total"),
    gauges={
        "running": Gauge("vllm:num_requests_running"),
        "waiting": Gauge("vllm:num_requests_waiting"),
        "kv_cache": Gauge("vllm:kv_cache_usage_perc"),
    },
    deprecated=(
        Deprecation("vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc", "removed in the V1 engine"),
        Deprecation("vllm:time_per_output_token_seconds", "vllm:inter_token_latency_seconds",
                    "deprecated, then hidden"),
        Deprecation("vllm:cpu_cache_usage_perc", None, "removed with the V0 engine"),
    ),
    notes='errors are finished requests with finished_reason="error"',
    preemptions=Counter("vllm:num_preemptions_total"),
    itl=Histogram("vllm:inter_token_latency_seconds", ITL_BUCKETS),
    itl_also=("vllm:time_per_output_token_seconds",),
    phases=(("queue", "vllm:request_queue_time_seconds"), ("prefill", "vllm:request_prefill_time_seconds"),
            ("decode", "vllm:request_decode_time_seconds")),
    prefix_cache=("vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"),
    finish_reason_label="finished_reason",
    lengths=(("prompt", "vllm:request_prompt_tokens"), ("generation", "vllm:request_generation_tokens")),
    unverified=("itl", "phases", "prefix cache", "lengths"),  # named from vLLM's source, not yet a real page
)
