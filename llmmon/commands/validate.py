"""The body of `llmmon validate`: which checks to leave out, the run, its report in the chosen format."""

from __future__ import annotations

from pathlib import Path

import typer

from llmmon.commands.common import err
from llmmon.diagnostics import ExitCode


def skips(skip: list[str] | None, skip_promtool: bool, spec_only: bool) -> tuple[str, ...]:
    """The checks to leave out, in registry order; an unknown name is a usage error."""
    from llmmon.checks.registry import NAMES

    chosen = set(NAMES) if spec_only else set(skip or ()) | ({"promtool"} if skip_promtool else set())
    unknown = sorted(chosen - NAMES.keys())
    if unknown:
        err(f"llmmon: --skip {unknown[0]}: no such check (checks: {', '.join(NAMES)})")
        raise typer.Exit(ExitCode.USAGE)
    return tuple(n for n in NAMES if n in chosen)


def run(spec: Path, fmt: str, skip: list[str] | None, skip_promtool: bool, spec_only: bool, strict: bool) -> None:
    """Validate SPEC; exit with the outcome's code. `fmt`: text, json or github."""
    from llmmon import report

    outcome = report.run(spec, skip=skips(skip, skip_promtool, spec_only), strict=strict)
    if fmt == "text":
        out, problems = report.as_text(outcome)
        typer.echo(problems, err=True, nl=False)
    else:
        out = report.as_json(outcome) if fmt == "json" else report.as_github(outcome)
    typer.echo(out, nl=False)
    raise typer.Exit(outcome.exit_code)
