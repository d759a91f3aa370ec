"""The body of `llmmon generate`: compile, optionally validate, then compare with or write the output folder."""

from __future__ import annotations

from pathlib import Path

import typer

from llmmon.commands.common import err, load
from llmmon.diagnostics import ExitCode


def run(spec: Path, out: Path, check: bool, lock_timeout: float, validate: bool) -> None:
    """Generate SPEC into OUT (or only compare with it, `check`)."""
    from llmmon import output
    from llmmon.generate import build

    plan = load(spec)
    bundle = build(plan)
    if validate and not check:
        from llmmon import report

        outcome = report.check(report.Outcome(spec=str(spec)), plan, bundle)
        text, problems = report.as_text(outcome)
        typer.echo(problems, err=True, nl=False)
        typer.echo(text, nl=False)
        if outcome.exit_code != ExitCode.OK:
            err(f"llmmon: nothing written: {out} is as it was")
            raise typer.Exit(outcome.exit_code)
    try:
        if check:
            changes = output.compare(out, plan.name, bundle.files)
            if changes.stale:
                typer.echo(output.diff(out, plan.name, bundle.files, changes), nl=False)
                err(f"{out} is stale for {spec}: {len(changes.added)} missing, {len(changes.changed)} changed, "
                     f"{len(changes.removed)} no longer generated; run `llmmon generate {spec} -o {out}`")
                raise typer.Exit(ExitCode.FINDINGS)
            typer.echo(f"{out} is up to date with {spec} ({len(changes.unchanged)} files)")
            return
        changes = output.write(out, plan.name, bundle.files, lock_timeout=lock_timeout)
    except output.OutputError as exc:
        err(f"llmmon: {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    if changes.recovered:
        err(f"llmmon: an earlier run was interrupted while writing {out}; its changes were rolled back first")
    typer.echo(f"{spec}: wrote {out}/ ({len(changes.added)} added, {len(changes.changed)} changed, "
               f"{len(changes.removed)} removed, {len(changes.unchanged)} unchanged)")
