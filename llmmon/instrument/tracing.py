"""Spans of an inference as the design names them, with OpenTelemetry GenAI attributes; a no-op without the API.

One `llm_inference` span per request with `tokenization`, `generation` and `decoding` children. No sampler is
chosen here: the service's TracerProvider (or the collector llmmon generates) decides what is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

SPAN = "llm_inference"
PHASES: tuple[str, ...] = ("tokenization", "generation", "decoding")
# OpenTelemetry semantic conventions for generative AI (gen_ai.*)
MODEL = "gen_ai.request.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
FINISH_REASONS = "gen_ai.response.finish_reasons"
OPERATION = "gen_ai.operation.name"


def tracer(provider: TracerProvider | None = None) -> Tracer | None:
    """The tracer of `provider` (else the global one), or None when the OpenTelemetry API is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    from llmmon import __version__

    if provider is not None:
        return provider.get_tracer("llmmon.instrument", __version__)
    return trace.get_tracer("llmmon.instrument", __version__)


def start(t: Tracer, model: str, operation: str, start_ns: int | None) -> Span:
    """A new `llm_inference` span (a child of the current span, if any), not yet current."""
    return t.start_span(SPAN, attributes={MODEL: model, OPERATION: operation}, start_time=start_ns)


@contextlib.contextmanager
def phase(t: Tracer | None, parent: Span | None, name: str) -> Iterator[Span | None]:
    """A child span of `parent`, current while the block runs; nothing without a tracer."""
    if t is None or parent is None:
        yield None
        return
    from opentelemetry import trace

    with t.start_as_current_span(name, context=trace.set_span_in_context(parent)) as span:
        yield span


def child(t: Tracer, parent: Span, name: str) -> Span:
    """A child span of `parent` started now and ended by the caller (a stream's `generation`)."""
    from opentelemetry import trace

    return t.start_span(name, context=trace.set_span_in_context(parent))


def attach(span: Span) -> object:
    """Make `span` current; the token to give to `detach`."""
    from opentelemetry import context, trace

    return context.attach(trace.set_span_in_context(span))


def detach(token: object) -> None:
    """Undo `attach`."""
    from opentelemetry import context

    context.detach(token)  # type: ignore[arg-type]


def end(span: Span, input_tokens: int, output_tokens: int, reasons: Sequence[str],
        error: BaseException | None, failed: bool) -> None:
    """Usage and outcome on the span, then end it: error status (and the exception) when the request failed."""
    from opentelemetry.trace import Status, StatusCode

    attributes: dict[str, Any] = {INPUT_TOKENS: input_tokens, OUTPUT_TOKENS: output_tokens}
    if reasons:
        attributes[FINISH_REASONS] = tuple(reasons)
    span.set_attributes(attributes)
    if failed:
        if error is not None:
            span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}" if error else "request failed"))
    span.end()
