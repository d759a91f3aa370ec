"""An OpenAI-compatible chat service with a fake model, instrumented with llmmon in a few lines.

    pip install 'llmmon[instrument]' fastapi uvicorn
    LLMMON_SPEC=specs/example.yaml uvicorn --factory examples.openai_server:create_app --port 8000
    curl -s localhost:8000/v1/chat/completions -d '{"model": "qwen2-7b", "messages": [{"role": "user",
         "content": "hello"}], "stream": true, "stream_options": {"include_usage": true}}'
    curl -s localhost:8000/metrics

The fake model answers after 0.28 s (first token at 0.26 s); a prompt containing "slow" takes 1.05 s (first
token at 0.76 s). LLMMON_FAKE='{"<model>": {"fail_every": 4}}' makes every 4th request of a model fail.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, TextIO

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from opentelemetry.trace import TracerProvider

from llmmon.instrument import JsonFormatter, LLMMetrics
from llmmon.instrument.asgi import LLMMiddleware

FAST = (0.26, 0.28)  # (first token, whole answer) in seconds
SLOW = (0.76, 1.05)
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]
OUTPUT_TOKENS = 8


@dataclass
class Fake:
    """How one fake model behaves: every `fail_every`-th request fails (0: never)."""

    fail_every: int = 0
    counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def create_app(spec: str | None = None, fakes: dict[str, dict[str, int]] | None = None,
               tracer_provider: TracerProvider | None = None, log_stream: TextIO | None = None) -> FastAPI:
    """The app: the spec from LLMMON_SPEC, fake behaviours from LLMMON_FAKE (JSON), logs as JSON lines."""
    # -- the instrumentation: a JSON logger, metrics with the spec's buckets, the middleware -----------------
    log = logging.getLogger("openai_server")
    handler = logging.StreamHandler(log_stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False
    metrics = LLMMetrics.from_spec(spec or os.environ.get("LLMMON_SPEC", "specs/example.yaml"), logger=log,
                                   tracer_provider=tracer_provider)
    app = FastAPI()
    app.add_middleware(LLMMiddleware, metrics=metrics)
    # -- the fake model ------------------------------------------------------------------------------------
    config = fakes if fakes is not None else json.loads(os.environ.get("LLMMON_FAKE", "{}"))
    behaviour = {name: Fake(**settings) for name, settings in config.items()}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        body = await request.json()
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not isinstance(messages, list):
            return JSONResponse({"error": {"message": "model and messages are required"}}, status_code=400)
        fake = behaviour.setdefault(model, Fake())
        with metrics.phase("tokenization"):
            prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            prompt_tokens = len(prompt.split())
        if fake.fail_every and next(fake.counter) % fake.fail_every == 0:
            raise RuntimeError(f"fake model {model}: injected failure")
        first, total = SLOW if "slow" in prompt else FAST
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": OUTPUT_TOKENS,
                 "total_tokens": prompt_tokens + OUTPUT_TOKENS}
        log.info("answering", extra={"model": model})
        if body.get("stream"):
            with_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(_stream(metrics, model, first, total, usage if with_usage else None),
                                     media_type="text/event-stream")
        with metrics.phase("generation"):
            await asyncio.sleep(total)
        with metrics.phase("decoding"):
            text = " ".join(WORDS[:OUTPUT_TOKENS])
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": usage}

    return app


async def _stream(metrics: LLMMetrics, model: str, first: float, total: float,
                  usage: dict[str, int] | None) -> AsyncIterator[str]:
    def event(choices: list[dict[str, Any]], **more: Any) -> str:
        chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": model, "choices": choices, **more}
        return f"data: {json.dumps(chunk)}\n\n"

    with metrics.phase("generation"):
        await asyncio.sleep(first)
        for i in range(OUTPUT_TOKENS):
            if i:
                await asyncio.sleep((total - first) / (OUTPUT_TOKENS - 1))
            yield event([{"index": 0, "delta": {"content": WORDS[i % len(WORDS)] + " "}, "finish_reason": None}])
    with metrics.phase("decoding"):
        last = event([{"index": 0, "delta": {}, "finish_reason": "stop"}])
    yield last
    if usage is not None:
        yield event([], usage=usage)
    yield "data: [DONE]\n\n"
