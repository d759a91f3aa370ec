"""The body of `llmmon explain`: the plan as a table for a terminal or as Markdown."""

from __future__ import annotations

from pathlib import Path

import typer

from llmmon.commands.common import err, load
from llmmon.diagnostics import ExitCode


def run(spec: Path, markdown: bool, interval: str) -> None:
    """Explain SPEC's plan at a scrape and evaluation `interval`."""
    from llmmon import explain as explaining
    from llmmon.units import Duration

    try:
        step = Duration.parse(interval)
        problem = explaining.check_step(step)
    except ValueError as exc:
        problem = str(exc)
    if problem:
        err(f"llmmon explain: --interval: {problem}")
        raise typer.Exit(ExitCode.USAGE)
    plan = load(spec)
    explanation = explaining.explain(plan, str(spec), step)
    if markdown:
        typer.echo(explaining.markdown(explanation), nl=False)
        return
    from rich.console import Console

    explaining.print_rich(explanation, Console(highlight=False))
