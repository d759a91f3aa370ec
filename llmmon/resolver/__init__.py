"""The resolver: a validated spec into a Plan (defaults and per-model overrides merged, units normalised,
cross-field checks done), every problem reported as a diagnostic at its place in the YAML. Its parts: base
(reporting, picking a model's value), models, objectives, alerts, checks (across the spec)."""

from __future__ import annotations

from llmmon import spec as s
from llmmon import telemetry
from llmmon.diagnostics import Diagnostic, Severity, SpecError, has_errors
from llmmon.model import Plan, Tier
from llmmon.resolver.base import _fmt
from llmmon.resolver.checks import ChecksMixin
from llmmon.resolver.models import ModelsMixin
from llmmon.units import looks_like_ratio
from llmmon.yamlpos import Document


class Resolver(ModelsMixin, ChecksMixin):
    """Resolves one spec; `diagnostics` holds what it reported (warnings, when it returns a Plan)."""

    def resolve(self) -> Plan:
        spec = self.spec
        self._check_tiers()
        models = [self._model(i) for i in range(len(spec.models))]
        self.report_left_out()
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



def resolve(spec: s.MonitoringSpec, doc: Document | None = None, file: str = "spec.yaml") -> tuple[Plan,
                                                                                                 list[Diagnostic]]:
    """Resolve a validated spec into a Plan; raises SpecError with every problem found."""
    resolver = Resolver(spec, doc, file)
    plan = resolver.resolve()
    return plan, resolver.diagnostics
