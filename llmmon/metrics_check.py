"""`llmmon check-metrics`: does a real /metrics page expose what the generated rules rely on?

Reads a Prometheus text exposition (parsed with prometheus_client's parser) and reports, per model and
signal, the metrics that are present, missing or deprecated, and whether SLO thresholds are bucket bounds
of the scraped histograms.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from llmmon.engines import Counter, Histogram
from llmmon.model import Model, Plan

PRESENT, MISSING, DEPRECATED, NOT_A_BUCKET, OPTIONAL_MISSING = (
    "present", "missing", "deprecated", "not a bucket", "missing (optional)")
FAILING = {MISSING, NOT_A_BUCKET}


@dataclass(frozen=True)
class Row:
    """One line of the report."""

    model: str
    signal: str
    metric: str
    status: str
    detail: str = ""


class ExpositionError(Exception):
    """The metrics text cannot be parsed."""


Samples = dict[str, list[dict[str, str]]]  # sample name → label sets


def parse(text: str) -> tuple[Samples, set[str]]:
    """Sample names with their label sets, and the family names declared (even without samples)."""
    from prometheus_client.parser import text_string_to_metric_families

    samples: Samples = defaultdict(list)
    families: set[str] = set()
    try:
        for family in text_string_to_metric_families(text):
            families.add(family.name)
            if family.type == "counter":
                families.add(family.name + "_total")
            for sample in family.samples:
                samples[sample.name].append(dict(sample.labels))
    except (ValueError, TypeError, IndexError) as exc:
        raise ExpositionError(f"not a Prometheus text exposition: {exc}") from None
    return samples, families


def check(plan: Plan, text: str, only: str | None = None) -> list[Row]:
    """Every relied-on metric of every model (or one), against one scrape."""
    samples, families = parse(text)
    rows: list[Row] = []
    for m in plan.models:
        if only is None or m.name == only:
            rows.extend(_model(m, samples, families))
    return rows


def _series(samples: Samples, name: str) -> list[dict[str, str]]:
    """Samples of a metric as the rules name it. prometheus_client's parser calls every counter sample
    `<name>_total`, also when the engine exposes it without the suffix (Triton, TGI), as Prometheus stores it."""
    return samples.get(name) or samples.get(name + "_total", [])


def _mine(m: Model, labels: dict[str, str]) -> bool:
    label = m.engine.model_label
    return label is None or labels.get(label) == m.served_name


def _counter(m: Model, signal: str, counter: Counter, samples: Samples, families: set[str],
             may_be_empty: bool = False) -> list[Row]:
    rows = []
    for name in counter.names:
        wanted = dict(counter.labels)
        found = [s for s in _series(samples, name) if _mine(m, s) and all(s.get(k) == v for k, v in wanted.items())]
        if found:
            rows.append(Row(m.name, signal, name, PRESENT, f"{len(found)} series"))
        elif may_be_empty and (name in families or name.removesuffix("_total") in families):
            rows.append(Row(m.name, signal, name, PRESENT, "declared; no sample yet (counted on first event)"))
        else:
            rows.append(Row(m.name, signal, name, MISSING, _missing_detail(m, name, samples)))
    return rows


def _missing_detail(m: Model, name: str, samples: Samples) -> str:
    if _series(samples, name) and m.engine.model_label:
        seen = sorted({s.get(m.engine.model_label, "") for s in _series(samples, name)})[:3]
        return f"exposed, but not for {m.engine.model_label}={m.served_name!r} (seen: {', '.join(seen)})"
    return "not exposed"


def _histogram(m: Model, signal: str, h: Histogram, kind: str, samples: Samples) -> list[Row]:
    name = h.metric + "_bucket"
    found = [s for s in samples.get(name, []) if _mine(m, s)]
    if not found:
        return [Row(m.name, signal, name, MISSING, _missing_detail(m, name, samples))]
    bounds = sorted({float(s["le"]) for s in found if "le" in s and s["le"] != "+Inf"})
    rows = [Row(m.name, signal, name, PRESENT, f"{len(bounds)} buckets")]
    objective = m.objective(kind)
    if objective and objective.threshold is not None:
        seconds = [b * h.scale for b in bounds]
        if not any(math.isclose(b, objective.threshold, rel_tol=1e-3) for b in seconds):
            below = [b for b in seconds if b < objective.threshold]
            above = [b for b in seconds if b > objective.threshold]
            near = ", ".join(f"{b:g}s" for b in (below[-1:] + above[:1]))
            rows.append(Row(m.name, f"{signal} SLO", name, NOT_A_BUCKET,
                            f"threshold {objective.threshold:g}s is not a bucket of the scraped histogram "
                            f"(nearest: {near or 'none'})"))
    return rows


def _model(m: Model, samples: Samples, families: set[str]) -> list[Row]:
    e = m.engine
    rows = _counter(m, "requests", e.requests, samples, families)
    rows += _counter(m, "errors", e.errors, samples, families, may_be_empty=True)
    if e.latency:
        rows += _histogram(m, "latency", e.latency, "latency", samples)
    elif e.latency_sum:
        rows += _counter(m, "latency (mean)", e.latency_sum, samples, families)
    if e.ttft and (m.objective("ttft") or m.alert("ttft_p95")):
        rows += _histogram(m, "ttft", e.ttft, "ttft", samples)
    for signal, counter in (("input tokens", e.input_tokens), ("output tokens", e.output_tokens)):
        if counter:
            rows += _counter(m, signal, counter, samples, families)
    for key, gauge in sorted(e.gauges.items()):
        present = any(_mine(m, s) for s in _series(samples, gauge.metric))
        rows.append(Row(m.name, key, gauge.metric, PRESENT if present else OPTIONAL_MISSING,
                        "" if present else "dashboards will show no data"))
    for old in e.deprecated:
        if _series(samples, old.old):
            hint = f"use {old.new}" if old.new else "no replacement"
            rows.append(Row(m.name, "deprecated", old.old, DEPRECATED, f"{old.note}; {hint}"))
    return rows


def render(rows: list[Row]) -> str:
    """The report as an aligned text table."""
    header = ("MODEL", "SIGNAL", "METRIC", "STATUS", "DETAIL")
    table = [header, *((r.model, r.signal, r.metric, r.status, r.detail) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
             for row in table]
    return "\n".join(lines) + "\n"
