"""`llmmon check-metrics`: does a real /metrics page expose what the generated rules rely on?

Reads a Prometheus text exposition (parsed with prometheus_client's parser) and reports, per model and
signal, the metrics that are present, missing or deprecated, with every matcher the rules use (=, !=, =~, !~)
applied as Prometheus applies it. It also infers the engine version from the page (names, bucket sets) and
says when it differs from the spec's, and whether SLO and alert thresholds fit the scraped buckets.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass

from llmmon.engines import Counter, Histogram, Preset, describe, variants
from llmmon.engines.base import Matcher
from llmmon.model import Model, Plan

PRESENT, MISSING, DEPRECATED, NOT_A_BUCKET, OPTIONAL_MISSING = (
    "present", "missing", "deprecated", "not a bucket", "missing (optional)")
EMPTY = "none yet (read as 0)"  # an error counter that appears on the first failure, as its engine documents
NEVER_FIRES = "never fires"  # an alert threshold at or past the largest scraped bucket
ELSEWHERE = "on another page"  # an edge source: the proxy's /metrics, not the engine's
VERSION_OK, VERSION_MISMATCH, VERSION_DIFFERS, VERSION_UNKNOWN = "matches", "mismatch", "differs", "unknown"
FAILING = {MISSING, NOT_A_BUCKET, NEVER_FIRES, VERSION_MISMATCH}
FORMAT_VERSION = 1


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


def matches(labels: dict[str, str], matchers: list[Matcher]) -> bool:
    """Whether a label set passes every matcher as Prometheus applies it: a missing label is "", regexes are
    anchored."""
    for key, op, value in matchers:
        have = labels.get(key, "")
        if (op == "=" and have != value) or (op == "!=" and have == value):
            return False
        if op in ("=~", "!~") and (re.fullmatch(value, have) is not None) != (op == "=~"):
            return False
    return True


def _matchers(counter: Counter) -> list[Matcher]:
    return [*((k, "=", v) for k, v in counter.labels), *counter.select]


def _mine(m: Model, labels: dict[str, str], by_pod: bool = False) -> bool:
    """Whether a series is the model's: by its model label, or always for series selected by pod (a page is one
    pod's, and the pod regex is not on the page)."""
    label = m.engine.model_label
    return by_pod or label is None or labels.get(label) == m.served_name


def _found(m: Model, counter: Counter, samples: Samples) -> bool:
    return any(_mine(m, s, counter.by_pod) and matches(s, _matchers(counter))
               for name in counter.names for s in _series(samples, name))


def _counter(m: Model, signal: str, counter: Counter, samples: Samples, families: set[str],
             errors: bool = False) -> list[Row]:
    rows = []
    for name in counter.names:
        found = [s for s in _series(samples, name) if _mine(m, s, counter.by_pod) and matches(s, _matchers(counter))]
        if found:
            rows.append(Row(m.name, signal, describe(counter) if errors else name, PRESENT, f"{len(found)} series"))
            continue
        declared = name in families or name.removesuffix("_total") in families or bool(_series(samples, name))
        semantics = m.engine.semantics
        requests = _found(m, m.engine.requests, samples)  # "absent reads as 0" holds only beside a request counter
        if errors and requests and semantics and not semantics.errors_before_first:
            seen = _seen(m, name, samples, counter)
            rows.append(Row(m.name, signal, describe(counter), EMPTY,
                            (f"{seen}; " if seen else "") + (semantics.empty_errors or "appears on the first error")))
        elif errors and requests and declared:
            rows.append(Row(m.name, signal, describe(counter), EMPTY, "declared; no sample yet"))
        else:
            rows.append(Row(m.name, signal, describe(counter) if errors else name, MISSING,
                            _missing_detail(m, name, samples, counter)))
    return rows


def _seen(m: Model, name: str, samples: Samples, counter: Counter) -> str:
    """What the page has of a counter that no series of the rules' selection matches (the TGI validation case)."""
    exposed = [s for s in _series(samples, name) if _mine(m, s, counter.by_pod)]
    if not exposed:
        return ""
    keys = sorted({k for k, _, _ in _matchers(counter)})
    shown = sorted({", ".join(f"{k}={s.get(k, '')!r}" for k in keys) for s in exposed})[:3]
    return f"exposed only as {'; '.join(shown)}, which the rules do not count"


def _missing_detail(m: Model, name: str, samples: Samples, counter: Counter | None = None) -> str:
    exposed = _series(samples, name)
    if exposed and m.engine.model_label and not (counter and counter.by_pod):
        seen = sorted({s.get(m.engine.model_label, "") for s in exposed})[:3]
        return f"exposed, but not for {m.engine.model_label}={m.served_name!r} (seen: {', '.join(seen)})"
    if exposed and counter is not None:
        return f"exposed, but no series matches {describe(counter)}"
    return "not exposed"


def _bounds(m: Model, h: Histogram, samples: Samples) -> list[float] | None:
    found = [s for s in samples.get(h.metric + "_bucket", []) if _mine(m, s)]
    if not found:
        return None
    return sorted({float(s["le"]) for s in found if "le" in s and s["le"] != "+Inf"})


def _histogram(m: Model, signal: str, h: Histogram, kind: str, samples: Samples) -> list[Row]:
    name = h.metric + "_bucket"
    bounds = _bounds(m, h, samples)
    if bounds is None:
        detail = _missing_detail(m, name, samples)
        return [Row(m.name, signal, name, MISSING, detail + (f"; the histogram is opt-in ({h.opt_in})" if h.opt_in
                                                            else ""))]
    rows = [Row(m.name, signal, name, PRESENT, f"{len(bounds)} buckets")]
    seconds = [b * h.scale for b in bounds]
    objective = m.objective(kind)
    if (objective and objective.threshold is not None
            and not any(math.isclose(b, objective.threshold, rel_tol=1e-3) for b in seconds)):
        rows.append(Row(m.name, f"{signal} SLO", name, NOT_A_BUCKET,
                        f"threshold {objective.threshold:g}s is not a bucket of the scraped histogram "
                        f"(nearest: {_near(seconds, objective.threshold) or 'none'})"))
    alert = m.alert({"latency": "latency_p99", "ttft": "ttft_p95", "itl": "itl_p99"}[kind])
    if alert and alert.threshold is not None and seconds and alert.threshold >= seconds[-1] * (1 - 1e-9):
        rows.append(Row(m.name, f"{alert.key} alert", name, NEVER_FIRES,
                        f"threshold {alert.threshold:g}s is at or past the largest scraped bucket ({seconds[-1]:g}s): "
                        f"histogram_quantile never exceeds it (nearest: {_near(seconds, alert.threshold)})"))
    return rows


def _near(seconds: list[float], value: float) -> str:
    below = [b for b in seconds if b < value]
    above = [b for b in seconds if b > value]
    return ", ".join(f"{b:g}s" for b in (below[-1:] + above[:1]))


def infer_version(m: Model, samples: Samples) -> tuple[Preset | None, str]:
    """The variant of the model's engine the page looks like (None when nothing tells), and why."""
    candidates = [v for v in variants(m.engine.name) if v.version]
    if len(candidates) < 2:
        return None, ""
    scored = []
    for v in candidates:
        score, why = 0, []
        for h in (v.latency, v.ttft):
            bounds = _bounds(m, h, samples) if h else None
            if h and bounds is not None:
                if len(bounds) == len(h.buckets) and all(math.isclose(a, b) for a, b in zip(bounds, h.buckets,
                                                                                             strict=True)):
                    score += 2
                    why.append(f"{h.metric} buckets {bounds[0]:g} ... {bounds[-1]:g}")
                else:
                    score -= 2
        for marker in v.markers:
            if any(_mine(m, s) for s in _series(samples, marker)):
                score += 1
                why.append(marker)
        scored.append((score, v, why))
    best = max(s for s, _, _ in scored)
    winners = [(v, why) for s, v, why in scored if s == best]
    if best <= 0 or len(winners) != 1:
        return None, ""
    v, why = winners[0]
    return v, ", ".join(why)


def _version(m: Model, samples: Samples) -> list[Row]:
    seen, why = infer_version(m, samples)
    declared = m.engine.version
    if not declared:
        return []
    if seen is None:
        return [Row(m.name, "version", m.engine.name, VERSION_UNKNOWN,
                    f"the page does not tell which version it is; the spec uses {declared}")]
    if seen.version == declared:
        return [Row(m.name, "version", m.engine.name, VERSION_OK, f"{declared} ({why})")]
    how = "engine_version" if m.engine.pinned else "no engine_version, so the newest,"
    same_buckets = all((a.buckets if a else None) == (b.buckets if b else None)
                       for a, b in ((seen.latency, m.engine.latency), (seen.ttft, m.engine.ttft)))
    return [Row(m.name, "version", m.engine.name, VERSION_DIFFERS if same_buckets else VERSION_MISMATCH,
                f"the page looks like {m.engine.name} {seen.version} ({why}); the spec has {how} {declared}: "
                f"set engine_version: \"{seen.version}\"" + (" (same bucket sets, and the rules read renamed "
                                                             "series under both names)" if same_buckets else ""))]


def _model(m: Model, samples: Samples, families: set[str]) -> list[Row]:
    e = m.engine
    rows = _version(m, samples)
    if m.edge is not None:
        rows += _edge(m, samples)
    else:
        rows += _counter(m, "requests", e.requests, samples, families)
        rows += _counter(m, "errors", e.errors, samples, families, errors=True)
    if e.engine_errors:  # the engine's own counter: secondary, informative only
        found = [s for s in _series(samples, e.engine_errors.metric)
                 if _mine(m, s) and matches(s, _matchers(e.engine_errors))]
        rows.append(Row(m.name, "errors (engine)", describe(e.engine_errors), PRESENT if found else EMPTY,
                        "secondary: requests that reached the engine and failed there" if found else
                        "secondary: absent on most pages (this reason appears only for engine-side failures)"))
    if e.latency:
        rows += _histogram(m, "latency", e.latency, "latency", samples)
    elif e.latency_sum:
        rows += _counter(m, "latency (mean)", e.latency_sum, samples, families)
    if e.ttft and (m.objective("ttft") or m.alert("ttft_p95")):
        rows += _histogram(m, "ttft", e.ttft, "ttft", samples)
    if e.itl and (m.objective("itl") or m.alert("itl_p99")):  # the current name, else an older one on the page
        itl = next((dataclasses.replace(e.itl, metric=n) for n in (e.itl.metric, *e.itl_also)
                    if _series(samples, n + "_bucket")), e.itl)
        rows += _histogram(m, "itl", itl, "itl", samples)
    for signal, counter in (("input tokens", e.input_tokens), ("output tokens", e.output_tokens)):
        if counter:
            rows += _counter(m, signal, counter, samples, families)
    for key, gauge in sorted(e.gauges.items()):
        name = next((n for n in gauge.names if any(_mine(m, s) for s in _series(samples, n))), None)
        if name is None:
            rows.append(Row(m.name, key, " or ".join(gauge.names), OPTIONAL_MISSING, "dashboards will show no data"))
        else:
            rows.append(Row(m.name, key, name, PRESENT, "" if name == gauge.metric else
                            f"the earlier name; the rules read {gauge.metric} or {name}"))
    for old in e.deprecated:
        if any(_series(samples, old.old + suffix) for suffix in ("", "_count")):  # a counter, gauge or histogram
            hint = f"use {old.new}" if old.new else "no replacement"
            rows.append(Row(m.name, "deprecated", old.old, DEPRECATED, f"{old.note}; {hint}"))
    return rows


def _edge(m: Model, samples: Samples) -> list[Row]:
    """Requests and errors of a model counted at the edge: on the proxy's page, not the engine's."""
    e = m.edge
    assert e is not None
    found = [s for s in _series(samples, e.metric) if all(s.get(k) == v for k, v in e.labels)]
    if found:
        return [Row(m.name, "requests (edge)", e.metric, PRESENT, f"{len(found)} series ({e.source})")]
    return [Row(m.name, "requests (edge)", e.metric, ELSEWHERE,
                f"counted by {e.source}: check that page (a 5xx series appears on the first 5xx)")]


def render(rows: list[Row]) -> str:
    """The report as an aligned text table."""
    header = ("MODEL", "SIGNAL", "METRIC", "STATUS", "DETAIL")
    table = [header, *((r.model, r.signal, r.metric, r.status, r.detail) for r in rows)]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
             for row in table]
    return "\n".join(lines) + "\n"


def as_json(rows: list[Row], spec: str, metrics_file: str, exit_code: int) -> str:
    """The report as one JSON document with sorted keys, as `validate --format json` writes its own."""
    failing = [r for r in rows if r.status in FAILING]
    document = {
        "format": FORMAT_VERSION, "spec": spec, "metrics_file": metrics_file, "valid": not failing,
        "exit_code": exit_code, "failing": len(failing), "rows": [asdict(r) | {"failing": r.status in FAILING}
                                                                   for r in rows],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
