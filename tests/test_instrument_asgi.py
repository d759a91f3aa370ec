"""The ASGI middleware on the example app (in process, through httpx's ASGI transport), its spans in an in-memory
exporter and its JSON log lines; and the CLI's cold start, which must not pay for any of it."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client.parser import text_string_to_metric_families

from examples.openai_server import OUTPUT_TOKENS, create_app
from helpers import EXAMPLE
from llmmon import contract, logrecord
from llmmon.instrument import tracing

MODEL = "qwen2-7b"  # the example spec's openai-compatible model
Call = tuple[str, str, dict[str, Any] | None]  # method, path, JSON body


class Harness:
    """The example app with spans kept in memory and log lines in a buffer."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.logs = io.StringIO()
        self.app = create_app(str(EXAMPLE), {MODEL: {"fail_every": 3}}, provider, self.logs)

    def run(self, *calls: Call) -> list[httpx.Response]:
        async def go() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return [await client.request(method, path, json=body) for method, path, body in calls]
        return asyncio.run(go())

    def metric(self, name: str, **labels: str) -> float:
        [page] = self.run(("GET", "/metrics", None))
        for family in text_string_to_metric_families(page.text):
            for s in family.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    return float(s.value)
        return 0.0

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines()]


def chat(stream: bool = False, usage: bool = False, prompt: str = "hello there world") -> Call:
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    if usage:
        body["stream_options"] = {"include_usage": True}
    return ("POST", "/v1/chat/completions", body)


@pytest.fixture
def harness() -> Iterator[Harness]:
    yield Harness()


def test_a_streamed_request_with_include_usage_takes_its_tokens_from_the_usage_chunk(harness: Harness) -> None:
    [r] = harness.run(chat(stream=True, usage=True))
    assert r.status_code == 200 and r.text.endswith("data: [DONE]\n\n")
    assert harness.metric(contract.REQUESTS, model=MODEL, status="success") == 1
    assert harness.metric(contract.TOKENS, model=MODEL, type="input") == 3
    assert harness.metric(contract.TOKENS, model=MODEL, type="output") == OUTPUT_TOKENS
    assert harness.metric(contract.TTFT + "_count", model=MODEL) == 1
    assert harness.metric(contract.DURATION + "_count", model=MODEL) == 1


def test_a_stream_without_usage_counts_its_content_chunks_and_a_plain_answer_its_usage(harness: Harness) -> None:
    harness.run(chat(stream=True), chat(prompt="one two three four five"))
    assert harness.metric(contract.TOKENS, model=MODEL, type="output") == 2 * OUTPUT_TOKENS
    assert harness.metric(contract.TOKENS, model=MODEL, type="input") == 5  # the stream sent no usage
    assert harness.metric(contract.TTFT + "_count", model=MODEL) == 1  # only streams have a first token


def test_5xx_are_errors_4xx_client_errors_and_other_paths_are_not_requests(harness: Harness) -> None:
    ok, bad, ok2, failed = harness.run(chat(), ("POST", "/v1/chat/completions", {"model": MODEL}), chat(), chat())
    assert (ok.status_code, bad.status_code, ok2.status_code, failed.status_code) == (200, 400, 200, 500)
    harness.run(("GET", "/health", None), ("GET", "/docs", None))
    statuses = {s: harness.metric(contract.REQUESTS, model=MODEL, status=s) for s in contract.STATUSES}
    assert statuses == {"success": 2, "error": 1, "client_error": 1}


def test_a_request_naming_no_model_is_counted_as_unknown(harness: Harness) -> None:
    harness.run(("POST", "/v1/chat/completions", {"messages": []}))
    assert harness.metric(contract.REQUESTS, model="unknown", status="client_error") == 1


def _tree(spans: tuple[ReadableSpan, ...]) -> dict[int, tuple[ReadableSpan, list[str]]]:
    roots = {s.context.span_id: (s, []) for s in spans if s.name == tracing.SPAN}
    for s in spans:
        if s.parent is not None and s.parent.span_id in roots:
            roots[s.parent.span_id][1].append(s.name)
    return roots


def test_spans_follow_the_design_and_the_genai_conventions(harness: Harness) -> None:
    harness.run(chat(stream=True, usage=True), chat(), chat())  # the third fails (fail_every: 3)
    roots = list(_tree(harness.spans.get_finished_spans()).values())
    assert len(roots) == 3
    for span, children in roots[:2]:
        assert sorted(children) == sorted(tracing.PHASES)
        attributes = dict(span.attributes or {})
        assert attributes[tracing.MODEL] == MODEL
        assert attributes[tracing.INPUT_TOKENS] == 3 and attributes[tracing.OUTPUT_TOKENS] == OUTPUT_TOKENS
        assert attributes[tracing.FINISH_REASONS] == ("stop",)
        assert span.status.status_code == StatusCode.UNSET
    failed, children = roots[2]
    assert children == ["tokenization"]
    assert failed.status.status_code == StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in failed.events if e.attributes] == ["RuntimeError"]


def test_log_lines_carry_the_contract_fields_and_their_request_s_trace(harness: Harness) -> None:
    harness.run(chat(stream=True, usage=True), chat(), chat())
    roots = [s for s in harness.spans.get_finished_spans() if s.name == tracing.SPAN]
    traces = {f"{s.context.trace_id:032x}" for s in roots}
    finished = [line for line in harness.log_lines() if line["message"] == "request finished"]
    assert [line["status"] for line in finished] == ["success", "success", "error"]
    written = {f.name for f in logrecord.WRITTEN}
    for line in harness.log_lines():
        assert set(line) <= written and {f.name for f in logrecord.WRITTEN if f.required} <= set(line)
        assert line["trace_id"] in traces  # the app's own lines too: the middleware's span is current
    assert finished[0]["input_tokens"] == 3 and finished[0]["output_tokens"] == OUTPUT_TOKENS


def test_tracing_is_a_no_op_without_the_opentelemetry_api() -> None:
    code = """
import sys
sys.modules["opentelemetry"] = None  # what an environment without the package looks like to `import`
from llmmon.instrument import LLMMetrics
m = LLMMetrics()
assert m.tracer is None
with m.request("m") as req, m.phase("generation"), req.phase("decoding"):
    req.tokens(output=2)
assert list(m.stream("m", [1, 2])) == [1, 2]
print(m.registry.get_sample_value("llm_requests_total", {"model": "m", "status": "success"}))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "2.0"


def test_the_cli_starts_without_prometheus_client_or_opentelemetry() -> None:
    code = """
import sys
import llmmon.cli
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("prometheus_client", "opentelemetry", "pynvml")
               or m.startswith("llmmon.instrument"))
print(" ".join(heavy))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def _asgi(app: Any, body: dict[str, Any], path: str = "/v1/chat/completions") -> list[dict[str, Any]]:
    """Call an ASGI app once with a JSON body delivered in two pieces; the messages it sent."""
    data = json.dumps(body).encode()
    incoming = [{"type": "http.request", "body": data[:5], "more_body": True},
                {"type": "http.request", "body": data[5:], "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": path, "headers": [(b"x-request-id", b"r-1")]}
    asyncio.run(app(scope, receive, send))
    return sent


def _sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def test_a_stream_the_caller_dropped_is_cancelled_and_events_split_across_writes_are_read() -> None:
    from llmmon.instrument import LLMMetrics
    from llmmon.instrument.asgi import LLMMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = json.loads((await receive())["body"] + (await receive())["body"])
        assert body["model"] == "m"  # the middleware replays what it read
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8")]})
        page = _sse({"choices": [{"delta": {"content": "a"}}]}, {"choices": [{"delta": {"content": "b"}}]})
        await send({"type": "http.response.body", "body": page[:20], "more_body": True})
        await send({"type": "http.response.body", "body": page[20:], "more_body": True})
        # the caller went away: Starlette stops the stream and returns without a last body message

    m = LLMMetrics(tracing_enabled=False)
    _asgi(LLMMiddleware(app, m), {"model": "m", "stream": True})
    value = m.registry.get_sample_value
    assert value(contract.REQUESTS, {"model": "m", "status": "client_error"}) == 1
    assert value(contract.REQUESTS, {"model": "m", "status": "error"}) == 0
    assert value(contract.TTFT + "_count", {"model": "m"}) == 1
    assert value(contract.TOKENS, {"model": "m", "type": "output"}) == 2
    assert value(contract.DURATION + "_count", {"model": "m"}) == 0


def test_an_exception_in_the_app_is_an_error_and_reaches_the_server_unchanged() -> None:
    from llmmon.instrument import LLMMetrics
    from llmmon.instrument.asgi import LLMMiddleware

    boom = MemoryError("KV cache")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise boom

    m = LLMMetrics(tracing_enabled=False)
    with pytest.raises(MemoryError) as caught:
        _asgi(LLMMiddleware(app, m, models={"m"}), {"model": "other"}, "/v1/embeddings")
    assert caught.value is boom
    assert m.registry.get_sample_value(contract.REQUESTS, {"model": "unknown", "status": "error"}) == 1


def test_the_metrics_page_is_the_registry_in_the_text_format() -> None:
    from llmmon.instrument import LLMMetrics
    from llmmon.instrument.asgi import LLMMiddleware

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("/metrics is answered by the middleware")

    m = LLMMetrics(tracing_enabled=False)
    with m.request("m"):
        pass
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    asyncio.run(LLMMiddleware(app, m)({"type": "http", "method": "GET", "path": "/metrics"}, receive, send))
    start, body = sent
    assert start["status"] == 200 and dict(start["headers"])[b"content-type"].startswith(b"text/plain; version=0.0.4")
    assert b'llm_requests_total{model="m",status="success"} 1.0' in body["body"]
