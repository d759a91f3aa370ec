"""The library entry points: spec file → resolved plan → generated files. The CLI is a shell over these."""

from __future__ import annotations

from pathlib import Path

from llmmon.diagnostics import Diagnostic, SpecError, has_errors
from llmmon.loader import read_spec
from llmmon.model import Plan
from llmmon.resolver import resolve


def load(path: Path, display: str | None = None) -> tuple[Plan | None, list[Diagnostic]]:
    """Read, validate and resolve a spec: the plan (None when there are errors) and every diagnostic."""
    name = display or str(path)
    spec, doc, diagnostics = read_spec(path, name)
    if spec is None or has_errors(diagnostics):
        return None, sorted(diagnostics)
    try:
        plan, warnings = resolve(spec, doc, name)
    except SpecError as exc:
        return None, sorted(diagnostics + exc.diagnostics)
    return plan, sorted(diagnostics + warnings)
