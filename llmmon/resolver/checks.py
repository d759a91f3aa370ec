"""Checks across the spec: tiers and receivers, alert routing and secret files, the SLO window, model names and
series that two models would share, pods regexes that select another model's pods."""

from __future__ import annotations

import difflib

from llmmon import spec as s
from llmmon.diagnostics import Severity
from llmmon.model import Model
from llmmon.pods import overlaps
from llmmon.resolver.base import ResolverBase, _re_escape
from llmmon.secret_paths import SECRETS_DIR, fallback_secret, secret_files, secret_ref
from llmmon.slo import BURN_WINDOWS
from llmmon.units import Duration

LONGEST_FOR = Duration.parse("1d")  # a `for` beyond it is warned about: see `long_for`


def long_for(for_: Duration) -> str | None:
    """The warning for an alert that must hold its condition longer than a day before it fires, None otherwise."""
    if for_.ms <= LONGEST_FOR.ms:
        return None
    return (f"an alert fires only once its condition has held without a break for {for_}; any evaluation "
            "without it (a gap in the data, a Prometheus restart of more than an hour, a pod replaced) starts the "
            "wait again, so it may never fire")


LONG_FOR_HINT = "wait an hour or less: slow trends are what the 6h and 3d burn-rate windows catch"


class ChecksMixin(ResolverBase):
    """Checks across models, tiers and receivers."""

    def _check_tiers(self) -> None:
        receivers = sorted(self.spec.receivers)
        used: set[str] = set()
        self._check_routing(receivers, used)
        for tier in s.TIERS:
            warning = long_for(getattr(self.spec.alert_tiers, tier).for_)
            if warning:
                self.report(("alert_tiers", tier, "for"), warning, LONG_FOR_HINT, severity=Severity.WARNING)
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
