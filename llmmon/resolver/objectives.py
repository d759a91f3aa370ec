"""A model's SLOs resolved: availability, latency and TTFT objectives as ratios, their thresholds at histogram
buckets, and a warning for burn-rate pairs that can never fire."""

from __future__ import annotations

from llmmon.diagnostics import Severity
from llmmon.engines import Preset
from llmmon.model import SLO_KINDS, Objective
from llmmon.resolver.base import SIGNAL, ResolverBase, _fmt
from llmmon.slo import BURN_WINDOWS, slo_histogram
from llmmon.yamlpos import Path


class ObjectivesMixin(ResolverBase):
    """A model's objectives."""

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
                self.report(t_path, f"model {name!r}: engine {engine.name} has no {SIGNAL[kind]} histogram, "
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
