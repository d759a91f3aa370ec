"""A model's threshold alerts resolved: enabled or not, threshold in its unit, tier and `for`; alerts whose
signal the engine or GPU exporter lacks are refused (asked for) or left out (defaults)."""

from __future__ import annotations

from llmmon.diagnostics import Severity
from llmmon.engines import Preset
from llmmon.model import ALERTS, DCGM_ALERTS, ENGINE_SIGNALS, Alert
from llmmon.resolver.base import SIGNAL, ResolverBase, _fmt, _threshold
from llmmon.resolver.checks import LONG_FOR_HINT, long_for
from llmmon.units import looks_like_ratio
from llmmon.yamlpos import Path


class AlertsMixin(ResolverBase):
    """A model's threshold alerts."""

    def _alerts(self, index: int, engine: Preset | None) -> tuple[Alert, ...]:
        name = self.spec.models[index].name
        out = []
        for key, (alert_name, unit, default, default_tier, default_on) in ALERTS.items():
            enabled, _ = self.pick(index, "alerts", key, "enabled")
            if not (default_on if enabled is None else enabled):
                continue
            raw, t_path = self.pick(index, "alerts", key, "threshold")
            written_tier, _ = self.pick(index, "alerts", key, "tier")
            tier = written_tier or default_tier
            for_, f_path = self.pick(index, "alerts", key, "for_")
            warning = long_for(for_) if for_ is not None else None
            if warning:
                self.report(f_path, f"model {name!r}: {warning}", LONG_FOR_HINT, severity=Severity.WARNING)
            written = any(v is not None for v in (raw, written_tier, for_, enabled))
            if unit == "ratio" and raw is not None and looks_like_ratio(raw):
                self.report(t_path, f"model {name!r}: {_fmt(raw)} looks like a ratio; thresholds are percentages",
                            f"did you mean {_fmt(raw * 100)}%? write \"{_fmt(raw)}%\" for {_fmt(raw)} percent")
                continue
            threshold = _threshold(raw, unit, default)
            if unit != "none" and threshold is None:
                self.report(t_path, f"model {name!r}: alert {key} is enabled but has no threshold",
                            "set a threshold or `enabled: false`")
                continue
            if not self._signal_ok(index, key, engine, written):
                continue
            if not self._threshold_ok(key, threshold, t_path, name, engine):
                continue
            out.append(Alert(key, alert_name, threshold, tier,
                             for_ or getattr(self.spec.alert_tiers, tier).for_))
        return tuple(out)

    def _signal_ok(self, index: int, key: str, engine: Preset | None, written: bool) -> bool:
        """False when the engine lacks the alert's signal: an error if the spec asked for the alert (`written`:
        any of its fields set, in the model or the defaults), a warning if only llmmon's defaults did; a
        documented substitute is a warning."""
        if engine is None:
            return True
        name = self.spec.models[index].name
        _, path = self.pick(index, "alerts", key)
        if key == "gpu_utilization_low" and self.spec.gpu_exporter.kind == "none" and engine.gpu_utilization is None:
            if written:
                self.report(path, f"model {name!r}: gpu_utilization_low needs GPU series, but gpu_exporter.kind is "
                            f"none and engine {engine.name} reports none", "set gpu_exporter.kind or `enabled: false`")
            else:
                self.left_out(index, f"no GPU series (gpu_exporter.kind is none and engine {engine.name} reports "
                              "none): alert gpu_utilization_low is left out")
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
        signal = SIGNAL["latency" if key == "latency_p99" else "ttft"]
        if written:
            self.report(path, f"model {name!r}: engine {engine.name} has no {signal} histogram, so alert {key} "
                        "cannot be evaluated", f"set `alerts: {{{key}: {{enabled: false}}}}` for this model")
        else:
            self.left_out(index, f"engine {engine.name} has no {signal} histogram: alert {key} is left out")
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
