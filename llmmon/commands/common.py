"""What every command shares: messages to stderr, diagnostics printed, a spec loaded or the command ends."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from llmmon.diagnostics import Diagnostic, ExitCode, Severity

if TYPE_CHECKING:
    from llmmon.model import Plan


def err(text: str) -> None:
    """A line on stderr."""
    typer.echo(text, err=True)


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    """Every diagnostic, then a summary line when there are errors."""
    for d in diagnostics:
        err(d.render())
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        err(f"{errors} error(s), {warnings} warning(s): nothing was generated")


def load(spec: Path) -> Plan:
    """The spec's plan; its diagnostics printed; exit 2 when it has errors."""
    from llmmon.compiler import load as compile_spec

    plan, diagnostics = compile_spec(spec, str(spec))
    print_diagnostics(diagnostics)
    if plan is None:
        raise typer.Exit(ExitCode.USAGE)
    return plan
