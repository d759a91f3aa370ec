"""The seed contract: the platform's own `llm_*` instrumentation (label `model` on every series)."""

from llmmon.engines.base import Counter, Gauge, Histogram, Preset, Semantics

# prometheus_client's default histogram buckets, used for TTFT by the seed instrumentation.
CLIENT_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

PRESET = Preset(
    name="openai-compatible",
    title="the seed contract (llm_* metrics)",
    model_label="model",
    requests=Counter("llm_requests_total"),
    ok_labels=(("status", "success"),),
    errors=Counter("llm_requests_total", (("status", "error"),)),
    latency=Histogram("llm_request_duration_seconds", (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)),
    ttft=Histogram("llm_time_to_first_token_seconds", CLIENT_DEFAULT_BUCKETS),
    input_tokens=Counter("llm_tokens_total", (("type", "input"),)),
    output_tokens=Counter("llm_tokens_total", (("type", "output"),)),
    gpu_utilization=Gauge("llm_gpu_utilization_percent", scale=0.01),
    notes='errors are requests with status="error"',
    semantics=Semantics(
        request="a request the platform's instrumentation finished (llm_requests_total, any status)",
        error='a request counted with status="error"',
        errors_before_first=False,
        empty_errors='the status="error" series appears on the first error (read as 0 while requests exist)'),
)
