"""SGLang (`--enable-metrics`): `sglang:` series labelled `model_name`.

SGLang counts aborted requests, not failed ones; aborts are the closest signal of requests that did not
complete and are used as errors.
"""

from llmmon.engines.base import Counter, Gauge, Histogram, Preset

TTFT_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0)
E2E_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0,
               400.0, 600.0, 1200.0, 1800.0, 2400.0)

PRESET = Preset(
    name="sglang",
    title="SGLang",
    model_label="model_name",
    requests=Counter("sglang:num_requests_total"),
    errors=Counter("sglang:num_aborted_requests_total"),
    latency=Histogram("sglang:e2e_request_latency_seconds", E2E_BUCKETS),
    ttft=Histogram("sglang:time_to_first_token_seconds", TTFT_BUCKETS),
    input_tokens=Counter("sglang:prompt_tokens_total"),
    output_tokens=Counter("sglang:generation_tokens_total"),
    gauges={
        "running": Gauge("sglang:num_running_reqs"),
        "waiting": Gauge("sglang:num_queue_reqs"),
        "kv_cache": Gauge("sglang:token_usage"),
    },
    notes="errors are aborted requests (sglang:num_aborted_requests_total)",
    itl=Histogram("sglang:inter_token_latency_seconds", (0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03,
                                                         0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0,
                                                         4.0, 6.0, 8.0)),
    phases=(("queue", "sglang:queue_time_seconds"),),
    unverified=("itl", "phases"),
)
