"""The body of `llmmon check-metrics`: a scraped /metrics page against what the rules rely on."""

from __future__ import annotations

from pathlib import Path

import typer

from llmmon.commands.common import err, load
from llmmon.diagnostics import ExitCode


def run(spec: Path, metrics_file: Path, model: str | None, as_json: bool) -> None:
    """Check METRICS_FILE against SPEC's rules; exit 1 on findings."""
    from llmmon import metrics_check

    plan = load(spec)
    if model is not None and model not in {m.name for m in plan.models}:
        err(f"llmmon: model {model!r} is not in {spec} (models: {', '.join(m.name for m in plan.models)})")
        raise typer.Exit(ExitCode.USAGE)
    try:
        text = metrics_file.read_text(encoding="utf-8", errors="replace")
        rows = metrics_check.check(plan, text, model)
    except OSError as exc:
        err(f"llmmon: cannot read {metrics_file}: {exc.strerror or exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    except metrics_check.ExpositionError as exc:
        err(f"{metrics_file}: {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    failing = [r for r in rows if r.status in metrics_check.FAILING]
    code = ExitCode.FINDINGS if failing else ExitCode.OK
    if as_json:
        typer.echo(metrics_check.as_json(rows, str(spec), str(metrics_file), int(code)), nl=False)
    else:
        typer.echo(metrics_check.render(rows), nl=False)
        if failing:
            err(f"{len(failing)} finding(s): relied-on metrics missing, thresholds off the scraped buckets or "
                 "the engine version differs")
    raise typer.Exit(code)
