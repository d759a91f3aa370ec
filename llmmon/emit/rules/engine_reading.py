"""Engine reading: an engine's raw series (requests, errors, histograms, tokens, load gauges) aggregated to one
series per model under names that do not depend on the engine; and requests counted in front of the engine."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from llmmon.emit.rules.builder import Builder, per_model, scaled, union
from llmmon.emit.rules.names import (
    ENGINE_POD,
    ENGINE_POD_PRESENT,
    ERRORS,
    GAUGE_RECORDS,
    INFO,
    INPUT_TOKENS,
    LATENCY,
    OUTPUT_TOKENS,
    QUANTILES,
    REQUESTS,
    SLO_BUCKET,
    TTFT,
)
from llmmon.emit.rules.slo_windows import histogram_record, slo_bounds
from llmmon.engines import Counter, Histogram, Preset
from llmmon.engines.base import Matcher
from llmmon.model import Model
from llmmon.promql import eq, number, quote, re_in, regex_of, selector
from llmmon.slo import BASE_WINDOW


class Raw:
    """Selectors of one engine's raw series, aggregated to one series per model of the spec."""

    def __init__(self, builder: Builder, preset: Preset, models: list[Model]) -> None:
        self.preset, self.models = preset, models
        self.namespaces = re_in("namespace", (m.namespace for m in models))
        self.info = builder.rec(INFO, eq("engine", preset.key))
        engine_models = [m for m in builder.plan.models if m.engine.key == preset.key]
        self.pods = builder.rec(ENGINE_POD, eq("engine", preset.key),  # see `pod_models`
                                *builder.among(models, within=engine_models))

    def histograms(self) -> list[tuple[str, Histogram]]:
        """(recorded base name, histogram) of the latency and TTFT histograms the engine has."""
        return [(base, h) for base, h in ((LATENCY, self.preset.latency), (TTFT, self.preset.ttft)) if h is not None]

    def by_model(self, series: Callable[[list[Matcher]], str], extra: str = "", how: str = "sum",
                 by_pod: bool = False) -> str:
        preset = self.preset
        if preset.by_pod or by_pod:  # no model label: joined to the pods' models (recorded by `pod_models`)
            return self._pods_to_models(series([self.namespaces]), extra, how)
        # Replicas are summed (or averaged) first: the label copy and the join then touch one series per
        # model instead of one per pod (a quarter of the work at 4 replicas).
        grouping = ", ".join(["namespace", preset.model_label or "", *([extra] if extra else [])])
        return self._to_models(f"{how} by ({grouping}) ({series([self.namespaces])})", extra, how)

    def quantile_by_model(self, q: float, buckets: Callable[[list[Matcher]], str], extra: str) -> str:
        """The q-quantile of a histogram per model and `extra` (e.g. per pod). With a model label the quantile
        is taken before the join to the models: the join then touches one series per pod, not one per bucket."""
        if self.preset.by_pod:
            return f"histogram_quantile({number(q)}, {self.by_model(buckets, f'{extra}, le')})"
        grouping = ", ".join(["namespace", self.preset.model_label or "", extra, "le"])
        inner = f"histogram_quantile({number(q)}, sum by ({grouping}) ({buckets([self.namespaces])}))"
        return self._to_models(inner, extra, "max")

    def _pods_to_models(self, series: str, extra: str, how: str) -> str:
        """Series without a model label, by model (and `extra`): summed (or maxed) by pod first, so the join
        touches one series per pod and `extra`; an average joins every series, to weigh each the same."""
        keys = [k.strip() for k in extra.split(",") if k.strip()]
        join = f"* on (namespace, pod) group_left (model)\n  {self.pods}"
        if how != "avg":
            per_pod = ", ".join(["namespace", "pod", *(k for k in keys if k != "pod")])
            series = f"{how} by ({per_pod}) ({series})"
        return f"{how} by ({', '.join(['model', *keys])}) (\n  {series}\n  {join}\n)"

    def _to_models(self, inner: str, extra: str, how: str) -> str:
        """Series of the engine's served model names (and `extra`) renamed to the spec's models."""
        keys = ", ".join(["model", *([extra] if extra else [])])
        return (f"{how} by ({keys}) (\n  label_replace(\n    {inner},\n    \"served_model\", "
                f"\"$1\", {quote(self.preset.model_label or '')}, \"(.*)\"\n  )\n  * on (namespace, served_model) "
                f"group_left (model)\n  {self.info}\n)")

    @staticmethod
    def rate(counter: Counter, suffix: str = "", *extra: Matcher) -> Callable[[list[Matcher]], str]:
        names = [n + suffix for n in counter.names]
        own = [*(eq(k, v) for k, v in counter.labels), *counter.select, *extra]
        head = names[0] if len(names) == 1 else ""
        name_matcher = [] if head else [("__name__", "=~", regex_of(names))]
        # `>= 0 < +Inf` drops the NaN and Inf a single bad scrape puts into a rate, which would otherwise
        # spread through every SLO window that averages it.
        return lambda where: f"(rate({selector(head, *name_matcher, *where, *own)}[{BASE_WINDOW}]) >= 0 < +Inf)"

    def total(self, counter: Counter) -> str:
        """A counter summed over all its metric names. Each name is rated apart: one rate() over several
        names would hold series whose labels are equal once the names are dropped."""
        parts = [self.by_model(self.rate(replace(counter, metric=name, also=())), by_pod=counter.by_pod)
                 for name in counter.names]
        out = parts[0]
        for part in parts[1:]:
            out = f"{out}\n+ on (model)\n(\n{part}\nor on (model)\n0 * {parts[0]}\n)"
        return out



def reads_by_pod(preset: Preset) -> bool:
    """True when some series the rules read carry no model label and are attributed to models by pod."""
    return preset.by_pod or preset.requests.by_pod or preset.errors.by_pod


def pod_models(b: Builder, preset: Preset, models: list[Model]) -> None:
    """Which model each pod of the engine serves, by the models' pod regexes: the regexes run here, once an
    evaluation, and every rule reading series without a model label joins to the result by (namespace, pod).

    A pod counts while its request counters are present (and, for an engine without a model label at all, its
    load gauges, which exist from its start: an idle replica still serves), and for one rate window after: as
    long as a rate still reads a pod that is gone. A pod two regexes match goes to the first model of the spec;
    one a spec change moved keeps one model until the old mapping ages out (topk): the join never fails on it."""
    names = list(preset.requests.names)  # every pod that answered has them (error counters are a subset)
    if preset.by_pod:
        names += [n for _, gauge in sorted(preset.gauges.items()) for n in gauge.names]
    head, metric = (names[0], []) if len(names) == 1 else ("", [("__name__", "=~", regex_of(names))])
    terms = [per_model(m, f"group by (namespace, pod) "
                          f"({selector(head, *metric, eq('namespace', m.namespace), ('pod', '=~', m.pods))})")
             for m in models]
    record = functools.partial(b.record, engine=preset.key)
    record(ENGINE_POD_PRESENT, union(terms, "or on (namespace, pod)"), models)
    present = b.rec(ENGINE_POD_PRESENT, eq("engine", preset.key))
    record(ENGINE_POD, f"topk by (namespace, pod) (1, last_over_time({present}[{BASE_WINDOW}]))", models)


def engine(b: Builder, preset: Preset, models: list[Model]) -> None:
    """What SLOs and pages read, at every evaluation: requests, errors, and of each histogram its count and
    the buckets at the SLO thresholds (two of fifteen at one threshold), named the same whatever the engine."""
    raw = Raw(b, preset, models)
    record = functools.partial(b.record, engine=preset.key)  # keeps engines' rules distinct (promtool lint)
    if reads_by_pod(preset):
        pod_models(b, preset, models)
    if own := [m for m in models if m.edge is None]:  # the others count requests at the edge (group "edge")
        counted = Raw(b, preset, own)
        record(REQUESTS, counted.total(preset.requests), own)
        # Most failure series appear on the first failure: "absent" reads as 0 while the model has requests.
        record(ERRORS, f"{counted.by_model(counted.rate(preset.errors), by_pod=preset.errors.by_pod)}\n"
               f"or on (model)\n0 * {b.rec(REQUESTS, *b.among(own))}", own)
    for base, histogram in raw.histograms():
        name = histogram_record(base, histogram)
        record(f"{name}_count:rate5m", raw.by_model(raw.rate(Counter(histogram.metric), "_count")), models)
        if bounds := slo_bounds(base, histogram, models):
            record(f"{name}{SLO_BUCKET}", raw.by_model(raw.rate(Counter(histogram.metric), "_bucket", bounds),
                                                       "le"), models)


def engine_detail(b: Builder, preset: Preset, models: list[Model]) -> None:
    """What dashboards and the slower alerts read, every DETAIL_EVERY: every bucket (for quantiles), latency
    sums, tokens and load gauges. Most raw series of an engine are buckets, so most of its work runs here."""
    raw = Raw(b, preset, models)
    own = b.among(models)
    record = functools.partial(b.record, engine=preset.key)
    for base, histogram in raw.histograms():
        name = histogram_record(base, histogram)
        record(f"{name}_bucket:rate5m", raw.by_model(raw.rate(Counter(histogram.metric), "_bucket"), "le"), models)
        if name != base:  # a histogram in another unit: its quantiles are converted to seconds here
            bucket, count = b.rec(name + "_bucket:rate5m", *own), b.rec(name + "_count:rate5m", *own)
            for label, q in QUANTILES.items():
                record(f"{base}:{label}", f"histogram_quantile({number(q)}, {bucket}) * {number(histogram.scale)}"
                       f"\nand on (model)\n({count} > 0)", models)
        if base == LATENCY:
            record(f"{LATENCY}_sum:rate5m", raw.by_model(raw.rate(Counter(histogram.metric), "_sum")), models)
    if preset.latency is None and preset.latency_sum is not None:  # mean latency only
        spent = raw.by_model(raw.rate(preset.latency_sum))
        record(f"{LATENCY}_sum:rate5m", f"{spent} * {number(preset.latency_sum_scale)}", models)
        record(f"{LATENCY}_count:rate5m", raw.total(preset.requests), models)
    for name, counter in ((INPUT_TOKENS, preset.input_tokens), (OUTPUT_TOKENS, preset.output_tokens)):
        if counter is not None:
            record(name, raw.by_model(raw.rate(counter)), models)
    for key, gauge in sorted(preset.gauges.items()):
        name, how = GAUGE_RECORDS[key]

        # A renamed gauge is read as `new or old` (per model, the new name wins): one rule set keeps working
        # through a rolling upgrade between versions that expose either name.
        terms = []
        for metric in gauge.names:
            def value(where: list[Matcher], metric: str = metric) -> str:
                return selector(metric, *where)

            terms.append(raw.by_model(value, how=how))
        record(name, scaled("\nor on (model)\n".join(terms) if len(terms) > 1 else terms[0], gauge), models)


def edge(b: Builder) -> None:
    """Request and error rates of the models with an `errors` source, one term per model (each selects its own
    ingress, workload or pods), recorded under the names the engine groups use, told apart by `source`."""
    by_source: dict[str, list[Model]] = defaultdict(list)
    for m in b.plan.models:
        if m.edge is not None:
            by_source[m.edge.source].append(m)
    for source, models in sorted(by_source.items()):
        def term(m: Model, errors: bool) -> str:
            e = m.edge
            assert e is not None
            where = [eq("namespace", m.namespace), ("pod", "=~", m.pods)] if e.by_pod else []
            sel = selector(e.metric, *where, *(eq(k, v) for k, v in e.labels), *([e.error] if errors else []))
            return per_model(m, f"sum ((rate({sel}[{BASE_WINDOW}]) >= 0 < +Inf))")

        b.record(REQUESTS, union([term(m, False) for m in models], "or"), models, source=source)
        b.record(ERRORS, f"{union([term(m, True) for m in models], 'or')}\nor on (model)\n0 * "
                 f"{b.rec(REQUESTS, eq('source', source), *b.among(models))}", models, source=source)
