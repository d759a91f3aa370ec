"""The serving side of llmmon's contract: metrics, spans and JSON log lines the generated configs read.

    from llmmon.instrument import LLMMetrics
    metrics = LLMMetrics.from_spec("llmmon.yaml")
    with metrics.request("llama-3-70b") as req:
        req.tokens(input=12, output=40)

Needs prometheus-client (a dependency of llmmon); OpenTelemetry API and nvidia-ml-py are optional
(`pip install 'llmmon[instrument]'`). The CLI never imports this package.
"""

from llmmon.instrument.buckets import Buckets, SpecProblem
from llmmon.instrument.jsonlog import JsonFormatter
from llmmon.instrument.metrics import ClientError, LLMMetrics, Request

__all__ = ["Buckets", "ClientError", "JsonFormatter", "LLMMetrics", "Request", "SpecProblem"]
