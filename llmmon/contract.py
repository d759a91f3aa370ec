"""The metric contract of the `openai-compatible` preset: the `llm_*` series a service writes, defined once.

The preset (llmmon/engines/openai_compatible.py) reads these names to build queries; `llmmon.instrument`
writes them with prometheus_client. Both import this module and tests prove they agree, so a name changed
here changes in the rules, the dashboards and the emitter at once. Plain data: importing it costs nothing.
"""

from __future__ import annotations

MODEL_LABEL = "model"  # on every series: the served model name

REQUESTS = "llm_requests_total"  # counter {model, status}: every finished request
STATUS_LABEL = "status"
SUCCESS, ERROR, CLIENT_ERROR = "success", "error", "client_error"
# The rules count status="error" as failed and every status as a request: a client error (4xx, a refused
# prompt) is the caller's fault and spends no error budget.
STATUSES: tuple[str, ...] = (SUCCESS, ERROR, CLIENT_ERROR)

DURATION = "llm_request_duration_seconds"  # histogram {model}: end-to-end request latency
TTFT = "llm_time_to_first_token_seconds"  # histogram {model}: time to the first streamed token
TOKENS = "llm_tokens_total"  # counter {model, type}
TOKEN_TYPE_LABEL = "type"
INPUT, OUTPUT = "input", "output"
RUNNING = "llm_requests_running"  # gauge {model}: requests being served now
WAITING = "llm_requests_waiting"  # gauge {model}: requests queued, not yet started
GPU_UTILIZATION = "llm_gpu_utilization_percent"  # gauge {gpu_id}: 0-100, reported by the serving app
GPU_LABEL = "gpu_id"
GPU_SCALE = 0.01  # percent → the 0-1 ratio the rules record
# Written for dashboards and ad-hoc queries; no generated rule reads it.
TOKENS_PER_SECOND = "llm_output_tokens_per_second"  # histogram {model}: output tokens/s of a finished stream

# Bucket bounds (seconds) the preset assumes when a service does not derive its own from the spec. A service
# may expose more bounds (llmmon.instrument adds every threshold of the spec); the rules need only these.
LATENCY_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0)
# prometheus_client's default histogram buckets, used for TTFT by the seed instrumentation.
TTFT_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
TOKENS_PER_SECOND_BUCKETS: tuple[float, ...] = (1.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
