"""NVIDIA Triton Inference Server / TensorRT-LLM (metrics port 8002): series labelled `model`, `version`.

Triton has no latency histogram: `nv_inference_request_duration_us` is a cumulative microsecond counter,
so only the mean latency is known (a latency SLO is refused; the p99 alert compares the mean). The
first-response histogram is opt-in (`--metrics-config histogram_latencies=true`) and in milliseconds.
"""

from llmmon.engines.base import Counter, Gauge, Histogram, Preset, Semantics

FIRST_RESPONSE_BUCKETS_MS = (100.0, 500.0, 2000.0, 5000.0)

PRESET = Preset(
    name="triton",
    title="NVIDIA Triton / TensorRT-LLM",
    model_label="model",
    requests=Counter("nv_inference_request_success", also=("nv_inference_request_failure",)),
    errors=Counter("nv_inference_request_failure"),
    latency_sum=Counter("nv_inference_request_duration_us"),
    latency_sum_scale=1e-6,
    ttft=Histogram("nv_inference_first_response_histogram_ms", FIRST_RESPONSE_BUCKETS_MS, scale=0.001,
                   le_style="go", opt_in="--metrics-config histogram_latencies=true"),
    gpu_utilization=Gauge("nv_gpu_utilization", per_model=False),
    notes="mean latency only (microsecond counters); first-response histogram in ms, opt-in, its buckets not "
          "checked on a real page; no token counters",
    semantics=Semantics(
        request="an inference request, successful or failed (nv_inference_request_success + _failure)",
        error="a failed inference request (nv_inference_request_failure)",
        errors_before_first=True,
        empty_errors="Triton creates the failure counter at 0 for every loaded model"),
    verified=("triton.txt (whole families; the opt-in first-response histogram is off)",),
)
