"""Every check that `llmmon validate` runs beyond promtool, in one list.

A check takes the folder the bundle was written to, the bundle and the plan, and returns a CheckResult:
findings (each a message naming the file and, where it can, the model) and one line per check that passed.
A check whose external tool is missing says so in `skipped` instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle


@dataclass
class CheckResult:
    """What one check found."""

    findings: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


Check = Callable[[Path, "Bundle", Plan], CheckResult]


def checks() -> list[Check]:
    """The checks, in the order they run."""
    from llmmon.checks import checkov, grafana, kubernetes, telemetry

    return [grafana.check, telemetry.logs, telemetry.traces, telemetry.routing, kubernetes.check, checkov.check]
