"""The log record contract: what one JSON log line of a serving pod holds, defined once.

The serving side writes these fields (`llmmon.instrument`'s JSON formatter, or any service that follows the
table in docs/logs-and-traces.md, which `table()` writes); Fluentd parses them; the Elasticsearch index template
maps them. Each of those reads this
module, and tests prove the three agree, so a field renamed here is renamed everywhere or a test fails.

`WRITTEN` are the fields a service writes; `ADDED` are the ones the log pipeline adds on its way to
Elasticsearch (Kubernetes metadata, the cluster, the raw line when it was not JSON).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LogField:
    """One field of a log record: its JSON key, Elasticsearch mapping type and meaning."""

    name: str
    es_type: str  # an Elasticsearch field type: keyword, text, date, float, long
    required: bool  # a service must write it on every line (written fields only)
    doc: str


WRITTEN: tuple[LogField, ...] = (
    LogField("timestamp", "date", True, "when the event happened: RFC 3339 in UTC with fractional seconds"),
    LogField("level", "keyword", True, "debug, info, warning, error or critical (lower case)"),
    LogField("message", "text", True, "the human-readable event"),
    LogField("model", "keyword", False, "the spec's model name (or the engine's served name); from container "
             "logs the pipeline sets the spec's name of the pod's model"),
    LogField("request_id", "keyword", False, "the request this line belongs to"),
    LogField("trace_id", "keyword", False, "W3C trace id of the current span: 32 lower-case hex digits"),
    LogField("span_id", "keyword", False, "W3C span id of the current span: 16 lower-case hex digits"),
    LogField("status", "keyword", False, "outcome of a finished request: success, error or client_error"),
    LogField("latency_seconds", "float", False, "end-to-end duration of a finished request, seconds"),
    LogField("input_tokens", "long", False, "prompt tokens of a finished request"),
    LogField("output_tokens", "long", False, "generated tokens of a finished request"),
)

ADDED: tuple[LogField, ...] = (
    LogField("cluster_id", "keyword", False, "the spec's `cluster`, else the CLUSTER_ID environment variable"),
    LogField("namespace", "keyword", False, "Kubernetes namespace of the pod that wrote the line"),
    LogField("pod", "keyword", False, "Kubernetes pod name"),
    LogField("container", "keyword", False, "container name within the pod"),
    LogField("stream", "keyword", False, "stdout or stderr (container logs)"),
    LogField("log_path", "keyword", False, "the file the line was read from"),
    LogField("unmatched_line", "text", False, "the whole text when it was not a JSON object (kept, never dropped)"),
)

FIELDS: tuple[LogField, ...] = WRITTEN + ADDED
LEVELS: tuple[str, ...] = ("debug", "info", "warning", "error", "critical")
STATUSES: tuple[str, ...] = ("success", "error", "client_error")
TIME_KEY = "timestamp"


def table() -> str:
    """The contract as a Markdown table, for docs/logs-and-traces.md (a test keeps the two equal)."""
    rows = ["| field | written by | Elasticsearch type | required | meaning |", "|---|---|---|---|---|"]
    for who, fields in (("service", WRITTEN), ("pipeline", ADDED)):
        for f in fields:
            name = f"`{f.name}` (stored as `@timestamp`)" if f.name == TIME_KEY else f"`{f.name}`"
            rows.append(f"| {name} | {who} | {f.es_type} | {'yes' if f.required else ''} | {f.doc} |")
    return "\n".join(rows) + "\n"
