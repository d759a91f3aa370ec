"""The synthetic load of the promtool tests: what a healthy model does (well inside every threshold), the
buckets its latencies land in, and the pod names its `pods` regex matches."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

from llmmon.engines import Histogram
from llmmon.model import Model, Plan
from llmmon.regex import compiled
from llmmon.slo import BURN_WINDOWS

STEP_MINUTES = 1  # input series resolution
EVAL_MINUTES = 5  # rule evaluation interval in the tests
# An alert that must hold longer than this is asserted pending at the end of its scenario, not firing. Waiting out
# a `for` of a day has promtool evaluate every rule some 300 times a scenario instead of 15 (a `for: 30d` tier kept
# `validate` busy for hours), and what the wait adds is Prometheus's `for` clock, not a property of the rule.
FIRING_HORIZON_MS = 2 * 3_600_000
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


def bucket_healthy(h: Histogram, limits: list[float]) -> float:
    """The largest bound (seconds) at or under every limit, so quantiles stay below them."""
    ceiling = min(limits) if limits else h.seconds[0]
    fitting = [b for b in h.seconds if b <= ceiling * 1.001]
    return fitting[-1] if fitting else h.seconds[0]


def bucket_slow(h: Histogram, limits: list[float]) -> float:
    """A bound (seconds) whose lower neighbour is at or over every limit: quantiles land above all of them."""
    floor = max(limits)
    bounds = [*h.seconds, math.inf]
    for lower, upper in itertools.pairwise(bounds):
        if lower >= floor * 0.999:
            return upper
    return math.inf


def bounds(h: Histogram, value: float, limits: list[float]) -> list[float]:
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


def limits_of(m: Model, alert_key: str, slo_kind: str) -> list[float]:
    out = []
    if (a := m.alert(alert_key)) and a.threshold is not None:
        out.append(a.threshold)
    if (o := m.objective(slo_kind)) and o.threshold is not None:
        out.append(o.threshold)
    return out


def healthy(m: Model, plan: Plan) -> Load:
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
    limits = limits_of(m, "latency_p99", "latency")
    if m.engine.latency:
        latency = bucket_healthy(m.engine.latency, limits)
    else:  # mean latency only: a quarter of the threshold
        latency = round(min(limits) / 4, 6) if limits else 0.5
    ttft = bucket_healthy(m.engine.ttft, limits_of(m, "ttft_p95", "ttft")) if m.engine.ttft else 0
    itl = bucket_healthy(m.engine.itl, limits_of(m, "itl_p99", "itl")) if m.engine.itl else 0
    return Load(rps=float(rps), error_ratio=error_ratio, latency=latency, ttft=ttft, gpu_percent=gpu_percent,
                itl=itl)




def pod_names(m: Model, count: int | None = None) -> list[str]:
    """`count` (default: the spec's replicas, else 1) pod names the model's `pods` regex matches."""
    return list(_pod_names(m.name, m.pods, m.pod_example, count or m.replicas or 1))


@functools.lru_cache(maxsize=65536)  # asked for every model in every scenario: computed once per model and count
def _pod_names(name: str, pods: str, example: str | None, wanted: int) -> tuple[str, ...]:
    matches = compiled(pods).fullmatch  # not `re`'s cache, which holds 512 patterns: a fleet has one per model
    first = example or f"{name}-0"
    candidates = [first, *(f"{name}-{i}" for i in range(wanted + 1)), *(f"{first}{i}" for i in range(1, wanted + 1)),
                  *(f"{first}-{i}" for i in range(wanted + 1))]
    out = [c for c in dict.fromkeys(candidates) if matches(c)]
    # any regex: one character of the example changed or inserted, wherever the regex still matches
    for i in range(len(first) + 1):
        for c in "0123456789abcdefghijklmnopqrstuvwxyz":
            if len(out) >= wanted:
                return tuple(out[:wanted])
            for candidate in (first[:i] + c + first[i + 1:], first[:i] + c + first[i:]):
                if candidate not in out and matches(candidate):
                    out.append(candidate)
    return tuple(out[:wanted]) if len(out) >= wanted else (first,)
