"""OpenTelemetry GenAI semantic conventions, exported to Prometheus (dots → underscores, unit suffixes).

Requests are the `_count` of `gen_ai.server.request.duration`; failed ones carry `error.type`. Buckets are
the conventions' advisory boundaries. Token usage is a histogram whose `_sum` counts tokens.
"""

from llmmon.engines.base import Counter, Histogram, Preset, Semantics

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

PRESET = Preset(
    name="otel-genai",
    title="OpenTelemetry GenAI semantic conventions",
    model_label="gen_ai_request_model",
    requests=Counter("gen_ai_server_request_duration_seconds_count"),
    errors=Counter("gen_ai_server_request_duration_seconds_count", select=(("error_type", "=~", ".+"),),
                   synth=(("error_type", "500"),)),
    latency=Histogram("gen_ai_server_request_duration_seconds", DURATION_BUCKETS, le_style="go"),
    ttft=Histogram("gen_ai_server_time_to_first_token_seconds", TTFT_BUCKETS, le_style="go"),
    input_tokens=Counter("gen_ai_client_token_usage_sum", (("gen_ai_token_type", "input"),)),
    output_tokens=Counter("gen_ai_client_token_usage_sum", (("gen_ai_token_type", "output"),)),
    notes="status: development; errors carry error_type",
    semantics=Semantics(
        request="a request measured by gen_ai.server.request.duration (_count)",
        error="such a request recorded with an error.type attribute",
        errors_before_first=False,
        empty_errors="series with error_type appear on the first error (read as 0 while requests exist)"),
)
