"""Hugging Face Text Generation Inference: `tgi_` series without a model label, selected by pod.

TGI's router records durations in exponential buckets (× 1.5 from 150 µs), so a latency SLO threshold
must be one of those bounds: 1.683s, 2.525s, ... TGI has no time-to-first-token histogram.
Validation errors are the client's fault and are not counted as server errors.
"""

from llmmon.engines.base import Counter, Gauge, Histogram, Preset, Semantics


def _router_buckets() -> tuple[float, ...]:
    value, out = 0.0001, []
    for _ in range(35):
        value *= 1.5
        out.append(value)
    return tuple(out)


PRESET = Preset(
    name="tgi",
    title="Hugging Face TGI",
    model_label=None,
    requests=Counter("tgi_request_count"),
    errors=Counter("tgi_request_failure", select=(("err", "!=", "validation"),), synth=(("err", "generation"),)),
    latency=Histogram("tgi_request_duration", _router_buckets(), le_style="repr"),
    input_tokens=Counter("tgi_request_input_length_sum"),
    output_tokens=Counter("tgi_request_generated_tokens_sum"),
    gauges={"running": Gauge("tgi_batch_current_size"), "waiting": Gauge("tgi_queue_size")},
    notes="no model label (selected by namespace and pod regex); no TTFT histogram",
    semantics=Semantics(
        request="a request the router received (tgi_request_count)",
        error='a failed request (tgi_request_failure) except err="validation", the client\'s fault',
        errors_before_first=False,
        empty_errors="the failure counter appears on the first failure of each `err`: absent (or only "
                     "err=\"validation\") means no server error yet (read as 0 while requests exist)"),
    itl=Histogram("tgi_request_mean_time_per_token_duration", _router_buckets(), le_style="repr"),
    phases=(("queue", "tgi_request_queue_duration"), ("inference", "tgi_request_inference_duration")),
    lengths=(("prompt", "tgi_request_input_length"), ("generation", "tgi_request_generated_tokens")),
    # a TGI 3.x router page: every family the preset reads, and a failure counter with only err="validation"
    verified=("tgi-3.txt (whole families of a TGI 3.x router page; failures only err=\"validation\")",),
)
