"""The resolved model: defaults and per-model overrides merged, units normalised, cross-field checks done.

Emitters read only this module's types; they never see the spec models or the YAML.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from llmmon import spec as s
from llmmon import telemetry
from llmmon.diagnostics import Diagnostic, Severity, SpecError, has_errors
from llmmon.engines import PRESETS, Preset, edge, preset_for, variants
from llmmon.engines.edge import Edge
from llmmon.pods import overlaps
from llmmon.regex import check_re2, example_match
from llmmon.slo import BURN_WINDOWS, slo_histogram
from llmmon.units import Duration, looks_like_ratio
from llmmon.yamlpos import Document, Path

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
_SIGNAL = {"latency": "end-to-end latency", "ttft": "time-to-first-token", "itl": "inter-token latency"}


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


class _Resolver:
    def __init__(self, spec: s.MonitoringSpec, doc: Document | None, file: str) -> None:
        self.spec, self.doc, self.file = spec, doc, file
        self.diagnostics: list[Diagnostic] = []

    def report(self, path: Path, message: str, suggestion: str | None = None,
               severity: Severity = Severity.ERROR) -> None:
        line, col = self.doc.value_position(path) if self.doc else (0, 0)
        dotted = ".".join(str(p) for p in path)
        if path[:1] != ("models",):  # a mistake in defaults is reported once, not once per model
            message = re.sub(r"^model '[^']*': ", "", message)
        if any((d.line, d.col, d.message) == (line, col, message) for d in self.diagnostics):
            return
        self.diagnostics.append(Diagnostic(self.file, line, col, dotted, message, severity, suggestion))

    def pick(self, index: int, *keys: str) -> tuple[Any, Path]:
        """A model's value for a key path, else the default's; with the path it came from."""
        for source, root in ((self.spec.models[index], ("models", index)), (self.spec.defaults, ("defaults",))):
            value: Any = source
            for key in keys:
                value = getattr(value, key, None) if value is not None else None
            if value is not None:
                return value, (*root, *[_alias(k) for k in keys])
        return None, ("models", index, *[_alias(k) for k in keys])

    def resolve(self) -> Plan:
        spec = self.spec
        self._check_tiers()
        models = [self._model(i) for i in range(len(spec.models))]
        self._check_unique(models)
        self._check_pods(models)
        self._check_window()
        if not spec.metadata.runbook_base_url:
            self.report(("metadata",), "runbook_base_url is not set: alerts will carry no runbook_url",
                        severity=Severity.WARNING)
        if spec.tracing and looks_like_ratio(spec.tracing.sampling):
            value = spec.tracing.sampling
            self.report(("tracing", "sampling"), f"{_fmt(value)} looks like a ratio; sampling is a percentage",
                        f"did you mean {_fmt(value * 100)}%? write \"{_fmt(value)}%\" for {_fmt(value)} percent")
        elif spec.tracing and not 1 <= spec.tracing.sampling <= 10:
            severity = Severity.ERROR if not 0 < spec.tracing.sampling <= 100 else Severity.WARNING
            self.report(("tracing", "sampling"), f"{spec.tracing.sampling}% is outside the recommended 1-10%"
                        if severity is Severity.WARNING else "must be above 0% and at most 100%", severity=severity)
        for path, message, severity in telemetry.problems(spec):
            self.report(path, message, severity=severity)
        if has_errors(self.diagnostics):
            raise SpecError(self.diagnostics)
        tiers = tuple(Tier(name, getattr(spec.alert_tiers, name).for_, getattr(spec.alert_tiers, name).receiver)
                      for name in s.TIERS)
        return Plan(
            name=spec.metadata.name, namespace=spec.metadata.namespace,
            labels=tuple(sorted(spec.metadata.labels.items())),
            runbook_base_url=spec.metadata.runbook_base_url.rstrip("/") if spec.metadata.runbook_base_url else None,
            cluster=spec.cluster, slo_window=spec.slo_window, models=tuple(m for m in models if m),
            tiers=tiers, currency=spec.costs.currency if spec.costs else "USD",
            cpu_core_hourly=spec.costs.cpu_core_hourly if spec.costs else None,
            gpu_exporter=spec.gpu_exporter.kind, gpu_exporter_namespace=spec.gpu_exporter.namespace,
            source=self.file.rsplit("/", 1)[-1], spec=spec,
            grafana_url=spec.metadata.grafana_url.rstrip("/") if spec.metadata.grafana_url else None,
            alertmanager_mode=spec.alertmanager.mode, catch_all=spec.alertmanager.catch_all)

    def _check_tiers(self) -> None:
        receivers = sorted(self.spec.receivers)
        used: set[str] = set()
        self._check_routing(receivers, used)
        for tier in s.TIERS:
            name = getattr(self.spec.alert_tiers, tier).receiver
            used.add(name)
            if name not in self.spec.receivers:
                close = difflib.get_close_matches(name, receivers, n=1)
                hint = f"did you mean {close[0]!r}?" if close else (
                    f"receivers defined: {', '.join(receivers)}" if receivers else "add it under `receivers`")
                self.report(("alert_tiers", tier, "receiver"), f"receiver {name!r} is not defined in receivers", hint)
        for name in receivers:
            if name not in used:
                self.report(("receivers", name), f"receiver {name!r} is not used by any tier",
                            severity=Severity.WARNING)

    def _check_routing(self, receivers: list[str], used: set[str]) -> None:
        """The catch-all receiver (standalone only, defined) and, in operator mode, secret files where the
        operator mounts Secrets: /etc/alertmanager/secrets/<secret>/<key>."""
        am = self.spec.alertmanager
        if am.catch_all is not None:
            used.add(am.catch_all)
            if am.mode != "standalone":
                self.report(("alertmanager", "catch_all"), "catch_all routes other rule sets' alerts, which an "
                            "AlertmanagerConfig cannot do (the operator confines it to its own alerts)",
                            "set `mode: standalone`, or remove catch_all")
            elif am.catch_all not in self.spec.receivers:
                close = difflib.get_close_matches(am.catch_all, receivers, n=1)
                self.report(("alertmanager", "catch_all"), f"receiver {am.catch_all!r} is not defined in receivers",
                            f"did you mean {close[0]!r}?" if close else "add it under `receivers`")
        if am.mode != "operator":
            return
        for name, receiver in sorted(self.spec.receivers.items()):
            for field, path in secret_files(receiver):
                if secret_ref(path) is None:
                    secret, key = fallback_secret(self.spec.metadata.name, path)
                    self.report(("receivers", name, *field), f"{path} is not where the Prometheus Operator mounts a "
                                f"Secret ({SECRETS_DIR}/<secret>/<key>): the AlertmanagerConfig reads key {key!r} "
                                f"of Secret {secret} instead", f"use {SECRETS_DIR}/{secret}/{key} or another "
                                f"{SECRETS_DIR}/<secret>/<key>", severity=Severity.WARNING)

    def _check_window(self) -> None:
        window = self.spec.slo_window
        if window.ms <= max(p.long.ms for p in BURN_WINDOWS):
            self.report(("slo_window",), f"{window} is too short: it must be longer than the 3d burn-rate window",
                        "use 7d, 28d or 30d")
        elif window.ms > Duration.parse("90d").ms:
            self.report(("slo_window",), f"{window}: Prometheus must keep that much history to compute the ratio",
                        severity=Severity.WARNING)

    def _check_pods(self, models: list[Model | None]) -> None:
        for i, j in overlaps(models):
            own, other = models[i], models[j]
            assert own is not None and other is not None
            if own.name == other.name:  # one mistake, one error: "is defined twice" says it
                continue
            self.report(("models", i, "pods" if self.spec.models[i].pods else "name"),
                        f"model {own.name!r}: pods regex {own.pods!r} also matches {other.pod_example!r}, a pod of "
                        f"model {other.name!r} in namespace {own.namespace}: that pod's CPU, GPU and pod-selected "
                        "series would count for both models", f"set a `pods` regex only its own pods match, e.g. "
                        f"pods: '{_re_escape(own.name)}-[0-9]+' for a StatefulSet")

    def _check_unique(self, models: list[Model | None]) -> None:
        seen: dict[str, int] = {}
        served: dict[tuple[str, str, str], int] = {}
        for index, model in enumerate(self.spec.models):
            if model.name in seen:
                self.report(("models", index, "name"), f"model {model.name!r} is defined twice "
                            f"(first as models.{seen[model.name]})")
            seen.setdefault(model.name, index)
            resolved = models[index]
            if resolved:
                key = (resolved.engine.name, resolved.namespace, resolved.served_name)
                if key in served:
                    self.report(("models", index), f"model {model.name!r} selects the same series as "
                                f"models.{served[key]}: engine, namespace and served_name must differ")
                served.setdefault(key, index)

    def _model(self, index: int) -> Model | None:
        ms = self.spec.models[index]
        start = len(self.diagnostics)
        engine_name, engine_path = self.pick(index, "engine")
        engine_name = engine_name or "openai-compatible"
        engine = PRESETS.get(engine_name)
        if engine is None:
            self.report(engine_path, f"engine {engine_name!r} has no preset in this version of llmmon",
                        f"available: {', '.join(sorted(PRESETS))}")
        version, version_path = self.pick(index, "engine_version")
        if engine is not None and version is not None:
            engine = preset_for(engine_name, version)
            if engine is None:
                known = [v.version for v in variants(engine_name) if v.version]
                self.report(version_path, f"model {ms.name!r}: engine {engine_name} has no preset for version "
                            f"{version!r}", f"known versions: {', '.join(known)}" if known else
                            f"engine {engine_name} has one preset; remove engine_version")
        namespace, _ = self.pick(index, "namespace")
        if namespace is None:
            self.report(("models", index), f"model {ms.name!r}: namespace is not set here or in defaults")
        pods = ms.pods or f"{_re_escape(ms.name)}-.*"
        pod_example = None
        problem = check_re2(pods)
        if problem:
            self.report(("models", index, "pods"), f"model {ms.name!r}: {problem}")
        else:
            pod_example = example_match(pods)
        gpu_cost = 0.0
        if ms.gpus:
            rates = self.spec.costs.gpu_hourly if self.spec.costs else {}
            if ms.gpus.type not in rates:
                # Another type's name is the fix only when it is this one spelt differently (h100, H-100);
                # H200 beside H100 is a GPU without a price, not a typo.
                same = [t for t in rates if _squash(t) == _squash(ms.gpus.type)]
                self.report(("models", index, "gpus", "type"),
                            f"model {ms.name!r}: GPU type {ms.gpus.type!r} has no rate in costs.gpu_hourly",
                            f"did you mean {same[0]!r}?" if same
                            else f"add `{ms.gpus.type}: <price per hour>` under costs.gpu_hourly")
            else:
                gpu_cost = ms.gpus.count * rates[ms.gpus.type]
        by_pod = engine and (engine.by_pod or engine.requests.by_pod or engine.errors.by_pod)
        if engine and by_pod and not problem and pod_example is None:
            self.report(("models", index, "pods"), f"model {ms.name!r}: engine {engine.name} has no model label, "
                        f"so its series are selected by pod name, and llmmon cannot build a pod name matching "
                        f"{pods!r} for the generated tests", "use a simpler regex such as `<name>-.*`")
        objectives = self._objectives(index, engine)
        min_rate, _ = self.pick(index, "slo", "min_request_rate")
        alerts = self._alerts(index, engine)
        if (len(self.diagnostics) > start and has_errors(self.diagnostics[start:])) or engine is None:
            return None
        return Model(name=ms.name, engine=engine, namespace=namespace, served_name=ms.served_name or ms.name,
                     pods=pods, pod_example=pod_example, gpu_type=ms.gpus.type if ms.gpus else None,
                     gpu_count=ms.gpus.count if ms.gpus else 0, gpu_hourly_cost=gpu_cost,
                     objectives=objectives, min_request_rate=min_rate or 0.0, alerts=alerts, edge=self._edge(index),
                     replicas=ms.replicas, autoscaling=self._autoscaling(index, engine))

    def _edge(self, index: int) -> Edge | None:
        errors, _ = self.pick(index, "errors")
        if errors is None:
            return None
        ms = self.spec.models[index]
        namespace, _ = self.pick(index, "namespace")
        return edge.resolve(errors.source, errors.name or ms.name, namespace or "", errors.metric, errors.status_label)

    def _target(self, value: float, path: Path, name: str) -> float | None:
        if not 0 < value < 100:
            self.report(path, f"model {name!r}: an SLO target must be strictly between 0 and 100 percent, got {value}")
            return None
        if value < 1:
            self.report(path, f"model {name!r}: {value}% looks like a ratio; targets are percentages",
                        f"did you mean {_fmt(value * 100)}?")
            return None
        return round(value / 100, 12)

    def _objectives(self, index: int, engine: Preset | None) -> tuple[Objective, ...]:
        name = self.spec.models[index].name
        out = []
        value, path = self.pick(index, "slo", "availability")
        if value is not None and (target := self._target(value, path, name)) is not None:
            out.append(Objective("availability", target))
        for kind in SLO_KINDS[1:]:
            threshold, t_path = self.pick(index, "slo", kind, "threshold")
            target_pct, p_path = self.pick(index, "slo", kind, "target")
            if threshold is None and target_pct is None:
                continue
            if threshold is None or target_pct is None:
                missing = "threshold" if threshold is None else "target"
                self.report(t_path[:-1], f"model {name!r}: slo.{kind} needs both threshold and target; "
                            f"{missing} is not set here or in defaults")
                continue
            target = self._target(target_pct, p_path, name)
            histogram = slo_histogram(engine, kind) if engine else None
            if engine and histogram is None:
                hint = (f"{engine.name} reports only mean latency ({engine.latency_sum.metric}): an SLO needs a "
                        "histogram" if engine.latency_sum and kind == "latency" else
                        f"remove slo.{kind} for this model")
                self.report(t_path, f"model {name!r}: engine {engine.name} has no {_SIGNAL[kind]} histogram, "
                            f"so a {kind} SLO cannot be measured", hint)
                continue
            if histogram and histogram.bucket_at(threshold.seconds) is None:
                near = ", ".join(_fmt(b) for b in histogram.nearest_buckets(threshold.seconds))
                self.report(t_path, f"model {name!r}: {_fmt(threshold.seconds)}s is not a bucket of {histogram.metric} "
                            f"(nearest: {near})", "a latency SLO can only be measured at a bucket boundary")
                continue
            if target is not None:
                out.append(Objective(kind, target, threshold.seconds))
        for objective in out:
            self._check_burn_pairs(index, objective)
        return tuple(out)

    def _check_burn_pairs(self, index: int, objective: Objective) -> None:
        """Warn about burn-rate pairs whose threshold is 100% errors or more: they can never fire."""
        dead = [p for p in BURN_WINDOWS if p.factor(self.spec.slo_window) * objective.budget >= 1]
        if dead:
            _, path = self.pick(index, "slo", objective.kind)
            pairs = ", ".join(f"{p.long}/{p.short} ({p.factor(self.spec.slo_window):g} × "
                              f"{objective.budget * 100:g}%)" for p in dead)
            self.report(path, f"model {self.spec.models[index].name!r}: a {objective.target * 100:g}% {objective.kind} "
                        f"objective leaves burn-rate pairs that need more than 100% errors and can never fire: {pairs}",
                        "a tighter objective, or a longer slo_window", severity=Severity.WARNING)

    def _alerts(self, index: int, engine: Preset | None) -> tuple[Alert, ...]:
        name = self.spec.models[index].name
        out = []
        for key, (alert_name, unit, default, default_tier, default_on) in ALERTS.items():
            enabled, _ = self.pick(index, "alerts", key, "enabled")
            if not (default_on if enabled is None else enabled):
                continue
            raw, t_path = self.pick(index, "alerts", key, "threshold")
            tier, _ = self.pick(index, "alerts", key, "tier")
            tier = tier or default_tier
            for_, _ = self.pick(index, "alerts", key, "for_")
            if unit == "ratio" and raw is not None and looks_like_ratio(raw):
                self.report(t_path, f"model {name!r}: {_fmt(raw)} looks like a ratio; thresholds are percentages",
                            f"did you mean {_fmt(raw * 100)}%? write \"{_fmt(raw)}%\" for {_fmt(raw)} percent")
                continue
            threshold = _threshold(raw, unit, default)
            if unit != "none" and threshold is None:
                self.report(t_path, f"model {name!r}: alert {key} is enabled but has no threshold",
                            "set a threshold or `enabled: false`")
                continue
            if not self._signal_ok(index, key, engine):
                continue
            if not self._threshold_ok(key, threshold, t_path, name, engine):
                continue
            out.append(Alert(key, alert_name, threshold, tier,
                             for_ or getattr(self.spec.alert_tiers, tier).for_))
        return tuple(out)

    def _signal_ok(self, index: int, key: str, engine: Preset | None) -> bool:
        """False when the engine lacks the alert's signal: an error if the spec asked for the alert, a
        warning if only llmmon's defaults did; a documented substitute is a warning."""
        if engine is None:
            return True
        name = self.spec.models[index].name
        written = any(self.pick(index, "alerts", key, field)[0] is not None
                      for field in ("threshold", "tier", "for_", "enabled"))
        _, path = self.pick(index, "alerts", key)
        if key == "gpu_utilization_low" and self.spec.gpu_exporter.kind == "none" and engine.gpu_utilization is None:
            if written:
                self.report(path, f"model {name!r}: gpu_utilization_low needs GPU series, but gpu_exporter.kind is "
                            f"none and engine {engine.name} reports none", "set gpu_exporter.kind or `enabled: false`")
            else:
                self.report(("models", index), f"model {name!r}: no GPU series (gpu_exporter.kind is none and engine "
                            f"{engine.name} reports none): alert gpu_utilization_low is left out",
                            severity=Severity.WARNING)
            return False
        if key in ENGINE_SIGNALS or key in DCGM_ALERTS:
            return self._depth_signal_ok(index, key, engine, written, path)
        if key not in ("latency_p99", "ttft_p95"):
            return True
        histogram = engine.latency if key == "latency_p99" else engine.ttft
        if histogram is not None:
            return True
        if key == "latency_p99" and engine.latency_sum is not None:
            if written:
                self.report(path, f"model {name!r}: engine {engine.name} has no latency histogram; "
                            f"HighInferenceLatency compares the mean latency ({engine.latency_sum.metric}) "
                            "with the threshold, not the p99", severity=Severity.WARNING)
            return True
        signal = _SIGNAL["latency" if key == "latency_p99" else "ttft"]
        if written:
            self.report(path, f"model {name!r}: engine {engine.name} has no {signal} histogram, so alert {key} "
                        "cannot be evaluated", f"set `alerts: {{{key}: {{enabled: false}}}}` for this model")
        else:
            self.report(("models", index), f"model {name!r}: engine {engine.name} has no {signal} histogram: "
                        f"alert {key} is left out", severity=Severity.WARNING)
        return False

    def _depth_signal_ok(self, index: int, key: str, engine: Preset, written: bool, path: Path) -> bool:
        """Saturation alerts need the engine's gauge or counter, GPU health alerts dcgm-exporter and GPUs: a
        missing signal is an error where the spec asked for the alert; where only defaults did, the alert is left
        out (no rule that can never fire is generated)."""
        ms = self.spec.models[index]
        if key in ENGINE_SIGNALS:
            signal = ENGINE_SIGNALS[key]
            if signal in engine.gauges or getattr(engine, signal, None) is not None:
                return True
            why = f"engine {engine.name} exposes no {signal} signal"
        else:
            if not ms.gpus:
                return False  # a model without GPUs has no GPU to watch
            if self.spec.gpu_exporter.kind == "dcgm":
                return True
            why = f"gpu_exporter.kind is {self.spec.gpu_exporter.kind}, and only dcgm-exporter reports it"
        if written:
            self.report(path, f"model {ms.name!r}: alert {key} cannot be evaluated: {why}",
                        f"set `alerts: {{{key}: {{enabled: false}}}}` for this model")
        # Only llmmon's defaults asked for it: left out without a warning, or every spec with an engine lacking
        # one signal would warn. `llmmon explain` lists each model's alerts, `llmmon engines` each engine's signals.
        return False

    def _autoscaling(self, index: int, engine: Preset | None) -> s.Autoscaling | None:
        auto = self.spec.models[index].autoscaling
        if auto is None or engine is None:
            return auto
        name = self.spec.models[index].name
        if auto.min_replicas > auto.max_replicas:
            self.report(("models", index, "autoscaling", "min_replicas"),
                        f"model {name!r}: min_replicas ({auto.min_replicas}) is above max_replicas "
                        f"({auto.max_replicas})")
        if auto.autoscaler == "hpa" and auto.min_replicas < 1:  # HPAScaleToZero is an alpha feature gate
            self.report(("models", index, "autoscaling", "min_replicas"),
                        f"model {name!r}: a HorizontalPodAutoscaler cannot scale to zero replicas",
                        "min_replicas: 1, or `autoscaler: keda`")
        if auto.signal in ("waiting", "kv_cache") and auto.signal not in engine.gauges:
            self.report(("models", index, "autoscaling", "signal"),
                        f"model {name!r}: engine {engine.name} exposes no {auto.signal} signal to scale on",
                        "use `signal: requests`")
        return auto

    def _threshold_ok(self, key: str, threshold: float | None, path: Path, name: str, engine: Preset | None) -> bool:
        if threshold is None:
            return True
        if threshold <= 0:
            self.report(path, f"model {name!r}: the threshold of {key} must be positive")
            return False
        if key in ("error_rate", "gpu_utilization_low", "kv_cache_high") and threshold >= 1:
            self.report(path, f"model {name!r}: the threshold of {key} must be below 100%")
            return False
        histogram = engine and (engine.latency if key == "latency_p99" else engine.ttft if key == "ttft_p95" else
                                engine.itl if key == "itl_p99" else None)
        if histogram and threshold >= histogram.seconds[-1]:
            near = ", ".join(_fmt(b) for b in histogram.seconds[-2:])
            version = f" in {engine.name} {engine.version}" if engine and engine.version else ""
            self.report(path, f"model {name!r}: {key} threshold {_fmt(threshold)}s can never be exceeded: "
                        f"the largest bucket of {histogram.metric}{version} is {_fmt(histogram.seconds[-1])}s, and "
                        f"histogram_quantile never returns more (nearest buckets: {near})",
                        "a threshold below the largest bucket, or the engine_version the servers run")
            return False
        if histogram and threshold < histogram.seconds[0]:  # inside the first bucket quantiles interpolate from 0
            self.report(path, f"model {name!r}: {key} threshold {_fmt(threshold)}s is below the smallest bucket of "
                        f"{histogram.metric} ({_fmt(histogram.seconds[0])}s): histogram_quantile cannot tell latencies "
                        "under it apart, so the alert would fire on any traffic", "use a threshold at or above it")
            return False
        return True


SECRETS_DIR = "/etc/alertmanager/secrets"
_SECRET_PATH = re.compile(rf"^{re.escape(SECRETS_DIR)}/([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?)/([-._a-zA-Z0-9]+)$")


def secret_files(receiver: s.Receiver) -> list[tuple[tuple[str, str], str]]:
    """(field path inside the receiver, file path) of every secret file a receiver reads."""
    out: list[tuple[tuple[str, str], str]] = []
    if receiver.pagerduty:
        for field in ("routing_key_file", "service_key_file"):
            if path := getattr(receiver.pagerduty, field):
                out.append((("pagerduty", field), path))
    if receiver.slack:
        out.append((("slack", "api_url_file"), receiver.slack.api_url_file))
    return out


def secret_ref(path: str) -> tuple[str, str] | None:
    """(Secret name, key) of a file where the Prometheus Operator mounts Secrets, else None."""
    match = _SECRET_PATH.fullmatch(path)
    return (match.group(1), match.group(3)) if match else None


def fallback_secret(spec_name: str, path: str) -> tuple[str, str]:
    """The Secret key an AlertmanagerConfig reads for a secret file outside the operator's layout."""
    key = re.sub(r"[^-._a-zA-Z0-9]", "-", path.rsplit("/", 1)[-1]).strip(".") or "key"  # a Secret key's characters
    return f"{spec_name}-alerting", key


def _threshold(raw: Any, unit: str, default: float | None) -> float | None:
    if raw is None:
        return default
    if isinstance(raw, Duration):
        return raw.seconds
    if unit == "ratio":
        return round(float(raw) / 100, 12)
    return float(raw)


def _alias(key: str) -> str:
    return "for" if key == "for_" else key


def _fmt(value: float) -> str:
    return f"{value:g}"


def _re_escape(text: str) -> str:
    return text.replace(".", r"\.")


def resolve(spec: s.MonitoringSpec, doc: Document | None = None, file: str = "spec.yaml") -> tuple[Plan,
                                                                                                 list[Diagnostic]]:
    """Resolve a validated spec into a Plan; raises SpecError with every problem found."""
    resolver = _Resolver(spec, doc, file)
    plan = resolver.resolve()
    return plan, resolver.diagnostics


def _squash(name: str) -> str:
    """A name without case or punctuation, to tell a misspelling (h100, H-100) from another name (H200)."""
    return "".join(c for c in name.lower() if c.isalnum())
