"""promtool unit tests for the generated rules: scripted scenarios, each asserting exactly which alerts fire.

Every scenario feeds every model synthetic raw series in its engine's own metric names. For each model
the test asserts the full set of firing alerts (alertname, severity, slo), so an alert that fails to fire
and one that fires when it should not both fail the test. Healthy and idle scenarios expect silence.
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from llmmon.emit import insight
from llmmon.emit import prometheus as rules
from llmmon.engines import Histogram
from llmmon.model import Model, Plan
from llmmon.promql import SPEC_LABEL, eq, number, quote, selector
from llmmon.slo import BURN_WINDOWS

STEP_MINUTES = 1  # input series resolution
EVAL_MINUTES = 5  # rule evaluation interval in the tests
TOKENS_IN, TOKENS_OUT = 400.0, 600.0  # tokens/s of a busy model: 1000 in all
CPU_CORES = 2.0
GPU_WATTS, GPU_SM_MHZ = 450.0, 1980.0  # every GPU's power draw and SM clock


@dataclass(frozen=True)
class Load:
    """What one model does during a scenario."""

    present: bool = True
    rps: float = 0.0
    error_ratio: float = 0.0
    latency: float = 0.0  # seconds: every request lands in this bucket
    ttft: float = 0.0
    gpu_percent: float = 0.0
    tokens: bool = True
    cpu: bool = True
    # engine depth (llmmon.emit.health): per-replica load, replicas gone, pod and GPU faults
    kv_cache: float = 0.5
    waiting: float = 0.0  # requests waiting per replica
    preemptions: float = 0.0  # per second, all replicas
    replicas_down: int = 0  # replicas whose series are gone while their pods still run
    restarts_per_hour: float = 0.0  # of the first pod
    pending: bool = False  # one more pod stuck in Pending
    gpu_temp: float = 60.0
    xid: float = 0.0  # XID code on the first GPU of the first pod
    first_error_ratio: float | None = None  # the first replica's error ratio, when it differs from the others'
    itl: float = 0.0  # seconds between output tokens: every one lands in this bucket

    def model_error_ratio(self, replicas: int) -> float:
        """The error ratio of the model as a whole."""
        if self.first_error_ratio is None or replicas < 2:
            return self.error_ratio if self.first_error_ratio is None else self.first_error_ratio
        return (self.first_error_ratio + (replicas - 1) * self.error_ratio) / replicas


def _bucket_healthy(h: Histogram, limits: list[float]) -> float:
    """The largest bound (seconds) at or under every limit, so quantiles stay below them."""
    ceiling = min(limits) if limits else h.seconds[0]
    fitting = [b for b in h.seconds if b <= ceiling * 1.001]
    return fitting[-1] if fitting else h.seconds[0]


def _bucket_slow(h: Histogram, limits: list[float]) -> float:
    """A bound (seconds) whose lower neighbour is at or over every limit: quantiles land above all of them."""
    floor = max(limits)
    bounds = [*h.seconds, math.inf]
    for lower, upper in itertools.pairwise(bounds):
        if lower >= floor * 0.999:
            return upper
    return math.inf


def _bounds(h: Histogram, value: float, limits: list[float]) -> list[float]:
    """The bounds (seconds) a synthetic histogram carries: the observation's, the thresholds' and their
    lower neighbours. A subset of the engine's buckets is enough for histogram_quantile and the SLO."""
    return list(_bounds_of(h, value, tuple(limits)))


@functools.lru_cache(maxsize=4096)  # a fleet's models share a few presets and thresholds
def _bounds_of(h: Histogram, value: float, limits: tuple[float, ...]) -> tuple[float, ...]:
    wanted = {value}
    for bound in (value, *limits):
        snapped = min(h.seconds, key=lambda b: abs(b - bound)) if not math.isinf(bound) else bound
        if abs(snapped - bound) <= 0.001 * bound:
            wanted.add(snapped)
        below = [b for b in h.seconds if b < bound * 0.999]
        if below:
            wanted.add(below[-1])
    return tuple(sorted(b for b in wanted if b in h.seconds))


def _limits(m: Model, alert_key: str, slo_kind: str) -> list[float]:
    out = []
    if (a := m.alert(alert_key)) and a.threshold is not None:
        out.append(a.threshold)
    if (o := m.objective(slo_kind)) and o.threshold is not None:
        out.append(o.threshold)
    return out


def _healthy(m: Model, plan: Plan) -> Load:
    throughput = m.alert("throughput_low")
    rps = math.ceil(max(1.0, 2 * (throughput.threshold or 0 if throughput else 0), 2 * m.min_request_rate))
    caps = []
    if (a := m.alert("error_rate")) and a.threshold:
        caps.append(a.threshold)
    if o := m.objective("availability"):
        caps.append(o.budget * min(p.factor(plan.slo_window) for p in BURN_WINDOWS))  # under every burn pair
    error_ratio = round(min(caps) / 10, 9) if caps else 0.0001
    gpu = m.alert("gpu_utilization_low")
    gpu_percent = round(100 - (100 - (gpu.threshold or 0) * 100) / 2, 6) if gpu else 80.0
    limits = _limits(m, "latency_p99", "latency")
    if m.engine.latency:
        latency = _bucket_healthy(m.engine.latency, limits)
    else:  # mean latency only: a quarter of the threshold
        latency = round(min(limits) / 4, 6) if limits else 0.5
    ttft = _bucket_healthy(m.engine.ttft, _limits(m, "ttft_p95", "ttft")) if m.engine.ttft else 0
    itl = _bucket_healthy(m.engine.itl, _limits(m, "itl_p99", "itl")) if m.engine.itl else 0
    return Load(rps=float(rps), error_ratio=error_ratio, latency=latency, ttft=ttft, gpu_percent=gpu_percent,
                itl=itl)


@dataclass(frozen=True)
class Scenario:
    """A named situation: how each model's load changes, and what must fire for it."""

    name: str
    description: str
    load: Callable[[Model, Load], Load]
    expect: Callable[[Model, Plan], list[dict[str, str]]]


def _burns(m: Model, plan: Plan, kind: str, ratio: float) -> list[dict[str, str]]:
    o = m.objective(kind)
    if o is None:
        return []
    tiers = {p.tier for p in BURN_WINDOWS if ratio > p.factor(plan.slo_window) * o.budget}
    return [{"alertname": "ErrorBudgetBurn", "severity": t, "slo": kind} for t in sorted(tiers)]


def _fires(m: Model, key: str) -> list[dict[str, str]]:
    a = m.alert(key)
    return [{"alertname": a.name, "severity": a.tier}] if a else []


def _slow(m: Model, load: Load, which: str) -> Load:
    histogram = m.engine.latency if which == "latency" else m.engine.ttft
    limits = _limits(m, "latency_p99" if which == "latency" else "ttft_p95", which)
    if which == "latency" and histogram is None and m.engine.latency_sum and limits:
        return replace(load, latency=round(max(limits) * 2, 6))  # mean latency only: twice the threshold
    if histogram is None or not limits:
        return load
    slow = _bucket_slow(histogram, limits)
    return replace(load, latency=slow) if which == "latency" else replace(load, ttft=slow)


def _gpu_signal(m: Model, plan: Plan) -> bool:
    if plan.gpu_exporter in ("dcgm", "nvml"):
        return m.gpu_type is not None and m.pod_example is not None
    return m.engine.gpu_utilization is not None


SCENARIOS = (
    Scenario("healthy", "steady traffic, few errors, fast responses, busy GPUs: nothing fires",
             lambda m, h: h, lambda m, p: []),
    Scenario("idle", "counters present but no traffic at all: nothing fires, ratios stay 0, never NaN",
             lambda m, h: replace(h, rps=0.0, error_ratio=0.0, gpu_percent=0.0, tokens=False, cpu=False),
             lambda m, p: []),
    Scenario("outage", "every request fails",
             lambda m, h: replace(h, error_ratio=1.0),
             lambda m, p: _fires(m, "error_rate") + _burns(m, p, "availability", 1.0)),
    Scenario("slow", "every request is slower than the latency thresholds",
             lambda m, h: _slow(m, h, "latency"),
             lambda m, p: (_fires(m, "latency_p99") + _burns(m, p, "latency", 1.0))
             if _limits(m, "latency_p99", "latency") and (m.engine.latency or m.engine.latency_sum) else []),
    Scenario("slow-first-token", "every first token comes later than the TTFT thresholds",
             lambda m, h: _slow(m, h, "ttft"),
             lambda m, p: (_fires(m, "ttft_p95") + _burns(m, p, "ttft", 1.0))
             if _limits(m, "ttft_p95", "ttft") and m.engine.ttft else []),
    Scenario("idle-gpus", "traffic is served but the GPUs are far below the utilisation threshold",
             lambda m, h: replace(h, gpu_percent=round((a.threshold or 0) * 50, 6))
             if (a := m.alert("gpu_utilization_low")) else h,
             lambda m, p: _fires(m, "gpu_utilization_low") if _gpu_signal(m, p) else []),
    Scenario("low-throughput", "traffic falls to half the throughput floor",
             lambda m, h: replace(h, rps=(a.threshold or 0) / 2) if (a := m.alert("throughput_low")) else h,
             lambda m, p: _fires(m, "throughput_low")),
    Scenario("absent", "no series of the model at all: its pods are gone",
             lambda m, h: replace(h, present=False),
             lambda m, p: _fires(m, "metrics_absent")),
    # engine depth (llmmon.emit.health, llmmon.emit.insight): warnings before an SLO burns
    Scenario("slow-tokens", "every output token comes later than the inter-token latency threshold",
             lambda m, h: replace(h, itl=_bucket_slow(m.engine.itl, _limits(m, "itl_p99", "itl")))
             if m.engine.itl and _limits(m, "itl_p99", "itl") else h,
             lambda m, p: _fires(m, "itl_p99") + _burns(m, p, "itl", 1.0) if m.engine.itl else []),
    Scenario("kv-cache-full", "every replica's KV cache is 97% full while latency is still fine",
             lambda m, h: replace(h, kv_cache=0.97),
             lambda m, p: _fires(m, "kv_cache_high") if (a := m.alert("kv_cache_high")) and (a.threshold or 1) < 0.97
             else []),
    Scenario("queue-build-up", "requests wait at every replica, twice the queue threshold",
             lambda m, h: replace(h, waiting=2 * (a.threshold or 0)) if (a := m.alert("queue_high")) else h,
             lambda m, p: _fires(m, "queue_high")),
    Scenario("preempting", "the engine preempts requests at twice the threshold rate",
             lambda m, h: replace(h, preemptions=2 * (a.threshold or 0)) if (a := m.alert("preemptions")) else h,
             lambda m, p: _fires(m, "preemptions")),
    Scenario("replica-down", "one replica stops reporting while its pod still runs and the others serve",
             lambda m, h: replace(h, replicas_down=1),
             lambda m, p: _fires(m, "replicas_missing") if len(pod_names(m)) > 1 else []),
    Scenario("replica-errors", "one replica fails half its requests while its siblings are healthy",
             lambda m, h: replace(h, first_error_ratio=OUTLIER_ERROR_RATIO) if len(pod_names(m)) > 1 else h,
             lambda m, p: _outlier_expected(m, p)),
    Scenario("restart-loop", "one pod restarts four times the threshold per hour",
             lambda m, h: replace(h, restarts_per_hour=4 * (a.threshold or 0)) if (a := m.alert("pod_restarts"))
             else h,
             lambda m, p: _fires(m, "pod_restarts")),
    Scenario("pod-pending", "one more pod of the model cannot be scheduled",
             lambda m, h: replace(h, pending=True),
             lambda m, p: _fires(m, "pods_pending") if len(pod_names(m, len(pod_names(m)) + 1)) > len(pod_names(m))
             else []),
    Scenario("gpu-xid", "the first GPU of one replica reports XID 79 (fallen off the bus)",
             lambda m, h: replace(h, xid=79.0),
             lambda m, p: _fires(m, "gpu_xid") if _dcgm_gpus(m, p) else []),
    Scenario("gpu-hot", "the model's GPUs run 10 C above the temperature threshold",
             lambda m, h: replace(h, gpu_temp=(a.threshold or 0) + 10) if (a := m.alert("gpu_temperature")) else h,
             lambda m, p: _fires(m, "gpu_temperature") if _dcgm_gpus(m, p) else []),
)
OUTLIER_ERROR_RATIO = 0.5  # the failing replica's share of failed requests in the replica-errors scenario


def _dcgm_gpus(m: Model, plan: Plan) -> bool:
    return plan.gpu_exporter == "dcgm" and m.gpu_type is not None and m.pod_example is not None


def _outlier_ratio(m: Model, plan: Plan) -> float:
    """The model's error ratio in the replica-errors scenario: one replica at OUTLIER_ERROR_RATIO, the rest healthy."""
    return replace(_healthy(m, plan), first_error_ratio=OUTLIER_ERROR_RATIO).model_error_ratio(len(pod_names(m)))


def _outlier_expected(m: Model, plan: Plan) -> list[dict[str, str]]:
    if len(pod_names(m)) < 2:
        return []
    ratio = _outlier_ratio(m, plan)
    out = _fires(m, "replica_outlier")
    if (a := m.alert("error_rate")) and ratio > (a.threshold or 0):
        out += _fires(m, "error_rate")
    return out + _burns(m, plan, "availability", ratio)


@functools.lru_cache(maxsize=65536)
def _num(value: float) -> str:
    """Twelve significant digits: exact enough at any rate (a 1e-8/min step keeps its digits), free of the
    float noise of the arithmetic (0.30000000000000004)."""
    return number(float(f"{value:.12g}"))


def _counter(per_second: float, steps: int) -> str:
    return f"0+{_num(per_second * 60 * STEP_MINUTES)}x{steps}"


def _gauge(value: float, steps: int) -> str:
    return f"{_num(value)}+0x{steps}"


def _le(h: Histogram, seconds: float) -> str:
    """A bound as the engine's client library prints it, in the histogram's own unit."""
    if math.isinf(seconds):
        return "+Inf"
    native = h.buckets[h.seconds.index(seconds)]
    if h.le_style == "go":
        return number(native)
    return repr(float(native))  # Python client ("2.0") and shortest float text ("0.00015000000000000001")


class _Series:
    def __init__(self, plan: Plan, steps: int) -> None:
        self.plan, self.steps = plan, steps
        self.items: list[dict[str, str]] = []

    def add(self, metric: str, labels: dict[str, str], values: str) -> None:
        # selector(metric, *(eq(k, v) ...)) written out: this runs for every series of every model's tests
        inner = ", ".join([f"{k}={quote(v)}" for k, v in sorted(labels.items())])
        self.items.append({"series": f"{metric}{{{inner}}}" if inner else metric, "values": values})

    def model(self, m: Model, load: Load) -> None:
        if not load.present:
            return
        names = pod_names(m)
        serving = names[:len(names) - min(load.replicas_down, len(names) - 1)]
        for i, pod in enumerate(serving):
            self._replica(m, load, pod, 1 / len(serving), first=i == 0)
        for pod in names:  # kube-state-metrics sees every pod, serving or not
            self.add("kube_pod_status_ready", {"namespace": m.namespace, "pod": pod, "condition": "true"},
                     _gauge(1, self.steps))
            restarts = load.restarts_per_hour if pod == names[0] else 0.0
            self.add("kube_pod_container_status_restarts_total", {"namespace": m.namespace, "pod": pod,
                                                                   "container": "server"},
                     _counter(restarts / 3600, self.steps))
        if load.pending and (extra := pod_names(m, len(names) + 1)[len(names):]):
            self.add("kube_pod_status_phase", {"namespace": m.namespace, "pod": extra[0], "phase": "Pending"},
                     _gauge(1, self.steps))

    def _replica(self, m: Model, load: Load, pod: str, share: float, first: bool) -> None:
        """One replica's series: `share` of the model's traffic."""
        e, s = m.engine, self.steps
        pod_only = {"namespace": m.namespace, "pod": pod}
        base = {**pod_only, **({e.model_label: m.served_name} if e.model_label else {})}
        # Counters without the model label (vLLM's HTTP counters) carry only the pod's labels.
        req_base, err_base = (pod_only if e.requests.by_pod else base), (pod_only if e.errors.by_pod else base)
        ok = {**req_base, **dict(e.requests.labels), **dict(e.requests.synth), **dict(e.ok_labels)}
        failed = {**err_base, **dict(e.errors.labels), **dict(e.errors.synth)}
        rps = load.rps * share
        ratio = load.first_error_ratio if first and load.first_error_ratio is not None else load.error_ratio
        ok_rps, failed_rps = rps * (1 - ratio), rps * ratio
        latency_limits = _limits(m, "latency_p99", "latency")
        if m.edge is not None:  # requests and errors counted in front of the engine: the proxy's series
            where = {**(pod_only if m.edge.by_pod else {}), **dict(m.edge.labels)}
            self.add(m.edge.metric, {**where, **dict([m.edge.ok_synth])}, _counter(ok_rps, s))
            self.add(m.edge.metric, {**where, **dict([m.edge.error_synth])}, _counter(failed_rps, s))
        if e.histogram_backed_requests and e.latency and e.errors.metric == e.requests.metric:
            # requests are the histogram's own count, failures a label of it (OpenTelemetry)
            self._histogram(e.latency, ok, ok_rps, load.latency, latency_limits)
            self._histogram(e.latency, failed, failed_rps, load.latency, latency_limits)
        else:
            if e.histogram_backed_requests:  # requests are the histogram's count; failures a counter apart
                pass
            elif e.errors.metric in e.requests.names:  # one family split by outcome
                self.add(e.requests.metric, ok, _counter(ok_rps, s))
            else:  # a total and a separate failure counter
                self.add(e.requests.metric, {**req_base, **dict(e.requests.labels), **dict(e.requests.synth)},
                         _counter(rps, s))
            self.add(e.errors.metric, failed, _counter(failed_rps, s))
            if e.latency:
                self._histogram(e.latency, base, rps, load.latency, latency_limits)
        if e.latency_sum:
            self.add(e.latency_sum.metric, base, _counter(rps * load.latency / e.latency_sum_scale, s))
        if e.ttft:
            self._histogram(e.ttft, base, rps, load.ttft, _limits(m, "ttft_p95", "ttft"))
        if e.itl:
            self._histogram(e.itl, base, rps, load.itl, _limits(m, "itl_p99", "itl"))
        for _, metric in e.phases:  # every request spends a tenth of a second in each phase
            self._one_bucket(metric, base, rps, 0.1, 1.0)
        for kind, metric in e.lengths:
            self._one_bucket(metric, base, rps, TOKENS_IN if kind == "prompt" else TOKENS_OUT, 1000.0)
        if e.finished and e.finish_reason_label:  # finish reasons from their own counter (vLLM)
            self.add(e.finished.metric, {**base, e.finish_reason_label: "stop"}, _counter(rps, s))
        if e.prefix_cache:
            hits, queries = e.prefix_cache
            self.add(queries, base, _counter(TOKENS_IN * share if load.tokens else 0, s))
            self.add(hits, base, _counter(TOKENS_IN * share * 0.4 if load.tokens else 0, s))
        for counter, rate in ((e.input_tokens, TOKENS_IN), (e.output_tokens, TOKENS_OUT)):
            if counter:
                self.add(counter.metric, {**base, **dict(counter.labels)},
                         _counter(rate * share if load.tokens else 0, s))
        for key, gauge in sorted(e.gauges.items()):
            value = {"running": rps * load.latency, "waiting": load.waiting, "kv_cache": load.kv_cache}.get(key, 0.0)
            self.add(gauge.metric, base, _gauge(value / gauge.scale, s))
        if e.preemptions:
            self.add(e.preemptions.metric, base, _counter(load.preemptions * share, s))
        insight.feed(self.add, e, base, pod_only, TOKENS_OUT * share if load.tokens else 0, s)
        self._gpu(m, load, pod, base, first)
        if self.plan.cpu_core_hourly:
            self.add("container_cpu_usage_seconds_total", {"namespace": m.namespace, "pod": pod, "container": "server"},
                     _counter(CPU_CORES * share if load.cpu else 0, s))

    def _one_bucket(self, metric: str, labels: dict[str, str], rps: float, value: float, bound: float) -> None:
        """A histogram whose every observation is `value`, under one finite bucket `bound`."""
        for le in (repr(bound), "+Inf"):
            self.add(metric + "_bucket", {**labels, "le": le}, _counter(rps, self.steps))
        self.add(metric + "_count", labels, _counter(rps, self.steps))
        self.add(metric + "_sum", labels, _counter(rps * value, self.steps))

    def _histogram(self, h: Histogram, labels: dict[str, str], rps: float, value: float, limits: list[float]) -> None:
        """Every observation lands in the bucket bounded by `value` (seconds)."""
        for bound in [*_bounds(h, value, limits), math.inf]:
            per_s = rps if bound >= value else 0.0
            self.add(h.metric + "_bucket", {**labels, "le": _le(h, bound)}, _counter(per_s, self.steps))
        self.add(h.metric + "_count", labels, _counter(rps, self.steps))
        observed = value if not math.isinf(value) else h.seconds[-1] * 2
        self.add(h.metric + "_sum", labels, _counter(rps * observed / h.scale, self.steps))

    def _gpu(self, m: Model, load: Load, pod: str, base: dict[str, str], first: bool) -> None:
        s, kind = self.steps, self.plan.gpu_exporter
        if kind == "dcgm" and m.gpu_type and m.pod_example:
            for gpu in range(min(m.gpu_count, 2)):
                labels = {"namespace": m.namespace, "pod": pod, "gpu": str(gpu), "UUID": f"GPU-{pod}-{gpu}",
                          "modelName": m.gpu_type}
                self.add("DCGM_FI_DEV_GPU_UTIL", labels, _gauge(load.gpu_percent, s))
                self.add("DCGM_FI_DEV_GPU_TEMP", labels, _gauge(load.gpu_temp, s))
                self.add("DCGM_FI_DEV_XID_ERRORS", labels, _gauge(load.xid if first and gpu == 0 else 0, s))
                self.add("DCGM_FI_DEV_ROW_REMAP_FAILURE", labels, _gauge(0, s))
                self.add("DCGM_FI_DEV_POWER_USAGE", labels, _gauge(GPU_WATTS, s))
                self.add("DCGM_FI_DEV_SM_CLOCK", labels, _gauge(GPU_SM_MHZ, s))
                self.add("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", labels, _counter(0, s))
                self.add("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", labels, _counter(0, s))
                if self.plan.spec.gpu_exporter.profiling:
                    self.add("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", labels, _gauge(load.gpu_percent / 200, s))
        elif kind == "nvml" and m.gpu_type and m.pod_example:
            node = f"node-{m.name}"
            self.add("kube_pod_info", {"namespace": m.namespace, "pod": pod, "node": node}, _gauge(1, s))
            for gpu in range(min(m.gpu_count, 2)):
                labels = {"node": node, "uuid": f"GPU-{m.name}-{gpu}"}
                self.add("nvidia_smi_utilization_gpu_ratio", labels, _gauge(load.gpu_percent / 100, s))
                self.add("nvidia_smi_temperature_gpu", labels, _gauge(load.gpu_temp, s))
                self.add("nvidia_smi_power_draw_watts", labels, _gauge(GPU_WATTS, s))
                self.add("nvidia_smi_clocks_current_sm_clock_hz", labels, _gauge(GPU_SM_MHZ * 1e6, s))
        elif kind == "none" and (gauge := m.engine.gpu_utilization):
            labels = base if gauge.per_model else {"namespace": m.namespace, "pod": pod}
            self.add(gauge.metric, {**labels, "gpu_id": "0"}, _gauge(load.gpu_percent / gauge.scale / 100, s))


def pod_names(m: Model, count: int | None = None) -> list[str]:
    """`count` (default: the spec's replicas, else 1) pod names the model's `pods` regex matches."""
    wanted = count or m.replicas or 1
    first = m.pod_example or f"{m.name}-0"
    candidates = [first, *(f"{m.name}-{i}" for i in range(wanted + 1)), *(f"{first}{i}" for i in range(1, wanted + 1)),
                  *(f"{first}-{i}" for i in range(wanted + 1))]
    out = [c for c in dict.fromkeys(candidates) if re.fullmatch(m.pods, c)]
    # any regex: one character of the example changed or inserted, wherever the regex still matches
    for i in range(len(first) + 1):
        for c in "0123456789abcdefghijklmnopqrstuvwxyz":
            if len(out) >= wanted:
                return out[:wanted]
            for name in (first[:i] + c + first[i + 1:], first[:i] + c + first[i:]):
                if name not in out and re.fullmatch(m.pods, name):
                    out.append(name)
    return out[:wanted] if len(out) >= wanted else [first]


def _value_checks(plan: Plan, scenario: str, m: Model, load: Load, eval_time: str) -> list[dict[str, Any]]:
    """Assertions on recorded values, in the scenarios where they are known exactly."""
    spec, one = eq(SPEC_LABEL, plan.name), eq("model", m.name)

    def check(metric: str, scale: float, expected: float, *extra: tuple[str, str, str]) -> dict[str, Any]:
        # round() of the scaled value, shifted so that the expected value sits on an integer: float noise in
        # Prometheus cannot flip the rounding (a .5 tie could), and a failure still prints the value it read
        scaled = expected * scale
        shift = float(f"{scaled - round(scaled):.6g}")
        offset = f" - {number(shift)}" if shift > 0 else f" + {number(-shift)}" if shift < 0 else ""
        expr = f"round(sum({selector(metric, spec, one, *extra)}) * {number(scale)}{offset})"
        sample = {"labels": "{}", "value": round(scaled)}
        return {"expr": expr, "eval_time": eval_time, "exp_samples": [sample]}

    if not load.present:
        return []
    error_ratio = load.model_error_ratio(len(pod_names(m)))
    out = [check(rules.ERROR_RATIO, 1e6, error_ratio)]
    if o := m.objective("availability"):
        out.append(check(rules.BUDGET, 1e3, 1 - error_ratio / o.budget, eq("slo", "availability")))
    if scenario == "healthy":
        cpu = CPU_CORES * (plan.cpu_core_hourly or 0)
        tokens_per_hour = (TOKENS_IN + TOKENS_OUT) * 3600 / 1e6
        if m.engine.input_tokens and m.engine.output_tokens:
            out.append(check(rules.COST_PER_MTOK, 1e3, (m.gpu_hourly_cost + cpu) / tokens_per_hour))
        if m.engine.latency:
            out.append(check(rules.LATENCY + ":p99", 1e3, _quantile(m.engine.latency, load, 0.99, m, "latency")))
    return out


def _quantile(h: Histogram, load: Load, q: float, m: Model, kind: str) -> float:
    """What histogram_quantile returns (seconds) for the buckets _Series writes: all in one bucket."""
    limits = _limits(m, "latency_p99" if kind == "latency" else "ttft_p95", kind)
    value = load.latency if kind == "latency" else load.ttft
    lower = max((b for b in _bounds(h, value, limits) if b < value), default=0.0)
    return lower + (value - lower) * q


def _pending(m: Model, expected: dict[str, str]) -> int:
    """The `for` (ms) of an expected alert."""
    if expected["alertname"] == "ErrorBudgetBurn":
        return max(p.for_.ms for p in BURN_WINDOWS if p.tier == expected["severity"])
    return next(a.for_.ms for a in m.alerts if a.name == expected["alertname"])


def build(plan: Plan, rule_file: str, groups: list[str]) -> list[tuple[str, dict[str, Any], int]]:
    """One promtool test file per scenario: (scenario name, file content, number of assertions).

    `groups` are the rule groups in dependency order: promtool evaluates groups in a random order unless told,
    and a chain of recording rules evaluated backwards lags one evaluation per link."""
    longest = max([a.for_.ms for m in plan.models for a in m.alerts] + [p.for_.ms for p in BURN_WINDOWS])
    files = []
    for scenario in SCENARIOS:
        expectations = {m.name: sorted(scenario.expect(m, plan), key=lambda e: sorted(e.items()))
                        for m in plan.models}
        # Run until every expected alert has been pending its `for` (silent scenarios: every alert's), plus
        # 20 minutes of rates settling; the healthy scenario also needs a full hour of steady traffic
        # behind it for the 1h token rate of the cost check.
        needed = max((_pending(m, e) for m in plan.models for e in expectations[m.name]), default=longest)
        eval_minutes = max(30, needed // 60000 + 20, 70 if scenario.name == "healthy" else 0)
        eval_minutes = -(-eval_minutes // EVAL_MINUTES) * EVAL_MINUTES  # on the evaluation grid
        steps, eval_time = eval_minutes + 1, f"{eval_minutes}m"
        series = _Series(plan, steps)
        checks: list[dict[str, Any]] = []
        for m in plan.models:
            load = scenario.load(m, _healthy(m, plan))
            series.model(m, load)
            expected = expectations[m.name]
            firing = selector("ALERTS", eq("alertstate", "firing"), eq(SPEC_LABEL, plan.name), eq("model", m.name))
            checks.append({"expr": f"group by (alertname, severity, slo) ({firing})", "eval_time": eval_time,
                           "exp_samples": [{"labels": selector("", *(eq(k, v) for k, v in sorted(e.items()))),
                                            "value": 1} for e in expected]})
            checks.extend(_value_checks(plan, scenario.name, m, load, eval_time))
        group = {"name": f"{scenario.name}: {scenario.description}", "interval": f"{STEP_MINUTES}m",
                 "input_series": series.items, "promql_expr_test": checks}
        content = {"rule_files": [rule_file], "evaluation_interval": f"{EVAL_MINUTES}m",
                   "group_eval_order": groups, "tests": [group]}
        files.append((scenario.name, content, len(checks)))
    return files
