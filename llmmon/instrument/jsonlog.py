"""A stdlib `logging` formatter writing one JSON object per line: exactly the fields of llmmon/logrecord.py.

Fields other than timestamp, level and message come from the record's `extra=` (model, request_id, status,
latency_seconds, input_tokens, output_tokens), converted to the type the contract maps them to; trace_id and
span_id are those of the current OpenTelemetry span, when there is one. Nothing outside the contract is written.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from llmmon import logrecord

_CONVERT: dict[str, Callable[[Any], Any]] = {"keyword": str, "text": str, "float": float, "long": int}
_OPTIONAL = tuple(f for f in logrecord.WRITTEN if not f.required)


def level_name(levelno: int) -> str:
    """The contract's level of a stdlib level number (custom levels go to the next one up)."""
    for name, at in zip(logrecord.LEVELS, (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR), strict=False):
        if levelno <= at:
            return name
    return logrecord.LEVELS[-1]


def timestamp(created: float) -> str:
    """RFC 3339 in UTC with microseconds, as the Fluentd parser's time_format %iso8601 reads it."""
    return datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _current_ids() -> tuple[str, str] | None:
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


class JsonFormatter(logging.Formatter):
    """One JSON log line per record, as the generated Fluentd config parses it. `model` is written on every line
    that does not name its own."""

    def __init__(self, model: str | None = None) -> None:
        super().__init__()
        self.model = model

    def record(self, record: logging.LogRecord) -> dict[str, Any]:
        """The log record of the contract, as a dict."""
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        out: dict[str, Any] = {"timestamp": timestamp(record.created), "level": level_name(record.levelno),
                               "message": message}
        ids = _current_ids()
        current = {"trace_id": ids[0], "span_id": ids[1]} if ids else {}
        for field in _OPTIONAL:  # in the contract's order
            value = current.get(field.name, getattr(record, field.name, None))
            if value is None and field.name == "model":
                value = self.model
            if value is None:
                continue
            try:
                out[field.name] = _CONVERT[field.es_type](value)
            except (TypeError, ValueError):  # a value of the wrong type would be refused by the index mapping
                continue
        return out

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line (no newline: the handler adds it)."""
        return json.dumps(self.record(record), ensure_ascii=False, separators=(",", ":"))
