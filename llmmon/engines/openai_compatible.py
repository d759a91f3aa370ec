"""The seed contract: the platform's own `llm_*` instrumentation (label `model` on every series).

Names, labels and buckets come from llmmon/contract.py, which `llmmon.instrument` writes from too.
"""

from llmmon import contract as c
from llmmon.engines.base import Counter, Gauge, Histogram, Preset, Semantics

PRESET = Preset(
    name="openai-compatible",
    title="the seed contract (llm_* metrics)",
    model_label=c.MODEL_LABEL,
    requests=Counter(c.REQUESTS),
    ok_labels=((c.STATUS_LABEL, c.SUCCESS),),
    errors=Counter(c.REQUESTS, ((c.STATUS_LABEL, c.ERROR),)),
    latency=Histogram(c.DURATION, c.LATENCY_BUCKETS),
    ttft=Histogram(c.TTFT, c.TTFT_BUCKETS),
    input_tokens=Counter(c.TOKENS, ((c.TOKEN_TYPE_LABEL, c.INPUT),)),
    output_tokens=Counter(c.TOKENS, ((c.TOKEN_TYPE_LABEL, c.OUTPUT),)),
    gpu_utilization=Gauge(c.GPU_UTILIZATION, scale=c.GPU_SCALE),
    gauges={"running": Gauge(c.RUNNING), "waiting": Gauge(c.WAITING)},
    notes=f'errors are requests with {c.STATUS_LABEL}="{c.ERROR}"',
    semantics=Semantics(
        request="a request the platform's instrumentation finished (llm_requests_total, any status)",
        error='a request counted with status="error"',
        errors_before_first=False,
        empty_errors='the status="error" series appears on the first error (read as 0 while requests exist)'),
)
