"""The interface every serving-engine preset implements, as data: which series carry each signal."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace

Label = tuple[str, str]
Matcher = tuple[str, str, str]  # (label, operator, value)


@dataclass(frozen=True)
class Counter:
    """A counter: its metric name(s), the labels its series carry, and matchers used only to select.

    `labels` are equality matchers that generated test series carry too; `select` are further matchers
    (e.g. `err!="validation"`); `synth` are labels only the synthetic test series carry, to satisfy `select`.
    `also` names further metrics summed with the first (Triton counts successes and failures apart).
    `by_pod`: the series carry no model label even though the engine's own series do (vLLM's HTTP counters):
    they are attributed to models by namespace and the model's pod regex.
    """

    metric: str
    labels: tuple[Label, ...] = ()
    select: tuple[Matcher, ...] = ()
    synth: tuple[Label, ...] = ()
    also: tuple[str, ...] = ()
    by_pod: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Every metric name this counter sums."""
        return (self.metric, *self.also)


@dataclass(frozen=True)
class Histogram:
    """A classic histogram: base metric name (without _bucket), bucket bounds in its own unit, and that unit.

    `scale` turns the native unit into seconds (0.001 for milliseconds). `le_style` is how the engine's
    client library prints bucket bounds: "python" (2.0), "go" (2) or "repr" (shortest float text).
    """

    metric: str
    buckets: tuple[float, ...]
    scale: float = 1.0
    le_style: str = "python"
    opt_in: str = ""  # the engine flag that turns the histogram on, when it is off by default

    @functools.cached_property  # read for every model and threshold: worked out once per preset
    def seconds(self) -> tuple[float, ...]:
        """The bucket bounds in seconds."""
        return tuple(round(b * self.scale, 12) for b in self.buckets)

    def bucket_at(self, seconds: float) -> float | None:
        """The native bound equal to `seconds` (within 0.1%, for engines with irrational bounds), if any."""
        for native, s in zip(self.buckets, self.seconds, strict=True):
            if abs(s - seconds) <= 0.001 * s:
                return native
        return None

    def nearest_buckets(self, seconds: float) -> tuple[float, ...]:
        """The bucket bounds (in seconds) on either side of `seconds`."""
        below = [b for b in self.seconds if b < seconds]
        above = [b for b in self.seconds if b > seconds]
        return tuple(x for x in (below[-1] if below else None, above[0] if above else None) if x is not None)


def describe(counter: Counter) -> str:
    """A counter as a selector people read: its name and every matcher the rules use."""
    text = counter.metric + _matchers([(k, "=", v) for k, v in counter.labels] + list(counter.select))
    return text + (" (by pod)" if counter.by_pod else "")


def le_matcher(histogram: Histogram, bound: float) -> Matcher:
    """The `le` matcher of a native bound, as exposed: Go clients print a whole bound as `2`, Python's as `2.0`,
    so both are matched (the recorded buckets keep `le` as scraped; histogram_quantile merges equal bounds).

    Engines with irrational bounds (TGI: 1.5^k × 0.0001, le_style "repr") print them with more digits
    than one can rely on; those are matched on their first six significant digits, cut, not rounded.
    """
    if histogram.le_style != "repr":
        text = f"{bound:.12g}"
        return ("le", "=~", f"{re.escape(text)}|{re.escape(text)}\\.0") if bound == int(bound) else ("le", "=", text)
    text = repr(float(bound))
    match = re.match(r"^(0\.0*)?", text)
    lead = len(match.group(0)) if match else 0
    digits_end = lead + 6 + (1 if "." in text[lead:lead + 7] else 0)
    return ("le", "=~", re.escape(text[:digits_end]) + "[0-9]*")


@dataclass(frozen=True)
class Gauge:
    """A gauge and the factor that turns its value into the unit llmmon records (ratio 0-1, count)."""

    metric: str
    scale: float = 1.0
    per_model: bool = True  # False: the gauge has no model label and is selected by pod
    old: tuple[str, ...] = ()  # earlier names of the same gauge: rules read `new or old` through a rolling upgrade

    @property
    def names(self) -> tuple[str, ...]:
        """The current name, then the earlier ones."""
        return (self.metric, *self.old)


def _either(gauge: Gauge | None) -> str:
    return "" if gauge is None else " or ".join(gauge.names)


def _matchers(matchers: list[Matcher]) -> str:
    return "{" + ", ".join(f'{k}{op}"{v}"' for k, op, v in matchers) + "}" if matchers else ""


@dataclass(frozen=True)
class Deprecation:
    """A metric an engine renamed or removed, and what replaces it."""

    old: str
    new: str | None
    note: str


@dataclass(frozen=True)
class Semantics:
    """What one engine version counts, written down for people (`llmmon engines`, docs) and for check-metrics.

    `errors_before_first`: whether the error series exists (at 0) before the first failure. Where it does not,
    the rules read "absent" as 0 while the request counter exists, so the error ratio is 0, never NaN or empty.
    """

    request: str
    error: str
    errors_before_first: bool
    empty_errors: str = ""  # why a declared-but-empty (or absent) error counter is normal for this engine


@dataclass(frozen=True)
class Preset:
    """How one serving engine exposes the signals llmmon needs.

    `model_label` is the label holding the engine's own model name (`served_name` in the spec); engines
    without one (TGI) are selected by namespace and the model's pod regex instead.
    """

    name: str
    title: str
    model_label: str | None
    requests: Counter  # every finished request
    errors: Counter  # the failed subset of `requests`
    ok_labels: tuple[Label, ...] = ()  # labels of successful requests, when requests and errors share a metric
    latency: Histogram | None = None
    ttft: Histogram | None = None
    latency_sum: Counter | None = None  # total seconds spent, for mean latency (engines without a histogram)
    latency_sum_scale: float = 1.0  # its unit in seconds (Triton: microseconds)
    input_tokens: Counter | None = None
    output_tokens: Counter | None = None
    gpu_utilization: Gauge | None = None  # reported by the serving app itself, not by a GPU exporter
    gauges: dict[str, Gauge] = field(default_factory=dict)  # optional load signals: running, waiting, kv_cache
    deprecated: tuple[Deprecation, ...] = ()
    notes: str = ""
    version: str = ""  # the engine version (line) this variant describes; "" for engines with one variant
    semantics: Semantics | None = None
    engine_errors: Counter | None = None  # the engine's own failure counter, when it is not the primary signal
    # fixtures (tests/expositions/real/) of real pages this variant was checked on, each "<file> (<what it shows>)"
    verified: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()  # metric names whose presence on a page points at this version
    pinned: bool = False  # the spec declared this version (engine_version): rules carry it in their engine label

    @property
    def key(self) -> str:
        """The engine name, plus the version when the spec declared one: what tells rule sets of versions apart."""
        return f"{self.name}-{self.version}" if self.pinned else self.name
    preemptions: Counter | None = None  # requests preempted (evicted from the KV cache and requeued)
    itl: Histogram | None = None  # inter-token latency (time per output token), seconds
    itl_also: tuple[str, ...] = ()  # older names of the ITL histogram, read where the current one is absent
    phases: tuple[tuple[str, str], ...] = ()  # (phase, seconds histogram): where a request's time goes
    prefix_cache: tuple[str, str] | None = None  # (hits counter, queries counter) of the prefix cache
    finish_reason_label: str | None = None  # label of `finished` (default `requests`) saying why a request finished
    finished: Counter | None = None  # the counter of finished requests by reason, when not `requests`
    lengths: tuple[tuple[str, str], ...] = ()  # (prompt | generation, token-count histogram per request)
    spec_decode: tuple[str, str] | None = None  # (accepted, proposed) draft-token counters of speculative decoding
    spec_accept_gauge: str | None = None  # or the acceptance rate (0-1) as a gauge the engine computes itself
    lora_info: str | None = None  # gauge labelled running_lora_adapters / waiting_lora_adapters (adapter names)
    unverified: tuple[str, ...] = ()  # signals not yet checked against a real /metrics page of the engine

    def unverified_metrics(self) -> frozenset[str]:
        """Metric names (histograms without suffix) of the signals marked unverified."""
        names: dict[str, tuple[str, ...]] = {
            "itl": ((self.itl.metric,) if self.itl else ()) + self.itl_also,
            "phases": tuple(m for _, m in self.phases),
            "prefix cache": self.prefix_cache or (),
            "lengths": tuple(m for _, m in self.lengths),
            "spec decode": self.spec_decode or ((self.spec_accept_gauge,) if self.spec_accept_gauge else ()),
            "lora": (self.lora_info,) if self.lora_info else (),
        }
        return frozenset(n for signal in self.unverified for n in names.get(signal, ()))

    @property
    def by_pod(self) -> bool:
        """True when series carry no model label and are selected by namespace and pod regex."""
        return self.model_label is None

    @property
    def histogram_backed_requests(self) -> bool:
        """True when the request counter is the latency histogram's own `_count` (OpenTelemetry)."""
        return self.latency is not None and self.requests.metric == self.latency.metric + "_count"

    def signals(self) -> dict[str, str]:
        """Signal name → what provides it ("" when the engine lacks it), for `llmmon engines`."""
        def hist(h: Histogram | None) -> str:
            return "" if h is None else h.metric + ("" if h.scale == 1 else " (ms→s)")

        return {
            "requests": " + ".join(describe(replace(self.requests, metric=n, also=())) for n in self.requests.names),
            "errors": describe(self.errors),
            "latency": hist(self.latency) or (f"mean only: {self.latency_sum.metric}" if self.latency_sum else ""),
            "ttft": hist(self.ttft),
            "tokens": " + ".join(c.metric for c in (self.input_tokens, self.output_tokens) if c),
            "running": _either(self.gauges.get("running")),
            "waiting": _either(self.gauges.get("waiting")),
            "kv_cache": _either(self.gauges.get("kv_cache")),
            "preemptions": self.preemptions.metric if self.preemptions else "",
            "itl": " or ".join(n for n in ((self.itl.metric,) if self.itl else ()) + self.itl_also),
            "phases": ", ".join(f"{p}: {m}" for p, m in self.phases),
            "prefix cache": " / ".join(self.prefix_cache) if self.prefix_cache else "",
            "finish reason": self.finish_reason_label or "",
            "lengths": ", ".join(m for _, m in self.lengths),
            "spec decode": " / ".join(self.spec_decode) if self.spec_decode else self.spec_accept_gauge or "",
            "lora": self.lora_info or "",
            "gpu (app)": self.gpu_utilization.metric if self.gpu_utilization else "",
            "model": self.model_label or "namespace + pod regex",
        }
