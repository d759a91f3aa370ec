"""The input series of the promtool tests: every model's load written as its engine's raw series, per replica,
with kube-state-metrics and GPU exporter series."""

from __future__ import annotations

import functools
import math
from typing import Any

from llmmon.emit import insight
from llmmon.emit.prom_test_load import (
    CPU_CORES,
    GPU_SM_MHZ,
    GPU_WATTS,
    STEP_MINUTES,
    TOKENS_IN,
    TOKENS_OUT,
    Load,
    bounds,
    limits_of,
    pod_names,
)
from llmmon.engines import Histogram
from llmmon.model import Model, Plan
from llmmon.promql import number, quote


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


class Series:
    """The input series of one scenario, model by model."""

    def __init__(self, plan: Plan, steps: int, names: dict[tuple[Any, ...], str] | None = None) -> None:
        self.plan, self.steps = plan, steps
        self.items: list[dict[str, str]] = []
        # series text by (metric, labels): every scenario writes the same series, with other values
        self.names: dict[tuple[Any, ...], str] = {} if names is None else names

    def add(self, metric: str, labels: dict[str, str], values: str) -> None:
        key = (metric, *labels.items())
        name = self.names.get(key)
        if name is None:
            # selector(metric, *(eq(k, v) ...)) written out: this runs for every series of every model's tests
            inner = ", ".join([f"{k}={quote(v)}" for k, v in sorted(labels.items())])
            name = self.names[key] = f"{metric}{{{inner}}}" if inner else metric
        self.items.append({"series": name, "values": values})

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
        latency_limits = limits_of(m, "latency_p99", "latency")
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
            self._histogram(e.ttft, base, rps, load.ttft, limits_of(m, "ttft_p95", "ttft"))
        if e.itl:
            self._histogram(e.itl, base, rps, load.itl, limits_of(m, "itl_p99", "itl"))
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
        for bound in [*bounds(h, value, limits), math.inf]:
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


