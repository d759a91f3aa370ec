"""Checks of the logging and tracing sections beyond their schema, reported by the resolver (llmmon.resolver)."""

from __future__ import annotations

from llmmon import spec as s
from llmmon.diagnostics import Severity
from llmmon.yamlpos import Path

MAX_INDEX = 255 - len("-2030.01.31")  # Elasticsearch caps index names at 255 bytes; Fluentd adds the date


def problems(spec: s.MonitoringSpec) -> list[tuple[Path, str, Severity]]:
    """(key path, message, severity) of every problem in the logging and tracing sections."""
    out: list[tuple[Path, str, Severity]] = []
    logging = spec.logging
    if logging:
        if logging.source == "files" and not logging.path:
            out.append((("logging", "path"), "is required with source: files (the glob of the JSON log files)",
                        Severity.ERROR))
        if logging.source == "containers" and logging.path:
            out.append((("logging", "path"), "applies only to source: files; source: containers reads the "
                        "serving pods' logs under /var/log/containers (remove path, or set source: files)",
                        Severity.ERROR))
        for part in (logging.path or "").split(",") if logging.path else []:
            if not part.strip().startswith("/"):
                out.append((("logging", "path"), f"{part.strip()!r} is not an absolute path: Fluentd runs on "
                            "each node and tails files by absolute path (several globs are separated by commas)",
                            Severity.ERROR))
        if logging.retention.hot.ms <= 0:
            out.append((("logging", "retention", "hot"), "must be longer than 0: logs are searchable only while hot",
                        Severity.ERROR))
        if len(logging.elasticsearch.index.encode()) > MAX_INDEX:
            out.append((("logging", "elasticsearch", "index"), f"is longer than {MAX_INDEX} bytes: with the date "
                        "Fluentd appends, the daily index name would exceed Elasticsearch's 255", Severity.ERROR))
    tracing = spec.tracing
    if tracing:
        port = int(tracing.otlp_endpoint.rsplit(":", 1)[1])
        if not 1 <= port <= 65535:
            out.append((("tracing", "otlp_endpoint"), f"port {port} is not between 1 and 65535", Severity.ERROR))
    return out
