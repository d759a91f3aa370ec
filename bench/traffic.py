"""Synthetic traffic of served LLM models as the series their engines export: one truth for the reference
exporter (live), OpenMetrics backfill (history) and promtool input series (incidents).

A model's behaviour is piecewise constant in time (phases). A counter's value is the integral of its
per-second rate since the origin, floored to whole requests as a client library counts them; histogram
buckets count the requests under each bound of a log-normal latency distribution. Series names and labels
come from llmmon's engine presets, so the series are exactly what the generated rules select.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import cast

from prometheus_client import utils

from llmmon.engines import PRESETS, Counter, Histogram, Preset
from llmmon.model import Model

Z99, Z95 = 2.3263478740408408, 1.6448536269514722  # standard normal quantiles of 0.99 and 0.95
# how the Python client prints bucket bounds (2.0, 0.005, +Inf)
_le_text = cast(Callable[[float], str], utils.floatToGoString)
SEED = PRESETS["openai-compatible"]  # the platform's own `llm_*` instrumentation: what the design's rules read


@dataclass(frozen=True)
class Behaviour:
    """What a model does for a while: traffic, failures, latency and TTFT distributions, tokens, GPUs."""

    rps: float = 10.0  # finished requests per second, all replicas together
    error_ratio: float = 0.0
    latency_p50: float = 0.8  # seconds; end-to-end latency is log-normal with this median and p99
    latency_p99: float = 1.6
    ttft_p50: float = 0.15  # seconds; time to first token is log-normal with this median and p95
    ttft_p95: float = 0.5
    tokens_in: float = 50.0  # per request
    tokens_out: float = 75.0
    gpu_percent: float = 65.0
    gpu_memory_mib: float = 60000.0
    cpu_cores: float = 2.0  # all replicas together
    up: bool = True  # False: the pods are gone, no series at all
    # engine depth (issue 21): saturation, replicas and GPU health
    kv_cache: float = 0.5  # KV-cache usage of every replica (0-1)
    waiting: float = 0.0  # requests waiting at every replica
    preemptions: float = 0.0  # requests preempted per second, all replicas
    replicas_down: float = 0.0  # the last replicas' series are gone while their pods still run
    restarts_per_hour: float = 0.0  # container restarts of the first pod
    gpu_temp: float = 62.0  # degrees C of every GPU
    gpu_power: float = 450.0  # watts of every GPU
    sm_clock: float = 1980.0  # MHz
    xid: float = 0.0  # XID code reported by the first GPU of the first pod
    itl_p50: float = 0.03  # seconds between output tokens (log-normal, like latency)
    itl_p99: float = 0.08
    queue_share: float = 0.05  # share of a request's mean latency spent queued (the rest: prefill 20%, decode)
    prefix_hit: float = 0.4  # share of prompt tokens served from the prefix cache
    spec_drafted: float = 0.5  # draft tokens proposed per output token (speculative decoding)
    spec_accepted: float = 0.6  # share of them the target model accepts

    def itl_share(self, bound: float) -> float:
        """Share of inter-token gaps within `bound` seconds."""
        return _lognormal_cdf(bound, self.itl_p50, math.log(self.itl_p99 / self.itl_p50) / Z99)

    @property
    def latency_sigma(self) -> float:
        """Log-space standard deviation of the latency distribution."""
        return math.log(self.latency_p99 / self.latency_p50) / Z99

    @property
    def ttft_sigma(self) -> float:
        """Log-space standard deviation of the TTFT distribution."""
        return math.log(self.ttft_p95 / self.ttft_p50) / Z95

    def latency_share(self, bound: float) -> float:
        """Share of requests that finish within `bound` seconds."""
        return _lognormal_cdf(bound, self.latency_p50, self.latency_sigma)

    def ttft_share(self, bound: float) -> float:
        """Share of requests whose first token comes within `bound` seconds."""
        return _lognormal_cdf(bound, self.ttft_p50, self.ttft_sigma)

    @property
    def latency_mean(self) -> float:
        """Mean end-to-end latency (seconds)."""
        return self.latency_p50 * math.exp(self.latency_sigma ** 2 / 2)

    @property
    def ttft_mean(self) -> float:
        """Mean time to first token (seconds)."""
        return self.ttft_p50 * math.exp(self.ttft_sigma ** 2 / 2)


def _lognormal_cdf(x: float, median: float, sigma: float) -> float:
    if math.isinf(x):
        return 1.0
    if x <= 0:
        return 0.0
    if sigma <= 0:
        return 1.0 if x >= median else 0.0
    return 0.5 * (1 + math.erf(math.log(x / median) / (sigma * math.sqrt(2))))


@dataclass(frozen=True)
class Timeline:
    """Phases (start time in seconds, behaviour) in time order; counters are 0 at `origin`."""

    origin: float
    phases: tuple[tuple[float, Behaviour], ...]

    def at(self, t: float) -> Behaviour:
        """The behaviour in force at time t."""
        current = self.phases[0][1]
        for start, behaviour in self.phases:
            if start > t:
                break
            current = behaviour
        return current

    @property
    def steady(self) -> bool:
        """True when the behaviour never changes."""
        return len(self.phases) == 1

    def integral(self, t: float, rate: Callable[[Behaviour], float]) -> float:
        """∫ rate(behaviour) from the origin to t, over the phases in which the model is up."""
        total = 0.0
        bounds = [max(start, self.origin) for start, _ in self.phases[1:]] + [math.inf]
        begin = self.origin
        for (_, behaviour), end in zip(self.phases, bounds, strict=True):
            if begin >= t:
                break
            stop = min(end, t)
            if stop > begin and behaviour.up:
                total += rate(behaviour) * (stop - begin)
            begin = max(begin, stop)
        return total


Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Series:
    """One exported series: `counter` values integrate `fn` (per second), `gauge` values are `fn` itself."""

    name: str
    labels: Labels
    kind: str  # "counter" (floored to whole counts), "sum" (a counter of seconds, not floored) or "gauge"
    fn: Callable[[Behaviour], float]
    family: str  # the metric family for exposition
    family_type: str  # counter, gauge, histogram or unknown
    replica: int = -1  # index of the replica exporting it (-1: exported while the model is up at all)
    replicas: int = 1  # replicas of its model

    def live(self, b: Behaviour) -> bool:
        """True while the series exists: the model is up and its replica is not among the ones down."""
        return b.up and (self.replica < 0 or self.replica < self.replicas - int(b.replicas_down))

    def value(self, timeline: Timeline, t: float) -> float | None:
        """The series' value at time t; None while the model (or its replica) is down."""
        if not self.live(timeline.at(t)):
            return None
        if self.kind == "gauge":
            return self.fn(timeline.at(t))
        total = timeline.integral(t, self.fn)
        return float(math.floor(total + 1e-9)) if self.kind == "counter" else round(total, 6)

    def text(self) -> str:
        """`name{labels}` as the exposition formats write it."""
        if not self.labels:
            return self.name
        return self.name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in self.labels) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass(frozen=True)
class Target:
    """A model as it is deployed: its llmmon model, replicas, GPU exporter, and how it behaves over time."""

    model: Model
    timeline: Timeline
    replicas: int = 2
    gpu_exporter: str = "dcgm"  # dcgm | none: which GPU series exist besides the app's own gauge
    seed: bool = True  # also export the seed contract (`llm_*`), as the platform's gateway does
    cpu: bool = True  # export container_cpu_usage_seconds_total (cAdvisor)

    def pods(self) -> list[str]:
        """Pod names of the replicas, matching the model's `pods` regex."""
        names = [f"{self.model.name}-{i}" for i in range(self.replicas)]
        if all(re.fullmatch(self.model.pods, n) for n in names):
            return names
        base = self.model.pod_example or self.model.name
        return [f"{base}{i}" if i else base for i in range(self.replicas)]

    @property
    def gpus_per_pod(self) -> int:
        """GPUs of each replica (at least one)."""
        return max(1, self.model.gpu_count // self.replicas) if self.model.gpu_type else 0


def series(target: Target) -> list[Series]:
    """Every series the target's pods export, in its engine's names (and the seed contract's, when asked)."""
    m, out = target.model, []
    share = 1 / target.replicas
    engine_names = _engine_series(m.engine, m.served_name, share)
    seed_names = _engine_series(SEED, m.name, share) if target.seed and m.engine.name != SEED.name else []
    n = target.replicas
    for i, pod in enumerate(target.pods()):
        base = (("namespace", m.namespace), ("pod", pod))
        for make in [*engine_names, *seed_names]:
            out.append(replace(make(base), replica=i, replicas=n))
        for gpu in range(target.gpus_per_pod):
            out.extend(_gpu_series(target, base, pod, gpu, first=i == 0 and gpu == 0))
        if target.cpu:
            out.append(Series("container_cpu_usage_seconds_total", _sorted((*base, ("container", "server"))),
                              "sum", lambda b: b.cpu_cores * share, "container_cpu_usage_seconds", "counter"))
        # kube-state-metrics: the pod runs (its series exist) even while its engine reports nothing
        out.append(Series("kube_pod_status_ready", _sorted((*base, ("condition", "true"))), "gauge", lambda b: 1.0,
                          "kube_pod_status_ready", "gauge"))
        restarts = (lambda b: b.restarts_per_hour / 3600) if i == 0 else (lambda b: 0.0)
        out.append(Series("kube_pod_container_status_restarts_total", _sorted((*base, ("container", "server"))),
                          "counter", restarts, "kube_pod_container_status_restarts", "counter"))
    return out


Maker = Callable[[Labels], Series]


def _sorted(labels: Labels) -> Labels:
    return tuple(sorted(labels))


def _maker(name: str, labels: Labels, kind: str, fn: Callable[[Behaviour], float], family: str,
           family_type: str) -> Maker:
    """A maker of one series for a pod: the pod's labels are added to `labels`."""
    return lambda base: Series(name, _sorted(base + labels), kind, fn, family, family_type)


def _tokens(attr: str, share: float) -> Callable[[Behaviour], float]:
    return lambda b: b.rps * float(getattr(b, attr)) * share


def _scaled(fn: Callable[[Behaviour], float], scale: float) -> Callable[[Behaviour], float]:
    return lambda b: round(fn(b) / scale, 6)


def _engine_series(p: Preset, served: str, share: float) -> list[Maker]:
    """Makers of one engine's request, latency, TTFT, token and load series for one pod (given its labels)."""
    if p.histogram_backed_requests or p.latency_sum is not None or (p.errors.select and not p.errors.synth):
        raise ValueError(f"engine {p.name} is not supported by the synthetic traffic")
    own: Labels = ((p.model_label, served),) if p.model_label else ()
    makers: list[Maker] = []

    def counter(c: Counter, extra: Labels, fn: Callable[[Behaviour], float]) -> Maker:
        family, kind = (c.metric[:-6], "counter") if c.metric.endswith("_total") else (c.metric, "unknown")
        labels = () if c.by_pod else own  # vLLM's HTTP counters carry no model label: the pod says which model
        return _maker(c.metric, labels + tuple(c.labels) + extra, "counter", fn, family, kind)

    if p.errors.metric in p.requests.names:  # one family split by outcome
        makers.append(counter(p.requests, tuple(p.requests.synth) + tuple(p.ok_labels),
                              lambda b: b.rps * (1 - b.error_ratio) * share))
    else:  # a total and a separate failure counter
        makers.append(counter(p.requests, tuple(p.requests.synth), lambda b: b.rps * share))
    makers.append(counter(p.errors, tuple(p.errors.synth), lambda b: b.rps * b.error_ratio * share))
    if p.engine_errors is not None and p.engine_errors.metric not in (p.requests.metric, p.errors.metric):
        # The engine's own finished-request counter, as a real vLLM shows it: requests answered 5xx never finish
        # in the engine, and no "error" reason appears; nine in ten stop, one in ten hits the length limit.
        engine = Counter(p.engine_errors.metric)

        def finished(part: float) -> Callable[[Behaviour], float]:
            return lambda b: b.rps * (1 - b.error_ratio) * part * share

        for reason, part in (("stop", 0.9), ("length", 0.1)):
            makers.append(counter(engine, (("finished_reason", reason),), finished(part)))
    for histogram, which in ((p.latency, "latency"), (p.ttft, "ttft")):
        if histogram is not None:
            makers.extend(_histogram(histogram, own, which, share))
    from_lengths = {f"{metric}_sum" for _, metric in p.lengths}  # TGI: the tokens are its length histograms' sums
    for c, per_request in ((p.input_tokens, "tokens_in"), (p.output_tokens, "tokens_out")):
        if c is not None and c.metric not in from_lengths:  # those come with the histograms (_insight_series)
            makers.append(counter(c, (), _tokens(per_request, share)))
    gauge_fns: dict[str, Callable[[Behaviour], float]] = {
        "running": lambda b: b.rps * b.latency_mean * share, "waiting": lambda b: b.waiting,
        "kv_cache": lambda b: b.kv_cache}
    for key, gauge in sorted(p.gauges.items()):
        makers.append(_maker(gauge.metric, own, "gauge", _scaled(gauge_fns[key], gauge.scale), gauge.metric, "gauge"))
    if p.preemptions is not None:
        makers.append(counter(p.preemptions, (), lambda b: b.preemptions * share))
    makers.extend(_insight_series(p, own, share))
    return makers


def _insight_series(p: Preset, own: Labels, share: float) -> list[Maker]:
    """ITL (one observation per output token), phase times, prefix-cache counters and per-request lengths."""
    makers: list[Maker] = []
    def tokens(b: Behaviour) -> float:
        return b.rps * b.tokens_out * share

    def requests(b: Behaviour) -> float:
        return b.rps * share

    if p.itl is not None:
        h = p.itl

        def gaps_under(bound: float) -> Callable[[Behaviour], float]:
            return lambda b: tokens(b) * b.itl_share(bound)

        for native, seconds in [*zip(h.buckets, h.seconds, strict=True), (math.inf, math.inf)]:
            le = (("le", _le_text(native)),)
            makers.append(_maker(h.metric + "_bucket", own + le, "counter", gaps_under(seconds), h.metric,
                                 "histogram"))
        makers.append(_maker(h.metric + "_count", own, "counter", tokens, h.metric, "histogram"))
        makers.append(_maker(h.metric + "_sum", own, "sum", lambda b: tokens(b) * b.itl_p50 / h.scale, h.metric,
                             "histogram"))
    parts: dict[str, Callable[[Behaviour], float]] = {
        "queue": lambda b: b.queue_share, "prefill": lambda b: 0.2, "inference": lambda b: 1 - b.queue_share,
        "decode": lambda b: 0.8 - b.queue_share}

    def spent(part: Callable[[Behaviour], float]) -> Callable[[Behaviour], float]:
        return lambda b: b.latency_mean * part(b)

    for phase, metric in p.phases:
        makers += _mean_only(metric, own, requests, spent(parts[phase]))
    if p.prefix_cache is not None:
        hits, queries = p.prefix_cache
        makers.append(_maker(queries, own, "counter", lambda b: b.rps * b.tokens_in * share, queries[:-6], "counter"))
        makers.append(_maker(hits, own, "counter", lambda b: b.rps * b.tokens_in * share * b.prefix_hit, hits[:-6],
                             "counter"))
    for kind, metric in p.lengths:
        per_request = (lambda b: b.tokens_in) if kind == "prompt" else (lambda b: b.tokens_out)
        makers += _mean_only(metric, own, requests, per_request, bounds=(1.0, 10.0, 100.0, 1000.0))
    if p.spec_decode is not None:  # the draft model proposes `spec_drafted` tokens per output token
        accepted, proposed = p.spec_decode
        makers.append(_maker(proposed, own, "counter", lambda b: tokens(b) * b.spec_drafted, proposed[:-6], "counter"))
        makers.append(_maker(accepted, own, "counter", lambda b: tokens(b) * b.spec_drafted * b.spec_accepted,
                             accepted[:-6], "counter"))
    elif p.spec_accept_gauge is not None:
        makers.append(_maker(p.spec_accept_gauge, own, "gauge", lambda b: b.spec_accepted, p.spec_accept_gauge,
                             "gauge"))
    if p.lora_info is not None:  # no model label: the pod tells; the value is when it was set
        lora = (("max_lora", "4"), ("running_lora_adapters", "sql-tuned,support-tuned"),
                ("waiting_lora_adapters", "sql-tuned"))
        makers.append(_maker(p.lora_info, lora, "gauge", lambda b: 1.7e9, p.lora_info, "gauge"))
    return makers


def _mean_only(metric: str, own: Labels, rate: Callable[[Behaviour], float], value: Callable[[Behaviour], float],
               bounds: tuple[float, ...] = ()) -> list[Maker]:
    """A histogram whose every observation equals `value`: right mean, quantiles within one bucket."""
    def under(bound: float) -> Callable[[Behaviour], float]:
        return lambda b: rate(b) if value(b) <= bound else 0.0

    makers = []
    for bound in (*bounds, math.inf):
        le = (("le", _le_text(bound)),)
        makers.append(_maker(metric + "_bucket", own + le, "counter", under(bound), metric, "histogram"))
    makers.append(_maker(metric + "_count", own, "counter", rate, metric, "histogram"))
    makers.append(_maker(metric + "_sum", own, "sum", lambda b: rate(b) * value(b), metric, "histogram"))
    return makers


def _histogram(h: Histogram, own: Labels, which: str, share: float) -> list[Maker]:
    def fraction(bound_seconds: float) -> Callable[[Behaviour], float]:
        if which == "latency":
            return lambda b: b.rps * share * b.latency_share(bound_seconds)
        return lambda b: b.rps * share * b.ttft_share(bound_seconds)

    def mean(b: Behaviour) -> float:
        return b.latency_mean if which == "latency" else b.ttft_mean

    makers: list[Maker] = []
    for native, seconds in [*zip(h.buckets, h.seconds, strict=True), (math.inf, math.inf)]:
        le = (("le", _le_text(native)),)
        makers.append(_maker(h.metric + "_bucket", own + le, "counter", fraction(seconds), h.metric, "histogram"))
    makers.append(_maker(h.metric + "_count", own, "counter", lambda b: b.rps * share, h.metric, "histogram"))
    makers.append(_maker(h.metric + "_sum", own, "sum", lambda b: b.rps * share * mean(b) / h.scale, h.metric,
                         "histogram"))
    return makers


def _gpu_series(target: Target, base: Labels, pod: str, gpu: int, first: bool = False) -> list[Series]:
    m = target.model
    out = []
    if target.gpu_exporter == "dcgm":
        dcgm = (*base, ("gpu", str(gpu)), ("UUID", f"GPU-{pod}-{gpu}"), ("modelName", m.gpu_type or ""))
        fields: list[tuple[str, str, Callable[[Behaviour], float]]] = [
            ("DCGM_FI_DEV_GPU_UTIL", "gauge", lambda b: b.gpu_percent),
            ("DCGM_FI_DEV_FB_USED", "gauge", lambda b: b.gpu_memory_mib),
            ("DCGM_FI_DEV_GPU_TEMP", "gauge", lambda b: b.gpu_temp),
            ("DCGM_FI_DEV_POWER_USAGE", "gauge", lambda b: b.gpu_power),
            ("DCGM_FI_DEV_SM_CLOCK", "gauge", lambda b: b.sm_clock),
            ("DCGM_FI_DEV_XID_ERRORS", "gauge", (lambda b: b.xid) if first else (lambda b: 0.0)),
            ("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", lambda b: 0.0),
            ("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", lambda b: 0.0),
            ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", lambda b: 0.0)]
        for name, kind, fn in fields:  # counters without `_total` are `unknown` families in OpenMetrics
            out.append(Series(name, _sorted(dcgm), kind, fn, name, "gauge" if kind == "gauge" else "unknown"))
    app = m.engine.gpu_utilization or (SEED.gpu_utilization if target.seed else None)
    if app is not None:
        engine = m.engine if m.engine.gpu_utilization else SEED
        who: Labels = ((engine.model_label, m.served_name if engine is m.engine else m.name),) \
            if app.per_model and engine.model_label else ()
        out.append(Series(app.metric, _sorted((*base, *who, ("gpu_id", str(gpu)))), "gauge",
                          _scaled(lambda b: b.gpu_percent / 100, app.scale), app.metric, "gauge"))
    return out


def sampled(s: Series, timeline: Timeline, times: list[float], floor: bool = True) -> list[float | None]:
    """The series' values at ascending times, in one pass (None while the model is down).

    `floor` False keeps counters as the exact integral (for renderings that compress linear runs).
    """
    starts = [max(start, timeline.origin) for start, _ in timeline.phases]
    ends = [*starts[1:], math.inf]
    # the integral at the start of each phase
    before, acc = [], 0.0
    for (_, b), start, end in zip(timeline.phases, starts, ends, strict=True):
        before.append(acc)
        if b.up and s.kind != "gauge" and not math.isinf(end):
            acc += s.fn(b) * max(0.0, end - start)
    out: list[float | None] = []
    phase = 0
    for t in times:
        while phase + 1 < len(starts) and starts[phase + 1] <= t:
            phase += 1
        b = timeline.phases[phase][1]
        if not s.live(b):
            out.append(None)
        elif s.kind == "gauge":
            out.append(s.fn(b))
        else:
            total = before[phase] + s.fn(b) * max(0.0, t - starts[phase]) if t >= timeline.origin else 0.0
            out.append(float(math.floor(total + 1e-9)) if s.kind == "counter" and floor else round(total, 6))
    return out


def histogram_quantile(q: float, bounds: tuple[float, ...], share: Callable[[float], float]) -> float:
    """What Prometheus' histogram_quantile returns for a histogram with these bounds (seconds, ascending) when
    `share(bound)` of the observations lie at or under each bound: linear interpolation inside the bucket."""
    lower, below = 0.0, 0.0
    for upper in bounds:
        at = share(upper)
        if at >= q:
            return lower + (upper - lower) * (q - below) / (at - below) if at > below else upper
        lower, below = upper, at
    return bounds[-1]  # in the +Inf bucket: Prometheus returns the largest finite bound


def steady_timeline(behaviour: Behaviour, origin: float) -> Timeline:
    """A timeline that never changes."""
    return Timeline(origin, ((origin, behaviour),))


__all__ = ["Behaviour", "Series", "Target", "Timeline", "series", "steady_timeline"]
