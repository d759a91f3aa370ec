"""Every check that `llmmon validate` runs beyond promtool, in one list.

A check takes the folder the bundle was written to, the bundle and the plan, and returns a CheckResult:
findings (each a message naming the file and, where it can, the model) and one line per check that passed.
A check whose external tool is missing says so in `missing` (with how to install it) instead of failing, so that
`llmmon validate` can count it as skipped and `--strict` can fail on it; a check turned off on purpose says so in
`skipped`. Each check has a name that `llmmon validate --skip NAME` selects it by.
"""

from __future__ import annotations

from collections.abc import Callable

from llmmon.checks.result import Check, CheckResult


def named() -> dict[str, Check]:
    """The checks by the name `--skip` takes, in the order they run (promtool, run apart, is named too). Imported
    here, when the checks run, not with the registry: `--skip` only needs NAMES."""
    from llmmon.checks import checkov, grafana, kubernetes, telemetry

    return {"grafana": grafana.check, "logs": telemetry.logs, "traces": telemetry.traces,
            "alertmanager": telemetry.routing, "kubernetes": kubernetes.check, "checkov": checkov.check}


def remembered() -> dict[str, Callable[[], str | None]]:
    """The checks of llmmon's own whose passes `validate` remembers (checks/passes.py `remembering`), with what
    tells apart the tools they run on; the slow external checkers remember theirs themselves."""
    from llmmon.checks import grafana, kubernetes

    return {"grafana": grafana.checker, "kubernetes": kubernetes.checker}


# What each name of `llmmon validate --skip` leaves out, for --help and the summary.
NAMES = {
    "promtool": "promtool check rules and promtool test rules",
    "grafana": "dashboard schema, PromQL and ConfigMap checks",
    "logs": "Fluentd config and Elasticsearch policy checks",
    "traces": "OpenTelemetry Collector config checks",
    "alertmanager": "amtool check-config and route tests",
    "kubernetes": "kustomization, kubernetes-validate, CRD and kubectl kustomize checks",
    "checkov": "the checkov security scan",
}


def checks() -> list[Check]:
    """The checks, in the order they run."""
    return list(named().values())


__all__ = ["NAMES", "Check", "CheckResult", "checks", "named"]
