"""Prometheus recording and alerting rules for a plan.

Rules are aggregated `by (model)` across the fleet: one rule per signal and engine, not one per model.
Per-model settings (objectives, minimum request rates, GPU prices) are small static series joined by
`model`; burn-rate alerts compare with their thresholds as numbers, one term per distinct objective, and
threshold alerts get one rule per distinct (threshold, tier, for), selecting their models. Groups run as often
as what they compute can change: only what the fast page reads is recomputed at every evaluation.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from llmmon import slo
from llmmon.emit import alert_text, health, insight
from llmmon.engines import Counter, Gauge, Histogram, Preset, le_matcher
from llmmon.engines.base import Matcher
from llmmon.model import Alert, Model, Objective, Plan
from llmmon.promql import SPEC_LABEL, eq, number, quote, re_in, regex_of, selector
from llmmon.slo import (
    BASE_WINDOW,
    BURN_WINDOWS,
    MEDIUM_EVERY,
    SAMPLE_EVERY,
    SLOW_PAIR_EVERY,
    BurnWindow,
    cadence,
    recorded_windows,
    slo_histogram,
)
from llmmon.units import Duration

INFO = "llmmon:model_info"
OBJECTIVE = "slo:objective:ratio"
MIN_RATE = "llmmon:min_request_rate"
GPU_COST = "llmmon:gpu_cost_per_hour"
GPUS = "llmmon:gpus_allocated"
REQUESTS = "model:llm_requests:rate5m"
ERRORS = "model:llm_request_errors:rate5m"
ERROR_RATIO = "model:llm_request_errors:ratio_rate5m"
REQUESTS_1H = "model:llm_requests:rate1h"
LATENCY = "model:llm_request_duration_seconds"
SLO_BUCKET = "_slo_bucket:rate5m"  # the buckets at SLO thresholds only: model:llm_request_duration_seconds_slo_bucket
LATENCY_MEAN = "model:llm_request_duration_seconds:mean"
TTFT = "model:llm_time_to_first_token_seconds"
INPUT_TOKENS = "model:llm_input_tokens:rate5m"
OUTPUT_TOKENS = "model:llm_output_tokens:rate5m"
TOKENS = "model:llm_tokens:rate5m"
TOKENS_1H = "model:llm_tokens:rate1h"
GPU_UTIL = "model:llm_gpu_utilization:ratio"
CPU_CORES = "model:llm_cpu_cores:rate5m"
POD_MODEL = "llmmon:pod_model_info"
DCGM_UTIL = "DCGM_FI_DEV_GPU_UTIL"
CPU_SECONDS = "container_cpu_usage_seconds_total"
# Pods are mapped to models this often; a new pod's GPU and CPU series count for its model from the next run.
POD_MAP_EVERY = Duration.parse("5m")
POD_MAP_LOOKBACK = Duration(POD_MAP_EVERY.ms * 2)  # two runs: one late or failed run loses nothing
COST_PER_HOUR = "llm_cost_per_hour"
COST_PER_MTOK = "llm_cost_per_million_tokens"
SLO_REQUESTS = "model:slo_requests:rate"
SLO_ERRORS = "model:slo_errors:rate"
SLO_RATIO = "model:slo_errors:ratio_rate"
SAMPLED = f"{SAMPLE_EVERY}_every{SAMPLE_EVERY}"  # suffix of the sampled 30m window: rate30m_every30m
AVAILABILITY = "slo:availability:ratio"  # availability only, one series per model (the design's name)
GOOD = "slo:good_requests:ratio"  # share of good requests over the SLO window, per model and `slo`
BUDGET = "slo:error_budget_remaining:ratio"
GAUGE_RECORDS = {"running": ("model:llm_requests_running:sum", "sum"),
                 "waiting": ("model:llm_requests_waiting:sum", "sum"),
                 "kv_cache": ("model:llm_kv_cache_usage:ratio", "avg")}
QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
# Models per static group: keeps each PrometheusRule object well under Kubernetes' size limits
# (262144 bytes of annotations for `kubectl apply`'s last-applied configuration).
STATIC_CHUNK = 100
# Static series only change with the rules: their groups run this often, well inside the 5m an instant query looks
# back, so joins always find them (7 rules a model: 3500 at 500 models, 70 ms of a Prometheus' time per run).
STATIC_EVERY = Duration.parse("2m")
# Buckets, quantiles, tokens, gauges and cost feed dashboards and alerts held for minutes (latency, TTFT, idle GPUs):
# recomputed this often instead of at every evaluation. Most raw series of an engine are buckets: at 500 models ×
# 4 replicas, 44,000 of the 58,000 it reads, 0.30 s of a Prometheus' time per run (bench/rule_cost.py).
DETAIL_EVERY = Duration.parse("2m")
# Burn-rate alerts compare with constants, one term per (SLO kind, objective, minimum rate); past this many terms
# (objectives set model by model) they join the objective series instead.
MAX_BURN_TERMS = 12


@dataclass
class RuleSet:
    """Rule groups plus, for each rule, the models it covers (to map checker messages back)."""

    groups: list[dict[str, Any]] = field(default_factory=list)
    models_of: dict[tuple[str, int], tuple[str, ...]] = field(default_factory=dict)

    @property
    def rules(self) -> list[dict[str, Any]]:
        """Every rule of every group."""
        return [rule for group in self.groups for rule in group["rules"]]


class _Builder:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.out = RuleSet()
        self.base = {SPEC_LABEL: plan.name, **({"cluster": plan.cluster} if plan.cluster else {})}
        self.rules: list[dict[str, Any]] = []
        self.covers: list[tuple[str, ...]] = []

    # -- helpers ---------------------------------------------------------------------------------
    def rec(self, metric: str, *matchers: tuple[str, str, str]) -> str:
        """A selector of a series llmmon records for this spec."""
        return selector(metric, eq(SPEC_LABEL, self.plan.name), *matchers)

    def among(self, models: Iterable[Model], kind: str | None = None) -> list[Matcher]:
        """A matcher selecting `models` among the spec's recorded series (of SLO `kind`: only models with that
        objective have them); none when they are all of them (a regex of every model name costs Prometheus a
        lookup per name at every evaluation)."""
        names = {m.name for m in models}
        every = {m.name for m in self.plan.models if kind is None or m.objective(kind)}
        return [] if names >= every else [re_in("model", names)]

    def group(self, suffix: str, build: Any, interval: Duration | None = None) -> None:
        self.rules, self.covers = [], []
        build()
        if self.rules:
            name = f"llmmon-{self.plan.name}-{suffix}"
            every = {"interval": str(interval)} if interval else {}
            self.out.groups.append({"name": name, **every, "rules": self.rules})
            for i, models in enumerate(self.covers):
                self.out.models_of[(name, i + 1)] = models
        self.rules, self.covers = [], []

    def record(self, name: str, expr: str, models: Iterable[Model], **labels: str) -> None:
        self.rules.append({"record": name, "expr": expr, "labels": dict(sorted({**self.base, **labels}.items()))})
        self.covers.append(tuple(m.name for m in models))

    def alert(self, name: str, expr: str, for_: Duration, models: Iterable[Model], labels: dict[str, str],
              summary: str, description: str) -> None:
        annotations = {"summary": summary, "description": description,
                       **alert_text.links(self.plan, name, per_slo=name == "ErrorBudgetBurn")}
        rule: dict[str, Any] = {"alert": name, "expr": expr}
        if for_.ms:
            rule["for"] = str(for_)
        rule["labels"] = dict(sorted({**self.base, **labels}.items()))
        rule["annotations"] = annotations
        self.rules.append(rule)
        self.covers.append(tuple(m.name for m in models))

    # -- static series -------------------------------------------------------------------------
    def static(self, models: Iterable[Model]) -> None:
        for m in models:
            self.record(INFO, "vector(1)", [m], model=m.name, served_model=m.served_name, namespace=m.namespace,
                        engine=m.engine.key)
            for o in m.objectives:
                self.record(OBJECTIVE, f"vector({number(o.target)})", [m], model=m.name, slo=o.kind)
            self.record(MIN_RATE, f"vector({number(m.min_request_rate)})", [m], model=m.name)
            self.record(GPU_COST, f"vector({number(round(m.gpu_hourly_cost, 9))})", [m], model=m.name,
                        currency=self.plan.currency)
            if m.gpu_type:
                self.record(GPUS, f"vector({m.gpu_count})", [m], model=m.name, gpu_type=m.gpu_type)
        health.static(self, list(models))

    # -- per engine: raw series → one series per model ----------------------------------------
    def engine(self, preset: Preset, models: list[Model]) -> None:
        """What SLOs and pages read, at every evaluation: requests, errors, and of each histogram its count and
        the buckets at the SLO thresholds (two of fifteen at one threshold), named the same whatever the engine."""
        raw = _Raw(self, preset, models)
        record = functools.partial(self.record, engine=preset.key)  # keeps engines' rules distinct (promtool lint)
        if own := [m for m in models if m.edge is None]:  # the others count requests at the edge (group "edge")
            counted = _Raw(self, preset, own)
            record(REQUESTS, counted.total(preset.requests), own)
            # Most failure series appear on the first failure: "absent" reads as 0 while the model has requests.
            record(ERRORS, f"{counted.by_model(counted.rate(preset.errors), by_pod=preset.errors.by_pod)}\n"
                   f"or on (model)\n0 * {self.rec(REQUESTS, *self.among(own))}", own)
        for base, histogram in raw.histograms():
            name = _histogram_record(base, histogram)
            record(f"{name}_count:rate5m", raw.by_model(raw.rate(Counter(histogram.metric), "_count")), models)
            if bounds := _slo_bounds(base, histogram, models):
                record(f"{name}{SLO_BUCKET}", raw.by_model(raw.rate(Counter(histogram.metric), "_bucket", bounds),
                                                           "le"), models)

    def engine_detail(self, preset: Preset, models: list[Model]) -> None:
        """What dashboards and the slower alerts read, every DETAIL_EVERY: every bucket (for quantiles), latency
        sums, tokens and load gauges. Most raw series of an engine are buckets, so most of its work runs here."""
        raw = _Raw(self, preset, models)
        own = self.among(models)
        record = functools.partial(self.record, engine=preset.key)
        for base, histogram in raw.histograms():
            name = _histogram_record(base, histogram)
            record(f"{name}_bucket:rate5m", raw.by_model(raw.rate(Counter(histogram.metric), "_bucket"), "le"), models)
            if name != base:  # a histogram in another unit: its quantiles are converted to seconds here
                bucket, count = self.rec(name + "_bucket:rate5m", *own), self.rec(name + "_count:rate5m", *own)
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
            record(name, _scaled("\nor on (model)\n".join(terms) if len(terms) > 1 else terms[0], gauge), models)

    # -- requests and errors counted in front of the engine -----------------------------------
    def edge(self) -> None:
        """Request and error rates of the models with an `errors` source, one term per model (each selects its own
        ingress, workload or pods), recorded under the names the engine groups use, told apart by `source`."""
        by_source: dict[str, list[Model]] = defaultdict(list)
        for m in self.plan.models:
            if m.edge is not None:
                by_source[m.edge.source].append(m)
        for source, models in sorted(by_source.items()):
            def term(m: Model, errors: bool) -> str:
                e = m.edge
                assert e is not None
                where = [eq("namespace", m.namespace), ("pod", "=~", m.pods)] if e.by_pod else []
                sel = selector(e.metric, *where, *(eq(k, v) for k, v in e.labels), *([e.error] if errors else []))
                return _per_model(m, f"sum ((rate({sel}[{BASE_WINDOW}]) >= 0 < +Inf))")

            self.record(REQUESTS, _union([term(m, False) for m in models], "or"), models, source=source)
            self.record(ERRORS, f"{_union([term(m, True) for m in models], 'or')}\nor on (model)\n0 * "
                        f"{self.rec(REQUESTS, eq('source', source), *self.among(models))}", models, source=source)

    # -- fleet-wide series derived from the per-model ones -------------------------------------
    def derived(self) -> None:
        """The error ratio the error-rate alert reads, at every evaluation."""
        requests = self.rec(REQUESTS)
        self.record(ERROR_RATIO, f"{self.rec(ERRORS)}\n/\n({requests} > 0)\nor\n0 * {requests}", self.plan.models)

    def derived_detail(self) -> None:
        """Quantiles, mean latency, tokens and the 1h request rate, every DETAIL_EVERY."""
        models = self.plan.models
        self.record(REQUESTS_1H, f"avg_over_time({self.rec(REQUESTS)}[1h])", models)
        seconds = {LATENCY: [m.engine.latency for m in models], TTFT: [m.engine.ttft for m in models]}
        for record, histograms in seconds.items():
            if not any(h and h.scale == 1 for h in histograms):
                continue
            for label, q in QUANTILES.items():
                self.record(f"{record}:{label}",
                            f"histogram_quantile({number(q)}, {self.rec(record + '_bucket:rate5m')})\n"
                            f"and on (model)\n({self.rec(record + '_count:rate5m')} > 0)", models)
        spent, count = self.rec(LATENCY + "_sum:rate5m"), self.rec(LATENCY + "_count:rate5m")
        self.record(LATENCY_MEAN, f"{spent}\n/\n({count} > 0)", models)
        names = ("__name__", "=~", regex_of([INPUT_TOKENS, OUTPUT_TOKENS]))
        tokens = selector("", names, eq(SPEC_LABEL, self.plan.name))
        self.record(TOKENS, f"sum by (model) ({tokens})", models)
        self.record(TOKENS_1H, f"avg_over_time({self.rec(TOKENS)}[1h])", models)

    # -- GPU utilisation and cost --------------------------------------------------------------
    def pod_models(self) -> None:
        """Which model each pod belongs to, by the models' pod regexes: recorded once every POD_MAP_EVERY, so
        the per-model regexes run there and not at every evaluation. A pod two regexes match goes to the first
        model of the spec (the compiler already refuses regexes that select each other's pods)."""
        names = [n for n, wanted in ((DCGM_UTIL, self._dcgm_models()), (CPU_SECONDS, self.plan.cpu_core_hourly))
                 if wanted]
        if not names:
            return
        metric = eq("__name__", names[0]) if len(names) == 1 else ("__name__", "=~", regex_of(names))
        terms = [_per_model(m, f"group by (namespace, pod) ({selector('', metric, eq('namespace', m.namespace), ('pod', '=~', m.pods))})")  # noqa: E501
                 for m in self.plan.models]
        self.record(POD_MODEL, _union(terms, "or on (namespace, pod)"), self.plan.models)

    def _dcgm_models(self) -> list[Model]:
        return [m for m in self.plan.models if m.gpu_type] if self.plan.gpu_exporter == "dcgm" else []

    def _pod_join(self, models: Iterable[Model]) -> str:
        # topk keeps one model per pod while a spec change moves a pod: both mappings are then in the lookback.
        mapping = f"last_over_time({self.rec(POD_MODEL, *self.among(models))}[{POD_MAP_LOOKBACK}])"
        return f"* on (namespace, pod) group_left (model)\n  topk by (namespace, pod) (1, {mapping})"

    def cost(self) -> None:
        plan = self.plan
        namespaces = re_in("namespace", (m.namespace for m in plan.models))
        if dcgm := self._dcgm_models():
            util = selector(DCGM_UTIL, re_in("namespace", (m.namespace for m in dcgm)))
            self.record(GPU_UTIL, f"avg by (model) (\n  {util}\n  {self._pod_join(dcgm)}\n) / 100", dcgm)
        elif gpu_terms := [(m, t) for m in plan.models if (t := self._gpu_term(m))]:
            self.record(GPU_UTIL, "\nor\n".join(t for _, t in gpu_terms), [m for m, _ in gpu_terms])
        gpu_cost = self.rec(GPU_COST)
        if plan.cpu_core_hourly:
            cpu = selector(CPU_SECONDS, namespaces, ("container", "!=", ""))
            self.record(CPU_CORES, f"sum by (model) (\n  sum by (namespace, pod) (rate({cpu}[{BASE_WINDOW}]))\n  "
                        f"{self._pod_join(plan.models)}\n)", plan.models)
            cpu = f"{number(plan.cpu_core_hourly)} * {self.rec(CPU_CORES)}"
            cost = (f"{gpu_cost}\n+ on (model) group_left ()\n(\n  {cpu}\n"
                    f"  or on (model)\n  0 * {gpu_cost}\n)")
        else:
            cost = gpu_cost
        self.record(COST_PER_HOUR, cost, plan.models)
        self.record(COST_PER_MTOK, f"{self.rec(COST_PER_HOUR)}\n/ on (model) group_left ()\n"
                    f"({self.rec(TOKENS_1H)} * 3600 / 1e6 > 0)", plan.models)

    def _gpu_term(self, m: Model) -> str | None:
        kind = self.plan.gpu_exporter
        pods = ("pod", "=~", m.pods)
        if kind == "nvml" and m.gpu_type:
            nodes = f"max by (node) ({selector('kube_pod_info', eq('namespace', m.namespace), pods)})"
            return _per_model(m, f"avg(nvidia_smi_utilization_gpu_ratio * on (node) group_left () {nodes})")
        gauge = m.engine.gpu_utilization
        if kind == "none" and gauge:
            who = (eq(m.engine.model_label, m.served_name) if gauge.per_model and m.engine.model_label
                   else pods)
            inner = selector(gauge.metric, eq("namespace", m.namespace), who)
            return _per_model(m, f"avg({inner}) * {number(gauge.scale)}")
        return None

    # -- SLOs ------------------------------------------------------------------------------------
    def slos(self) -> None:
        def having(kind: str) -> list[Model]:
            return [m for m in self.plan.models if m.objective(kind)]

        sources = {"availability": (REQUESTS, ERRORS), "latency": (LATENCY, None), "ttft": (TTFT, None),
                   "itl": (insight.ITL, None)}
        for kind, (source, errors) in sources.items():
            models = having(kind)
            if not models:
                continue
            own = self.among(models)
            if errors:
                self.record(SLO_REQUESTS + "5m", self.rec(source, *own), models, slo=kind)
                self.record(SLO_ERRORS + "5m", self.rec(errors, *own), models, slo=kind)
                continue
            # Models are grouped by the recorded histogram they use (its unit) and the bucket of their threshold;
            # each group is one term of a single rule: two rules may not record the same name and labels.
            groups: dict[tuple[str, Matcher], list[Model]] = defaultdict(list)
            for m in models:
                histogram = slo_histogram(m.engine, kind)
                objective = m.objective(kind)
                assert histogram is not None and objective is not None
                groups[(_histogram_record(source, histogram), _threshold_le(histogram, objective))].append(m)
            totals: dict[str, list[Model]] = defaultdict(list)
            terms = []
            for (name, le), group in sorted(groups.items()):
                totals[name].extend(group)
                sel = self.among(group)
                good = self.rec(name + SLO_BUCKET, *sel, le)
                terms.append(f"clamp_min(\n  {self.rec(name + '_count:rate5m', *sel)}\n"
                             f"  - on (model) group_left ()\n  sum by (model) ({good}),\n  0\n)")
            requests = [self.rec(name + "_count:rate5m", *self.among(ms))
                        for name, ms in sorted(totals.items())]
            self.record(SLO_REQUESTS + "5m", "\nor\n".join(requests), models, slo=kind)
            self.record(SLO_ERRORS + "5m", "\nor\n".join(terms), models, slo=kind)
        self.windows(None)

    def _slo_models(self) -> list[Model]:
        return [m for m in self.plan.models if m.objectives]

    def windows(self, every: Duration | None) -> None:
        """The SLO windows recomputed at one cadence (None: every evaluation); see llmmon.slo."""
        models = self._slo_models()
        if not models:
            return
        if every == SAMPLE_EVERY:  # the 30m window sampled at this cadence: what the longer windows average
            for name in (SLO_REQUESTS, SLO_ERRORS):
                self.record(name + SAMPLED, self.slo_read(name, SAMPLE_EVERY), models)
        for window in (w for w in recorded_windows(self.plan.slo_window) if cadence(w) == every):
            if window != BASE_WINDOW:
                for name in (SLO_REQUESTS, SLO_ERRORS):
                    source = name + (SAMPLED if every == SAMPLE_EVERY else str(BASE_WINDOW))
                    self.record(_window_record(name, window), f"avg_over_time({self.rec(source)}[{window}])", models)
            req = self.rec(_window_record(SLO_REQUESTS, window))
            errors = self.rec(_window_record(SLO_ERRORS, window))
            self.record(_window_record(SLO_RATIO, window), f"{errors}\n/\n({req} > 0)\nor\n0 * {req}", models)

    def slo_budget(self) -> None:
        """Every window a slower group recomputes, copied for dashboards every SLOW_PAIR_EVERY; availability, budget."""
        models = self._slo_models()
        if not models:
            return
        for window in recorded_windows(self.plan.slo_window):
            if cadence(window):
                self.record(SLO_RATIO + str(window), self.slo_read(SLO_RATIO, window), models)
        ratio = self.rec(SLO_RATIO + str(self.plan.slo_window))
        self.record(GOOD, f"1 - {ratio}", models)
        if available := [m for m in models if m.objective("availability")]:
            # The design's name: availability only, one series per model (no `slo` label to sum across by mistake).
            errors = self.rec(SLO_RATIO + str(self.plan.slo_window), eq("slo", "availability"))
            self.record(AVAILABILITY, f"1 - max without (slo) ({errors})", available)
        self.record(BUDGET, f"1 - {ratio}\n/ on (model, slo) group_left ()\n(1 - {self.rec(OBJECTIVE)})", models)

    def slo_read(self, name: str, window: Duration, *matchers: Matcher) -> str:
        """A window's latest value, wherever its cadence records it."""
        latest, every = self.rec(_window_record(name, window), *matchers), cadence(window)
        return latest if every is None else f"last_over_time({latest}[{Duration(every.ms * 2)}])"

    # -- alerts ----------------------------------------------------------------------------------
    def alerts(self) -> None:
        self._burn_rate(fast=True)
        groups: dict[tuple[str, float | None, str, Duration, bool], list[Model]] = defaultdict(list)
        for m in self.plan.models:
            for a in (a for a in m.alerts if a.key not in health.ORDER):  # those: llmmon.emit.health
                mean = a.key == "latency_p99" and m.engine.latency is None  # no histogram: the mean stands in
                groups[(a.key, a.threshold, a.tier, a.for_, mean)].append(m)
        order = {key: i for i, key in enumerate(("latency_p99", "error_rate", "ttft_p95", "gpu_utilization_low",
                                                 "throughput_low", "metrics_absent"))}
        # Rules of one alert and tier must differ in their labels (promtool's duplicate-rules lint): the threshold
        # tells them apart, and `for` where two share a threshold too.
        shared: dict[tuple[str, float | None, str], list[Duration]] = defaultdict(list)
        for key, threshold, tier, for_, _ in groups:
            shared[(key, threshold, tier)].append(for_)
        for (key, threshold, tier, for_, mean), models in sorted(groups.items(),
                                                                 key=lambda kv: (order[kv[0][0]], kv[1][0].name)):
            alert = models[0].alert(key)
            assert alert is not None
            extra = {"threshold": number(threshold)} if threshold is not None else {}
            if mean:
                extra["statistic"] = "mean"
            if len(set(shared[(key, threshold, tier)])) > 1:
                extra["pending"] = str(for_)
            self._threshold_alert(alert, models, extra)

    def slow_burn_alerts(self) -> None:
        """The burn-rate pairs reading windows a slower group recomputes: evaluated every SLOW_PAIR_EVERY, as their
        inputs change every 5m or 30m."""
        self._burn_rate(fast=False)

    def _burn_rate(self, fast: bool) -> None:
        """One rule per burn-rate pair whose windows are all recomputed at every evaluation (`fast`) or not.
        Models sharing an SLO kind, objective and minimum request rate form one term comparing with constants
        (Prometheus compares a series with a number far faster than it joins it to a per-model threshold series):
        three terms for a fleet whose models share their objectives."""
        covered = self._slo_models()
        classes: dict[tuple[str, float, float], list[Model]] = defaultdict(list)
        for m in covered:
            for o in m.objectives:
                classes[(o.kind, o.budget, m.min_request_rate)].append(m)
        if not classes:
            return
        window = self.plan.slo_window
        joined = len(classes) > MAX_BURN_TERMS  # objectives set model by model: join them instead
        for pair in (p for p in BURN_WINDOWS if slo.live(p) == fast):
            factor = number(pair.factor(window))
            if joined:
                over = f"on (model, slo) group_left () ({factor} * (1 - {self.rec(OBJECTIVE)}))"
                terms = [self._burn_term(pair, [], over, f"on (model) group_left () {self.rec(MIN_RATE)}")]
            else:
                terms = [self._burn_term(pair, [eq("slo", kind), *self.among(models, kind)],
                                         number(round(pair.factor(window) * budget, 12)), number(min_rate))
                         for (kind, budget, min_rate), models in sorted(classes.items())]
            spent = f"{number(round(pair.budget_fraction * 100, 6))}%"
            text = alert_text.burn(self.plan, factor, str(pair.long), str(pair.short), spent)
            self.alert("ErrorBudgetBurn", "\nor\n".join(terms if len(terms) == 1 else (f"({t})" for t in terms)),
                       pair.for_, covered, _pair_labels(pair), text["summary"], text["description"])

    def _burn_term(self, pair: BurnWindow, which: list[Matcher], over: str, enough: str) -> str:
        """Both windows of `pair` above `over` while the long window's request rate is at least `enough`."""
        return (f"(\n  {self.slo_read(SLO_RATIO, pair.long, *which)} > {over}\n  and on (model, slo)\n  "
                f"{self.slo_read(SLO_RATIO, pair.short, *which)} > {over}\n)\nand on (model, slo)\n"
                f"{self.slo_read(SLO_REQUESTS, pair.long, *which)} >= {enough}")

    def _threshold_alert(self, alert: Alert, models: list[Model], extra: dict[str, str]) -> None:
        own = self.among(models)
        t = alert.threshold
        labels = {"severity": alert.tier, **extra}
        model = "{{ $labels.model }}"
        held = f"for {alert.for_}" if alert.for_.ms else "now"
        if alert.key == "latency_p99":
            stat = "p99" if models[0].engine.latency else "mean"
            expr = f"{self.rec(LATENCY + ':' + stat, *own)} > {number(t or 0)}"
            summary = f"{model}: {stat} latency above {number(t or 0)}s"
            text = (f"The {stat} end-to-end latency of {model} is {{{{ $value | humanizeDuration }}}} over the last "
                    f"5m, above the {number(t or 0)}s threshold {held}.")
        elif alert.key == "ttft_p95":
            expr = f"{self.rec(TTFT + ':p95', *own)} > {number(t or 0)}"
            summary = f"{model}: p95 time to first token above {number(t or 0)}s"
            text = (f"The p95 time to first token of {model} is {{{{ $value | humanizeDuration }}}} over the last 5m, "
                    f"above the {number(t or 0)}s threshold {held}.")
        elif alert.key == "error_rate":
            # Quiet below the model's minimum request rate, like the burn-rate pages: one failure in ten
            # requests is a 10% ratio that says nothing.
            expr = (f"{self.rec(ERROR_RATIO, *own)} > {number(t or 0)}\nand on (model)\n"
                    f"({self.rec(REQUESTS, *own)} >= on (model) group_left () {self.rec(MIN_RATE, *own)})")
            summary = f"{model}: requests failing above {_pct(t)}"
            text = (f"{{{{ $value | humanizePercentage }}}} of requests to {model} failed over the last 5m, above "
                    f"the {_pct(t)} threshold {held}, at no less than its min_request_rate.")
        elif alert.key == "gpu_utilization_low":
            expr = (f"{self.rec(GPU_UTIL, *own)} < {number(t or 0)}\nand on (model)\n"
                    f"{self.rec(REQUESTS, *own)} > 0")
            summary = f"{model}: GPUs mostly idle (below {_pct(t)})"
            text = (f"The GPUs of {model} are {{{{ $value | humanizePercentage }}}} busy while it serves traffic, "
                    f"below the {_pct(t)} threshold {held}: the allocation may be larger than the load needs.")
        elif alert.key == "throughput_low":
            expr = (f"{self.rec(REQUESTS, *own)} < {number(t or 0)}\nand on (model)\n"
                    f"{self.rec(REQUESTS_1H, *own)} > 0")
            summary = f"{model}: request throughput below {number(t or 0)} req/s"
            text = (f"{model} serves {{{{ $value | printf \"%.2f\" }}}} requests/s over the last 5m, below the "
                    f"{number(t or 0)} req/s threshold {held}, after traffic in the last hour.")
        else:
            expr = f"{self.rec(INFO, *own)}\nunless on (model)\n{self.rec(REQUESTS, *own)}"
            summary = f"{model}: request metrics missing"
            text = (f"No request metrics of {model} (engine {{{{ $labels.engine }}}}, namespace "
                    f"{{{{ $labels.namespace }}}}) for {alert.for_}: its pods are down or no longer scraped.")
        self.alert(alert.name, expr, alert.for_, models, labels, summary, text)


class _Raw:
    """Selectors of one engine's raw series, aggregated to one series per model of the spec."""

    def __init__(self, builder: _Builder, preset: Preset, models: list[Model]) -> None:
        self.preset, self.models = preset, models
        self.namespaces = re_in("namespace", (m.namespace for m in models))
        self.info = builder.rec(INFO, eq("engine", preset.key))

    def histograms(self) -> list[tuple[str, Histogram]]:
        """(recorded base name, histogram) of the latency and TTFT histograms the engine has."""
        return [(base, h) for base, h in ((LATENCY, self.preset.latency), (TTFT, self.preset.ttft)) if h is not None]

    def by_model(self, series: Callable[[list[Matcher]], str], extra: str = "", how: str = "sum",
                 by_pod: bool = False) -> str:
        preset = self.preset
        if preset.by_pod or by_pod:  # no model label: one term per model, selected by namespace and pod name
            by = f" by ({extra})" if extra else ""
            return _union([_per_model(m, f"{how}{by} ({series([eq('namespace', m.namespace), ('pod', '=~', m.pods)])})")
                           for m in self.models], "or")
        keys = ", ".join(["model", *([extra] if extra else [])])
        # Replicas are summed (or averaged) first: the label copy and the join then touch one series per
        # model instead of one per pod (a quarter of the work at 4 replicas).
        label = preset.model_label or ""
        grouping = ", ".join(["namespace", label, *([extra] if extra else [])])
        inner = f"{how} by ({grouping}) ({series([self.namespaces])})"
        return (f"{how} by ({keys}) (\n  label_replace(\n    {inner},\n    \"served_model\", "
                f"\"$1\", {quote(label)}, \"(.*)\"\n  )\n  * on (namespace, served_model) "
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


def _slo_bounds(base: str, histogram: Histogram, models: list[Model]) -> Matcher | None:
    """The `le` matcher of every bucket an SLO threshold of these models falls on, or None without such SLOs."""
    kind = "latency" if base == LATENCY else "ttft"
    alternatives: list[str] = []
    for m in models:
        if objective := m.objective(kind):
            _, op, value = _threshold_le(histogram, objective)
            alternatives.append(value if op == "=~" else re.escape(value))
    return ("le", "=~", "|".join(sorted(set(alternatives)))) if alternatives else None


def _threshold_le(histogram: Histogram, objective: Objective) -> Matcher:
    """The `le` matcher of the bucket a latency or TTFT objective's threshold falls on."""
    assert objective.threshold is not None
    native = histogram.bucket_at(objective.threshold)
    assert native is not None  # checked when the spec was resolved
    return le_matcher(histogram, native)


def _histogram_record(base: str, histogram: Histogram) -> str:
    """The recorded name of a histogram: `base` for seconds, `..._ms` for millisecond histograms."""
    return base if histogram.scale == 1 else base.replace("_seconds", "_ms")


def _window_record(name: str, window: Duration) -> str:
    """Where a window of an SLO series is recorded: `<name><window>`, suffixed `_every<cadence>` when a slower
    group recomputes it (llmmon.slo.cadence)."""
    every = cadence(window)
    return f"{name}{window}" + (f"_every{every}" if every else "")


def _pair_labels(pair: BurnWindow) -> dict[str, str]:
    """What tells burn-rate pairs' alerts apart."""
    return {"severity": pair.tier, "long_window": str(pair.long), "short_window": str(pair.short)}


def _union(terms: list[str], op: str) -> str:
    """`a op b op c ...` nested as a balanced tree: Prometheus matches each `or` against everything on its left,
    so a flat chain of n terms costs n²/2 label hashes, a balanced one n·log n. Left terms still win."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    left, right = _union(terms[:half], op), _union(terms[half:], op)
    return f"{left if half == 1 else f'({left})'}\n{op}\n{right if len(terms) - half == 1 else f'({right})'}"


def _per_model(m: Model, expr: str) -> str:
    return f"label_replace({expr}, \"model\", {quote(m.name)}, \"\", \"\")"


def _scaled(expr: str, gauge: Gauge) -> str:
    return expr if gauge.scale == 1 else f"{expr} * {number(gauge.scale)}"


def _pct(ratio: float | None) -> str:
    return f"{number(round((ratio or 0) * 100, 9))}%"


def build(plan: Plan) -> RuleSet:
    """Every rule group of the plan, in evaluation order."""
    b = _Builder(plan)
    chunks = [plan.models[i:i + STATIC_CHUNK] for i in range(0, len(plan.models), STATIC_CHUNK)]
    for n, chunk in enumerate(chunks, 1):
        b.group("static" if len(chunks) == 1 else f"static-{n:03d}", lambda ms=chunk: b.static(ms),
                interval=STATIC_EVERY)
    by_engine: dict[str, list[Model]] = defaultdict(list)
    for m in plan.models:
        by_engine[m.engine.key].append(m)
    for name, models in sorted(by_engine.items()):
        b.group(f"engine-{name}", lambda p=models[0].engine, ms=models: b.engine(p, ms))
        b.group(f"engine-{name}-detail", lambda p=models[0].engine, ms=models: b.engine_detail(p, ms),
                interval=DETAIL_EVERY)
    for name, models in sorted(by_engine.items()):  # ITL SLOs read at every evaluation (llmmon.emit.insight)
        b.group(f"engine-{name}-itl", lambda p=models[0].engine, ms=models: insight.engine_slo(b, p, ms))
    b.group("edge", b.edge)
    b.group("model", b.derived)
    b.group("model-detail", b.derived_detail, interval=DETAIL_EVERY)
    b.group("pods", b.pod_models, interval=POD_MAP_EVERY)
    b.group("cost", b.cost, interval=DETAIL_EVERY)
    for name, models in sorted(by_engine.items()):
        b.group(f"engine-{name}-pods", lambda p=models[0].engine, ms=models: health.engine_pods(b, p, ms),
                interval=DETAIL_EVERY)
    for name, models in sorted(by_engine.items()):
        b.group(f"engine-{name}-insight", lambda p=models[0].engine, ms=models: insight.engine(b, p, ms),
                interval=DETAIL_EVERY)
    b.group("insight", lambda: insight.fleet(b), interval=DETAIL_EVERY)
    b.group("replicas", lambda: health.replicas(b), interval=DETAIL_EVERY)
    b.group("gpu-health", lambda: health.gpus(b), interval=DETAIL_EVERY)
    b.group("slo", b.slos)
    for every in (MEDIUM_EVERY, SAMPLE_EVERY):
        b.group(f"slo-every{every}", lambda e=every: b.windows(e), interval=every)
    b.group("slo-budget", b.slo_budget, interval=SLOW_PAIR_EVERY)
    b.group("alerts", b.alerts)
    b.group("alerts-slow-burn", b.slow_burn_alerts, interval=SLOW_PAIR_EVERY)
    b.group("alerts-health", lambda: health.alerts(b), interval=DETAIL_EVERY)
    return b.out


__all__ = ["Histogram", "RuleSet", "build"]
