"""Alerts on the log and trace pipeline itself, in the warning tier, with their promtool tests.

Logs (fluent-plugin-prometheus' output monitor on the Fluentd DaemonSet, plugin_id = the Elasticsearch output's
@id): retries that go on (Elasticsearch refuses or is unreachable) and a buffer queue that never drains (shipping
has stalled; the tail blocks once the buffer is full, so logs wait on the nodes). Traces (the collector's own
metrics, job = its Service): spans the receiver refuses (memory_limiter), spans the exporter fails to send or
cannot queue, and traces tail sampling evicts before deciding. Collector counters carry `_total` in Prometheus
since the collector's telemetry moved to the OpenTelemetry SDK; the selectors accept both spellings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmmon.emit import otel_kube
from llmmon.emit.prom_test_load import FIRING_HORIZON_MS
from llmmon.model import Plan
from llmmon.promql import SPEC_LABEL, eq, quote, selector
from llmmon.units import Duration

TIER = "warning"
RATE_WINDOW = "5m"
STALL_WINDOW = "10m"


@dataclass(frozen=True)
class PipelineAlert:
    """One alert: its name, what it watches, its expression and what it tells the reader."""

    name: str
    signal: str  # logs or traces
    expr: str
    summary: str
    description: str
    metric: str  # the series the promtool test feeds (collector counters in their `_total` spelling)
    by: tuple[str, ...]  # labels the expression keeps besides namespace and pod


def _counter(name: str, matchers: str) -> str:
    """A collector counter under either Prometheus name (with and without `_total`)."""
    return f'{{__name__=~{quote(f"{name}(_total)?")}, {matchers}}}'


def alerts(plan: Plan) -> list[PipelineAlert]:
    """The pipeline alerts of a plan: logs when it ships logs, traces when it runs a collector."""
    out: list[PipelineAlert] = []
    if plan.spec.logging is not None:
        es = selector("", eq("plugin_id", f"{plan.name}-elasticsearch"))
        retry = f"fluentd_output_status_retry_count{es}"
        queue = f"fluentd_output_status_buffer_queue_length{es}"
        out += [
            PipelineAlert("LlmmonLogShippingRetrying", "logs",
                          f"sum by (namespace, pod) (increase({retry}[{RATE_WINDOW}])) > 0",
                          "Fluentd keeps retrying its writes to Elasticsearch",
                          "Fluentd {{ $labels.pod }} has retried writes to Elasticsearch in every "
                          f"{RATE_WINDOW} window: Elasticsearch refuses them or cannot be reached. Chunks wait "
                          "on the node's disk; they go to the failed folder once retry_timeout runs out.",
                          "fluentd_output_status_retry_count", ()),
            PipelineAlert("LlmmonLogShippingStalled", "logs",
                          f"min by (namespace, pod) (min_over_time({queue}[{STALL_WINDOW}])) > 0",
                          "Fluentd's buffer queue has not drained for 10 minutes",
                          "Fluentd {{ $labels.pod }} has held {{ $value }} or more queued chunks for "
                          f"{STALL_WINDOW}: log shipping has stalled, and the tail blocks when the buffer is full.",
                          "fluentd_output_status_buffer_queue_length", ()),
        ]
    if plan.spec.tracing is not None:
        job = f'namespace={quote(plan.namespace)}, job={quote(otel_kube.name(plan))}'
        for name, metric, by, summary, description in (
            ("LlmmonTraceSpansRefused", "otelcol_receiver_refused_spans", ("receiver",),
             "The collector refuses spans",
             "The collector's {{ $labels.receiver }} receiver refuses {{ $value | humanize }} spans/s, most often "
             "because memory_limiter is over its limit; senders retry, then drop them."),
            ("LlmmonTraceExportFailing", "otelcol_exporter_send_failed_spans", ("exporter",),
             "The collector fails to export spans",
             "The collector's {{ $labels.exporter }} exporter fails to send {{ $value | humanize }} spans/s to the "
             "trace backend; they are lost once retry_on_failure gives up."),
            ("LlmmonTraceSpansDropped", "otelcol_exporter_enqueue_failed_spans", ("exporter",),
             "The collector drops spans its export queue cannot hold",
             "The sending queue of the {{ $labels.exporter }} exporter is full: {{ $value | humanize }} spans/s "
             "are dropped."),
            ("LlmmonTracesDroppedBeforeSampling", "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early",
             (), "Tail sampling drops traces before deciding on them",
             "More traces arrive within decision_wait than num_traces holds: {{ $value | humanize }} traces/s are "
             "evicted undecided, errors and slow ones included."),
        ):
            keep = ", ".join(("namespace", "pod", *by))
            out.append(PipelineAlert(name, "traces",
                                     f"sum by ({keep}) (rate({_counter(metric, job)}[{RATE_WINDOW}])) > 0",
                                     summary, description, f"{metric}_total", by))
    return out


def group(plan: Plan) -> dict[str, Any] | None:
    """The rule group `llmmon-<spec>-pipeline`, or None when the spec ships neither logs nor traces."""
    found = alerts(plan)
    if not found:
        return None
    labels = {SPEC_LABEL: plan.name, **({"cluster": plan.cluster} if plan.cluster else {}), "severity": TIER}
    rules = []
    for alert in found:
        annotations = {"summary": alert.summary, "description": alert.description}
        if plan.runbook_base_url:
            annotations["runbook_url"] = f"{plan.runbook_base_url}/{alert.name.lower()}"
        rules.append({"alert": alert.name, "expr": alert.expr, "for": str(plan.tier(TIER).for_),
                      "labels": dict(sorted(labels.items())), "annotations": annotations})
    return {"name": f"llmmon-{plan.name}-pipeline", "rules": rules}


def _series(plan: Plan, alert: PipelineAlert, values: str) -> dict[str, str]:
    base = {"namespace": plan.namespace, "pod": f"{alert.signal}-0"}
    if alert.signal == "logs":
        base.update(plugin_id=f"{plan.name}-elasticsearch", type="elasticsearch")
    else:
        base.update(job=otel_kube.name(plan), **{label: "otlp" for label in alert.by})
    return {"series": selector(alert.metric, *(eq(k, v) for k, v in sorted(base.items()))), "values": values}


def promtool_test(plan: Plan, rule_file: str, groups: list[str]) -> tuple[dict[str, Any], int] | None:
    """A promtool test file: a healthy pipeline fires nothing; a broken one fires each alert, in its tier."""
    found = alerts(plan)
    if not found:
        return None
    # a tier whose `for` passes the horizon is asserted pending, as the scenarios of the model alerts do
    wait = plan.tier(TIER).for_.ms
    held = wait <= FIRING_HORIZON_MS
    eval_minutes = Duration.parse(STALL_WINDOW).ms // 60_000 + (wait // 60_000 if held else 0) + 5
    steps = eval_minutes + 5
    # healthy: retries long ago and none since, a queue that empties between flushes, counters that stay put;
    # broken: retries every minute, a queue that only grows, counters that climb
    healthy = {"fluentd_output_status_buffer_queue_length": " ".join(["1", "0"] * (steps // 2 + 1))}
    broken = {"fluentd_output_status_buffer_queue_length": f"2+1x{steps}",
              "fluentd_output_status_retry_count": f"0+2x{steps}"}
    alerts_now = selector("ALERTS", eq("alertstate", "firing" if held else "pending"), eq(SPEC_LABEL, plan.name),
                          eq("severity", TIER), ("alertname", "=~", "Llmmon(Log|Trace).*"))
    check = {"expr": f"count by (alertname) ({alerts_now})", "eval_time": f"{eval_minutes}m"}
    tests = [
        {"name": "healthy pipeline: no pipeline alert fires", "interval": "1m",
         "input_series": [_series(plan, a, healthy.get(a.metric, f"100+0x{steps}")) for a in found],
         "promql_expr_test": [{**check, "exp_samples": []}]},
        {"name": "broken pipeline: every pipeline alert fires in the warning tier", "interval": "1m",
         "input_series": [_series(plan, a, broken.get(a.metric, f"0+60x{steps}")) for a in found],
         "promql_expr_test": [{**check, "exp_samples": [{"labels": selector("", eq("alertname", a.name)), "value": 1}
                                                        for a in sorted(found, key=lambda a: a.name)]}]},
    ]
    content = {"rule_files": [rule_file], "evaluation_interval": "1m", "group_eval_order": groups, "tests": tests}
    return content, len(tests)
