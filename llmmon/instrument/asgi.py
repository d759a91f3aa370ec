"""ASGI middleware for OpenAI-compatible routes (FastAPI, Starlette or any ASGI app): one request of the contract
per call, and the registry served on /metrics.

The model comes from the request body's `model`; token usage from the response's `usage` (in a stream, the chunk
`stream_options: {include_usage: true}` adds; without it each content chunk counts as one output token); TTFT at the
first streamed content chunk. 5xx responses and exceptions are errors, 4xx client errors, a stream the caller
dropped before its end a cancellation. Other paths pass through untouched.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, MutableMapping
from typing import Any

from prometheus_client import exposition, generate_latest

from llmmon import contract as c
from llmmon.instrument import tracing
from llmmon.instrument.metrics import CANCELLED, LLMMetrics, Request, outcome

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ROUTES: tuple[str, ...] = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")
OPERATIONS = {"/v1/completions": "text_completion", "/v1/embeddings": "embeddings"}  # gen_ai.operation.name
UNKNOWN = "unknown"  # the model label of a request that names no model (or one outside `models`)
# generate_latest writes the classic text format; newer clients name it apart from CONTENT_TYPE_LATEST
CONTENT_TYPE: str = getattr(exposition, "CONTENT_TYPE_PLAIN_0_0_4", exposition.CONTENT_TYPE_LATEST)
MAX_BODY = 4 << 20  # bytes of a non-streamed response kept to read its usage


def _json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


class _Response:
    """Watches what the app sends: status, and usage, first token and finish reasons in the body."""

    def __init__(self, req: Request, send: Send) -> None:
        self.req, self._send = req, send
        self.status = 0
        self.sse = False
        self.complete = False
        self._pending = b""
        self._body = bytearray()
        self._usage = False
        self._chunks = 0

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            headers = {k.lower(): v for k, v in message.get("headers", [])}
            self.sse = headers.get(b"content-type", b"").startswith(b"text/event-stream")
        elif kind == "http.response.body":
            data = bytes(message.get("body", b""))
            if self.sse:
                self._feed(data)
            elif len(self._body) + len(data) <= MAX_BODY:
                self._body += data
            if not message.get("more_body", False):
                self.complete = True
                self._done()
        await self._send(message)

    def _feed(self, data: bytes) -> None:
        self._pending += data
        *events, self._pending = self._pending.replace(b"\r\n", b"\n").split(b"\n\n")
        for event in events:
            for line in event.split(b"\n"):
                if line.startswith(b"data:") and (payload := line[5:].strip()) != b"[DONE]":
                    self._chunk(_json(payload))

    def _chunk(self, chunk: Any) -> None:
        if not isinstance(chunk, dict):
            return
        self._read_usage(chunk)
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            delta = choice.get("delta")
            text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
            if text:
                self.req.first_token()
                self._chunks += 1
            if choice.get("finish_reason"):
                self.req.finish_reason(str(choice["finish_reason"]))

    def _read_usage(self, doc: dict[str, Any]) -> None:
        usage = doc.get("usage")
        if isinstance(usage, dict):
            self._usage = True
            self.req.input_tokens = int(usage.get("prompt_tokens") or 0)
            self.req.output_tokens = int(usage.get("completion_tokens") or 0)

    def settle(self) -> None:
        """A stream that sent no usage (or was cut before it): one output token per content chunk seen."""
        if self.sse and not self._usage:
            self.req.output_tokens = self._chunks

    def _done(self) -> None:
        if self.sse:
            return
        doc = _json(bytes(self._body))
        if isinstance(doc, dict):
            self._read_usage(doc)
            for choice in doc.get("choices") or ():
                if isinstance(choice, dict) and choice.get("finish_reason"):
                    self.req.finish_reason(str(choice["finish_reason"]))

    def outcome(self) -> str:
        """The status of a call that returned without raising."""
        if self.status >= 500:
            return c.ERROR
        if self.status >= 400:
            return c.CLIENT_ERROR
        return c.SUCCESS if self.complete else CANCELLED


class LLMMiddleware:
    """Wrap an ASGI app: `app = LLMMiddleware(app, metrics)` (FastAPI: `app.add_middleware(LLMMiddleware,
    metrics=metrics)`). `models`, when given, bounds the label values: other names are recorded as "unknown"."""

    def __init__(self, app: App, metrics: LLMMetrics, *, routes: Collection[str] = ROUTES,
                 metrics_path: str | None = "/metrics", models: Collection[str] | None = None) -> None:
        self.app, self.metrics = app, metrics
        self.routes = frozenset(routes)
        self.metrics_path = metrics_path
        self.models = None if models is None else frozenset(models)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == self.metrics_path and scope["method"] in ("GET", "HEAD"):
            await self._metrics_page(send)
        elif scope["path"] in self.routes and scope["method"] == "POST":
            await self._call(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _metrics_page(self, send: Send) -> None:
        body = generate_latest(self.metrics.registry)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", CONTENT_TYPE.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _model(self, body: bytes) -> str:
        doc = _json(body)
        name = doc.get("model") if isinstance(doc, dict) else None
        if not isinstance(name, str) or not name or (self.models is not None and name not in self.models):
            return UNKNOWN
        return name

    async def _call(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages: list[Message] = []
        body = bytearray()
        while True:  # the whole request body first: the model names the series
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        request_id = headers.get(b"x-request-id")
        req = self.metrics.request(self._model(bytes(body)),
                                   request_id.decode("latin-1") if request_id is not None else None,
                                   OPERATIONS.get(scope["path"], "chat"))
        response = _Response(req, send)
        req.begin()
        token = tracing.attach(req.span) if req.span is not None else None  # the app's spans and logs join it
        try:
            await self.app(scope, replay, response.send)
        except BaseException as exc:
            response.settle()
            req.finish(outcome(type(exc)), exc)
            raise
        else:
            response.settle()
            req.finish(response.outcome())
        finally:
            if token is not None:
                tracing.detach(token)
