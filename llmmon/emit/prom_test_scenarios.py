"""The promtool test scenarios: each changes every model's healthy load in one way and names exactly the alerts that
must fire for it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from llmmon.emit.prom_test_load import Load, bucket_slow, healthy, limits_of, pod_names
from llmmon.model import Model, Plan
from llmmon.slo import BURN_WINDOWS


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
    limits = limits_of(m, "latency_p99" if which == "latency" else "ttft_p95", which)
    if which == "latency" and histogram is None and m.engine.latency_sum and limits:
        return replace(load, latency=round(max(limits) * 2, 6))  # mean latency only: twice the threshold
    if histogram is None or not limits:
        return load
    slow = bucket_slow(histogram, limits)
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
             if limits_of(m, "latency_p99", "latency") and (m.engine.latency or m.engine.latency_sum) else []),
    Scenario("slow-first-token", "every first token comes later than the TTFT thresholds",
             lambda m, h: _slow(m, h, "ttft"),
             lambda m, p: (_fires(m, "ttft_p95") + _burns(m, p, "ttft", 1.0))
             if limits_of(m, "ttft_p95", "ttft") and m.engine.ttft else []),
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
             lambda m, h: replace(h, itl=bucket_slow(m.engine.itl, limits_of(m, "itl_p99", "itl")))
             if m.engine.itl and limits_of(m, "itl_p99", "itl") else h,
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
    return replace(healthy(m, plan), first_error_ratio=OUTLIER_ERROR_RATIO).model_error_ratio(len(pod_names(m)))


def _outlier_expected(m: Model, plan: Plan) -> list[dict[str, str]]:
    if len(pod_names(m)) < 2:
        return []
    ratio = _outlier_ratio(m, plan)
    out = _fires(m, "replica_outlier")
    if (a := m.alert("error_rate")) and ratio > (a.threshold or 0):
        out += _fires(m, "error_rate")
    return out + _burns(m, plan, "availability", ratio)


