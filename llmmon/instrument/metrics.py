"""`LLMMetrics`: the seed contract's metrics written with prometheus_client, per request and per stream.

Names and labels come from llmmon/contract.py, the module the `openai-compatible` preset reads. prometheus_client
metrics are thread-safe; each request keeps its own state, so one `LLMMetrics` serves threads and event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from llmmon import contract as c
from llmmon.instrument import buckets, tracing

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

T = TypeVar("T")
CANCELLED = "cancelled"  # not a label value: a cancelled request is counted as a client error, without latency


class ClientError(Exception):
    """Raise (or subclass) for a request that failed by the caller's fault: counted as `client_error`, which
    spends no error budget. It is re-raised unchanged."""


def outcome(kind: type[BaseException] | None) -> str:
    """The status of a request that ended with an exception of `kind` (None: it did not raise)."""
    if kind is None:
        return c.SUCCESS
    if issubclass(kind, (GeneratorExit, asyncio.CancelledError)):
        return CANCELLED
    return c.CLIENT_ERROR if issubclass(kind, ClientError) else c.ERROR


@dataclass(frozen=True)
class _Series:
    """The children of one model's series, looked up once (labels() costs more than the update itself)."""

    ok: Any
    error: Any
    client_error: Any
    duration: Any
    ttft: Any
    tokens_per_second: Any
    input_tokens: Any
    output_tokens: Any
    running: Any
    waiting: Any


class LLMMetrics:
    """The metrics of one serving process. Serve `registry` on /metrics (or use the ASGI middleware)."""

    def __init__(self, *, latency_buckets: Sequence[float] = c.LATENCY_BUCKETS,
                 ttft_buckets: Sequence[float] = c.TTFT_BUCKETS,
                 tokens_per_second_buckets: Sequence[float] = c.TOKENS_PER_SECOND_BUCKETS,
                 registry: CollectorRegistry | None = None, tracing_enabled: bool = True,
                 tracer_provider: TracerProvider | None = None, logger: logging.Logger | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.latency_buckets = tuple(float(b) for b in latency_buckets)
        self.ttft_buckets = tuple(float(b) for b in ttft_buckets)
        model, r = [c.MODEL_LABEL], self.registry
        self._requests = Counter(c.REQUESTS, "Finished requests by outcome.", [c.MODEL_LABEL, c.STATUS_LABEL],
                                 registry=r)
        self._duration = Histogram(c.DURATION, "End-to-end request latency in seconds.", model,
                                   buckets=self.latency_buckets, registry=r)
        self._ttft = Histogram(c.TTFT, "Time to the first streamed token in seconds.", model,
                               buckets=self.ttft_buckets, registry=r)
        self._tps = Histogram(c.TOKENS_PER_SECOND, "Output tokens per second of a finished stream, after its first.",
                              model, buckets=tuple(tokens_per_second_buckets), registry=r)
        self._tokens = Counter(c.TOKENS, "Tokens processed.", [c.MODEL_LABEL, c.TOKEN_TYPE_LABEL], registry=r)
        self._running = Gauge(c.RUNNING, "Requests being served now.", model, registry=r)
        self._waiting = Gauge(c.WAITING, "Requests queued, not yet started.", model, registry=r)
        self._series: dict[str, _Series] = {}
        self.tracer: Tracer | None = tracing.tracer(tracer_provider) if tracing_enabled else None
        self.logger = logger
        self._gpus: set[str] = set()

    @classmethod
    def from_spec(cls, path: str | Path, **options: Any) -> LLMMetrics:
        """Metrics whose bucket bounds contain every latency and TTFT threshold of a spec file (SpecProblem
        when the spec does not validate)."""
        b = buckets.from_spec(path)
        metrics = cls(latency_buckets=b.latency, ttft_buckets=b.ttft, **options)
        for model in b.models:  # every series exists from the first scrape: rate() then counts all traffic
            metrics.series(model)
        return metrics

    def series(self, model: str) -> _Series:
        """The label children of a model (created on first use; creation races are harmless)."""
        found = self._series.get(model)
        if found is None:
            found = _Series(
                ok=self._requests.labels(model, c.SUCCESS), error=self._requests.labels(model, c.ERROR),
                client_error=self._requests.labels(model, c.CLIENT_ERROR), duration=self._duration.labels(model),
                ttft=self._ttft.labels(model), tokens_per_second=self._tps.labels(model),
                input_tokens=self._tokens.labels(model, c.INPUT), output_tokens=self._tokens.labels(model, c.OUTPUT),
                running=self._running.labels(model), waiting=self._waiting.labels(model))
            self._series[model] = found
        return found

    def request(self, model: str, request_id: str | None = None, operation: str = "chat") -> Request:
        """A request as a context manager (`with` or `async with`): success, or error when the block raises.
        `operation` is the span's gen_ai.operation.name (chat, text_completion, embeddings)."""
        return Request(self, model, request_id, operation)

    @overload
    def stream(self, model: str, iterable: AsyncIterable[T], *, count: Callable[[T], int] | None = None,
               request_id: str | None = None, input_tokens: int = 0) -> AsyncIterator[T]: ...

    @overload
    def stream(self, model: str, iterable: Iterable[T], *, count: Callable[[T], int] | None = None,
               request_id: str | None = None, input_tokens: int = 0) -> Iterator[T]: ...

    def stream(self, model: str, iterable: Iterable[T] | AsyncIterable[T], *,
               count: Callable[[T], int] | None = None, request_id: str | None = None,
               input_tokens: int = 0) -> Iterator[T] | AsyncIterator[T]:
        """A streamed request: the timer starts now, TTFT at the first item, tokens/s at the end. Each item is one
        output token unless `count(item)` says otherwise. Closing the stream early is a cancellation, not an error."""
        req = Request(self, model, request_id)
        req.input_tokens = input_tokens
        if isinstance(iterable, AsyncIterable):
            return req.astream(iterable, count)
        return req.stream(iterable, count)

    def phase(self, name: str) -> Any:
        """A child span of the current span (`tokenization`, `generation`, `decoding`) around a block: inside the
        ASGI middleware, the current span is the request's `llm_inference`. A no-op without tracing."""
        if self.tracer is None:
            return contextlib.nullcontext()
        return self.tracer.start_as_current_span(name)

    def queued(self, model: str) -> Queued:
        """A context manager counting the block as waiting (llm_requests_waiting)."""
        return Queued(self.series(model).waiting)

    def track_gpus(self, model: str) -> bool:
        """Export llm_gpu_utilization_percent{model, gpu_id} of this host's GPUs, read from NVML at each scrape.
        Without nvidia-ml-py, NVML or GPUs: one log line, no series, False."""
        from llmmon.instrument import gpu

        if model in self._gpus:
            return True
        found = gpu.register(self.registry, model)
        if found:
            self._gpus.add(model)
        return found


class Queued:
    """Counts a block as waiting."""

    __slots__ = ("_gauge",)

    def __init__(self, gauge: Any) -> None:
        self._gauge = gauge

    def __enter__(self) -> None:
        self._gauge.inc()

    def __exit__(self, *_: object) -> None:
        self._gauge.dec()

    async def __aenter__(self) -> None:
        self._gauge.inc()

    async def __aexit__(self, *_: object) -> None:
        self._gauge.dec()


class Request:
    """One request being served: feed it tokens and the first token's arrival; it records itself once at the end."""

    def __init__(self, metrics: LLMMetrics, model: str, request_id: str | None = None,
                 operation: str = "chat") -> None:
        self.model = model
        self.operation = operation
        self.request_id = request_id
        self.input_tokens = 0
        self.output_tokens = 0
        self.finish_reasons: list[str] = []
        self.status: str | None = None  # set by client_error(); else decided at the end
        self._metrics = metrics
        self._s = metrics.series(model)
        self._start = time.perf_counter()
        self._start_ns = time.time_ns()
        self._first: float | None = None
        self._began = self._done = False
        self._span: Span | None = None
        self._generation: Span | None = None
        self._token: object | None = None

    # -- what the serving code reports --------------------------------------------------------------
    def tokens(self, input: int = 0, output: int = 0) -> None:
        """Add prompt (input) and generated (output) tokens."""
        self.input_tokens += input
        self.output_tokens += output

    def first_token(self) -> None:
        """The first token reached the caller: records TTFT (once)."""
        if self._first is None:
            self._first = time.perf_counter()
            self._s.ttft.observe(self._first - self._start)

    def finish_reason(self, *reasons: str) -> None:
        """Why generation stopped (stop, length, ...), for the span."""
        self.finish_reasons.extend(reasons)

    def client_error(self) -> None:
        """The caller's fault (a bad prompt, a 4xx): counted as client_error, no error budget spent."""
        self.status = c.CLIENT_ERROR

    def phase(self, name: str) -> Any:
        """A child span (`tokenization`, `generation`, `decoding`) around a block; a no-op without tracing."""
        return tracing.phase(self._metrics.tracer, self._span, name)

    @property
    def span(self) -> Span | None:
        """The `llm_inference` span, when tracing is on."""
        return self._span

    # -- lifecycle ----------------------------------------------------------------------------------
    def begin(self) -> None:
        """Count the request as running and open its span (start time: when the Request was created)."""
        if self._began:
            return
        self._began = True
        self._s.running.inc()
        if self._metrics.tracer is not None:
            self._span = tracing.start(self._metrics.tracer, self.model, self.operation, self._start_ns)

    def finish(self, status: str, error: BaseException | None = None) -> None:
        """Record the request once: count by status, latency (not for cancellations), tokens, tokens/s, span, log."""
        if self._done:
            return
        self._done = True
        end = time.perf_counter()
        s = self._s
        if self._began:
            s.running.dec()
        if status == c.SUCCESS and self.status is not None:
            status = self.status
        label = c.CLIENT_ERROR if status == CANCELLED else status
        (s.ok if label == c.SUCCESS else s.error if label == c.ERROR else s.client_error).inc()
        if status != CANCELLED:  # a truncated duration would flatter the latency SLO
            s.duration.observe(end - self._start)
        if self.input_tokens:
            s.input_tokens.inc(self.input_tokens)
        if self.output_tokens:
            s.output_tokens.inc(self.output_tokens)
            if status == c.SUCCESS and self._first is not None and self.output_tokens > 1 and end > self._first:
                s.tokens_per_second.observe((self.output_tokens - 1) / (end - self._first))
        if self._span is not None:
            if self._generation is not None:
                self._generation.end()
            if self._metrics.logger is not None and self._token is None:
                token = tracing.attach(self._span)  # the log line carries this request's trace and span ids
                try:
                    self._log(label, end)
                finally:
                    tracing.detach(token)
            elif self._metrics.logger is not None:
                self._log(label, end)
            tracing.end(self._span, self.input_tokens, self.output_tokens, self.finish_reasons, error,
                        failed=label == c.ERROR)
        elif self._metrics.logger is not None:
            self._log(label, end)

    def _log(self, status: str, end: float) -> None:
        assert self._metrics.logger is not None
        extra = {"model": self.model, "status": status, "latency_seconds": end - self._start,
                 "input_tokens": self.input_tokens, "output_tokens": self.output_tokens}
        if self.request_id is not None:
            extra["request_id"] = self.request_id
        self._metrics.logger.log(logging.ERROR if status == c.ERROR else logging.INFO, "request finished",
                                 extra=extra)

    def __enter__(self) -> Request:
        self.begin()
        if self._span is not None:
            self._token = tracing.attach(self._span)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        try:
            self.finish(outcome(kind), error)
        finally:
            if self._token is not None:
                tracing.detach(self._token)
                self._token = None
        # returns None: the exception, if any, propagates unchanged

    async def __aenter__(self) -> Request:
        return self.__enter__()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        self.__exit__(kind, error, trace)

    # -- streams ------------------------------------------------------------------------------------
    def _stream_started(self) -> None:
        self.begin()
        if self._span is not None and self._metrics.tracer is not None:
            self._generation = tracing.child(self._metrics.tracer, self._span, "generation")

    def stream(self, iterable: Iterable[T], count: Callable[[T], int] | None = None) -> Iterator[T]:
        """Yield the items of `iterable`, recording this request around them (see LLMMetrics.stream)."""
        self._stream_started()
        n = 0
        try:
            for item in iterable:
                if self._first is None:
                    self.first_token()
                n += 1 if count is None else count(item)
                yield item
        except BaseException as exc:
            self.output_tokens += n
            self.finish(outcome(type(exc)), exc)
            raise
        self.output_tokens += n
        self.finish(c.SUCCESS)

    async def astream(self, iterable: AsyncIterable[T], count: Callable[[T], int] | None = None) -> AsyncIterator[T]:
        """The async twin of `stream`; a cancelled task or aclose() is a cancellation, not an error."""
        self._stream_started()
        n = 0
        try:
            async for item in iterable:
                if self._first is None:
                    self.first_token()
                n += 1 if count is None else count(item)
                yield item
        except BaseException as exc:
            self.output_tokens += n
            self.finish(outcome(type(exc)), exc)
            raise
        self.output_tokens += n
        self.finish(c.SUCCESS)
