"""What a check returns (CheckResult) and what a check is (Check): the only thing the check modules and the
registry share, so that neither imports the other."""

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
    skipped: list[str] = field(default_factory=list)  # turned off on purpose (LLMMON_CHECKOV=off)
    missing: list[str] = field(default_factory=list)  # not run: a tool it needs is not installed


Check = Callable[[Path, "Bundle", Plan], CheckResult]
