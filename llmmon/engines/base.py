"""The interface every serving-engine preset implements, as data: which series carry each signal."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Counter:
    """A counter selected by metric name and fixed label matchers (equality only)."""

    metric: str
    matchers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Histogram:
    """A classic histogram: base metric name (without _bucket) and its bucket upper bounds in seconds."""

    metric: str
    buckets: tuple[float, ...]

    def nearest_buckets(self, seconds: float) -> tuple[float, ...]:
        """The bucket bounds on either side of `seconds` (one when it lies outside the range)."""
        below = [b for b in self.buckets if b < seconds]
        above = [b for b in self.buckets if b > seconds]
        return tuple(x for x in (below[-1] if below else None, above[0] if above else None) if x is not None)


@dataclass(frozen=True)
class Gauge:
    """A gauge and the factor that turns its value into the unit llmmon records (ratio 0-1, count)."""

    metric: str
    scale: float = 1.0


@dataclass(frozen=True)
class Preset:
    """How one serving engine exposes the signals llmmon needs.

    `model_label` is the label holding the engine's own model name (`served_name` in the spec);
    engines without one (TGI) will select by namespace and pod instead.
    """

    name: str
    model_label: str
    requests: Counter  # every finished request; its successful series carry `ok_labels`
    ok_labels: tuple[tuple[str, str], ...]
    errors: Counter  # the failed subset of `requests`
    latency: Histogram | None
    ttft: Histogram | None
    input_tokens: Counter | None
    output_tokens: Counter | None
    gpu_utilization: Gauge | None = None  # reported by the serving app itself, not by a GPU exporter
    gauges: dict[str, Gauge] = field(default_factory=dict)  # optional load signals: running, waiting, kv_cache
    notes: str = ""
