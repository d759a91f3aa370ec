"""The resolved model: defaults and per-model overrides merged, units normalised, cross-field checks done (by
llmmon.resolver).

Emitters read only this module's types; they never see the spec models or the YAML.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmmon import spec as s
from llmmon.engines import Preset
from llmmon.engines.edge import Edge
from llmmon.secret_paths import fallback_secret as fallback_secret  # re-exported: emitters import them from here
from llmmon.secret_paths import secret_ref as secret_ref
from llmmon.units import Duration

# alert key → (alert name, unit of its threshold, built-in default threshold, default tier, default enabled)
ALERTS: dict[str, tuple[str, str, float | None, str, bool]] = {
    "latency_p99": ("HighInferenceLatency", "seconds", 2.0, "warning", True),
    "error_rate": ("HighErrorRate", "ratio", 0.01, "critical", True),
    "gpu_utilization_low": ("LowGPUUtilization", "ratio", 0.30, "info", True),
    "ttft_p95": ("HighTimeToFirstToken", "seconds", 1.0, "warning", True),
    "throughput_low": ("LowThroughput", "req/s", None, "warning", False),
    "metrics_absent": ("LLMMetricsAbsent", "none", None, "critical", True),
    # engine depth (issue 21): saturation warnings, replica health, GPU health; built by llmmon.emit.health
    "itl_p99": ("HighInterTokenLatency", "seconds", 0.1, "warning", False),
    "kv_cache_high": ("LLMKVCacheNearFull", "ratio", 0.90, "warning", True),
    "queue_high": ("LLMQueueBuildUp", "requests", 10.0, "warning", True),
    "preemptions": ("LLMPreemptions", "per second", 0.1, "warning", True),
    "replicas_missing": ("LLMReplicasMissing", "none", None, "warning", True),
    "replica_outlier": ("LLMReplicaOutlier", "factor", 3.0, "warning", True),
    "pod_restarts": ("LLMPodRestartLoop", "restarts/h", 3.0, "warning", True),
    "pods_pending": ("LLMPodsPending", "none", None, "warning", True),
    "gpu_xid": ("GPUXidError", "none", None, "warning", True),
    "gpu_row_remap_failure": ("GPURowRemapFailure", "none", None, "warning", True),
    "gpu_temperature": ("GPUTemperatureHigh", "celsius", 85.0, "warning", True),
}
# alert key → the engine gauge or counter it reads (a model whose engine lacks it gets no such alert)
ENGINE_SIGNALS = {"kv_cache_high": "kv_cache", "queue_high": "waiting", "preemptions": "preemptions",
                  "itl_p99": "itl"}
DCGM_ALERTS = ("gpu_xid", "gpu_row_remap_failure", "gpu_temperature")
SLO_KINDS = ("availability", "latency", "ttft", "itl")


@dataclass(frozen=True)
class Objective:
    """One SLO of a model: `target` (a ratio, 0.999) of requests are good; latency kinds have a threshold."""

    kind: str  # availability | latency | ttft
    target: float
    threshold: float | None = None  # seconds, for latency and ttft

    @property
    def budget(self) -> float:
        """The error budget as a ratio (1 - target)."""
        return round(1 - self.target, 12)


@dataclass(frozen=True)
class Alert:
    """A threshold alert of one model, resolved."""

    key: str
    name: str
    threshold: float | None  # seconds, ratio or req/s; None for status alerts
    tier: str
    for_: Duration


@dataclass(frozen=True)
class Model:
    """A served model with every setting resolved."""

    name: str
    engine: Preset
    namespace: str
    served_name: str
    pods: str
    pod_example: str | None  # a pod name matching `pods`, for generated tests
    gpu_type: str | None
    gpu_count: int
    gpu_hourly_cost: float
    objectives: tuple[Objective, ...]
    min_request_rate: float
    alerts: tuple[Alert, ...]  # enabled alerts only
    replicas: int | None = None  # serving replicas expected, when the spec says
    autoscaling: s.Autoscaling | None = None
    edge: Edge | None = None  # requests and errors counted in front of the engine (spec `errors`)

    def objective(self, kind: str) -> Objective | None:
        """The objective of a kind, if the model has one."""
        return next((o for o in self.objectives if o.kind == kind), None)

    def alert(self, key: str) -> Alert | None:
        """The enabled alert with this key, if any."""
        return next((a for a in self.alerts if a.key == key), None)


@dataclass(frozen=True)
class Tier:
    """An alert tier."""

    name: str
    for_: Duration
    receiver: str


@dataclass(frozen=True)
class Plan:
    """Everything the emitters need, resolved from one spec."""

    name: str
    namespace: str
    labels: tuple[tuple[str, str], ...]
    runbook_base_url: str | None
    cluster: str | None
    slo_window: Duration
    models: tuple[Model, ...]
    tiers: tuple[Tier, ...]
    currency: str
    cpu_core_hourly: float | None
    gpu_exporter: str
    gpu_exporter_namespace: str
    source: str  # the spec file's name, for generated-by headers
    spec: s.MonitoringSpec  # sections other emitters render as they are (receivers, logging, tracing)
    grafana_url: str | None = None
    alertmanager_mode: str = "operator"  # operator (AlertmanagerConfig) | standalone (alertmanager.yaml)
    catch_all: str | None = None  # standalone: the receiver of other rule sets' alerts

    def tier(self, name: str) -> Tier:
        """A tier by name."""
        return next(t for t in self.tiers if t.name == name)
