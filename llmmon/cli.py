"""The `llmmon` command: parse flags, call the library, print diagnostics, exit. Logic lives elsewhere."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from llmmon import __version__
from llmmon.diagnostics import Diagnostic, ExitCode, Severity

app = typer.Typer(
    name="llmmon",
    help="Monitoring-as-code for LLM inference services: one spec compiled into checked Prometheus rules.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

SpecArg = Annotated[Path, typer.Argument(help="The spec file (YAML), e.g. specs/example.yaml.", show_default=False)]


def _err(text: str) -> None:
    typer.echo(text, err=True)


def _print(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        _err(d.render())
    errors = sum(d.severity is Severity.ERROR for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        _err(f"{errors} error(s), {warnings} warning(s): nothing was generated")


def _load(spec: Path):  # type: ignore[no-untyped-def]
    from llmmon.compiler import load

    plan, diagnostics = load(spec, str(spec))
    _print(diagnostics)
    if plan is None:
        raise typer.Exit(ExitCode.USAGE)
    return plan


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmmon {__version__}")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Monitoring-as-code for LLM inference services.

    Example: llmmon generate specs/example.yaml && llmmon validate specs/example.yaml
    """


@app.command()
def generate(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory.")] = Path("out"),
    check: Annotated[bool, typer.Option("--check", help="Write nothing; exit 1 with a diff when DIR is stale.")]
    = False,
) -> None:
    """Compile SPEC into rules, tests and manifests under DIR (only changed files are written).

    Example: llmmon generate specs/example.yaml -o out/
    """
    from llmmon import output
    from llmmon.generate import build

    plan = _load(spec)
    bundle = build(plan)
    try:
        if check:
            changes = output.compare(out, plan.name, bundle.files)
            if changes.stale:
                typer.echo(output.diff(out, plan.name, bundle.files, changes), nl=False)
                _err(f"{out} is stale for {spec}: {len(changes.added)} missing, {len(changes.changed)} changed, "
                     f"{len(changes.removed)} no longer generated; run `llmmon generate {spec} -o {out}`")
                raise typer.Exit(ExitCode.FINDINGS)
            typer.echo(f"{out} is up to date with {spec} ({len(changes.unchanged)} files)")
            return
        changes = output.write(out, plan.name, bundle.files)
    except output.OutputError as exc:
        _err(f"llmmon: {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    typer.echo(f"{spec}: wrote {out}/ ({len(changes.added)} added, {len(changes.changed)} changed, "
               f"{len(changes.removed)} removed, {len(changes.unchanged)} unchanged)")


@app.command()
def validate(
    spec: SpecArg,
    skip_promtool: Annotated[bool, typer.Option("--skip-promtool", help="Check the spec only.")] = False,
) -> None:
    """Check SPEC, generate into a temporary folder and run promtool check/test rules on the result.

    Example: llmmon validate specs/example.yaml
    """
    from llmmon import validate as validation
    from llmmon.checks.promtool import ToolMissing
    from llmmon.generate import build

    plan = _load(spec)
    bundle = build(plan)
    try:
        result = validation.run(bundle, plan, skip_promtool=skip_promtool)
    except ToolMissing as exc:
        _err(f"llmmon: {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    for finding in result.findings:
        _err(finding)
    c = bundle.counts
    assert c is not None
    typer.echo(f"{spec}: spec {plan.name}: {c.models} models, {c.recording + c.alerting} rules "
               f"({c.recording} recording, {c.alerting} alerting)")
    for line in result.checks:
        typer.echo(f"  {line}")
    if not result.ok:
        _err(f"{len(result.findings)} check(s) failed")
        raise typer.Exit(ExitCode.FINDINGS)
    if not skip_promtool:
        typer.echo(f"  valid ({result.seconds:.2f} s of checks)")


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the spec, for editors (yaml-language-server) and CI.

    Example: llmmon schema -o llmmon.schema.json
    """
    from llmmon.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"llmmon: cannot write {out}: {exc.strerror or exc}")
            raise typer.Exit(ExitCode.USAGE) from None


@app.command("check-metrics")
def check_metrics(
    spec: SpecArg,
    metrics_file: Annotated[Path, typer.Option("--metrics-file", help="A scrape: `curl http://pod:8000/metrics`.")],
    model: Annotated[str | None, typer.Option("--model", help="Check only this model of the spec.")] = None,
) -> None:
    """Check a real /metrics page against what the generated rules rely on, per model and signal.

    Example: llmmon check-metrics spec.yaml --metrics-file scrape.txt --model llama-3-70b
    (scrape.txt from `curl -s http://llama-3-70b-0:8000/metrics`)
    """
    from llmmon import metrics_check

    plan = _load(spec)
    if model is not None and model not in {m.name for m in plan.models}:
        _err(f"llmmon: model {model!r} is not in {spec} (models: {', '.join(m.name for m in plan.models)})")
        raise typer.Exit(ExitCode.USAGE)
    try:
        text = metrics_file.read_text(encoding="utf-8", errors="replace")
        rows = metrics_check.check(plan, text, model)
    except OSError as exc:
        _err(f"llmmon: cannot read {metrics_file}: {exc.strerror or exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    except metrics_check.ExpositionError as exc:
        _err(f"{metrics_file}: {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    typer.echo(metrics_check.render(rows), nl=False)
    failing = [r for r in rows if r.status in metrics_check.FAILING]
    if failing:
        _err(f"{len(failing)} relied-on metric(s) missing or thresholds off the scraped buckets")
        raise typer.Exit(ExitCode.FINDINGS)


@app.command()
def engines() -> None:
    """List the serving-engine presets and the metric behind each signal.

    Example: llmmon engines
    """
    from llmmon.engines import PRESETS

    presets = list(PRESETS.values())
    signals = list(presets[0].signals())[:-1]
    width = max(len(p.name) for p in presets) + 2
    typer.echo("signal".ljust(12) + "".join(p.name.ljust(width) for p in presets).rstrip())
    for signal in signals:
        cells = ["mean" if p.signals()[signal].startswith("mean only") else "yes" if p.signals()[signal] else "-"
                 for p in presets]
        typer.echo(signal.ljust(12) + "".join(c.ljust(width) for c in cells).rstrip())
    for preset in presets:
        typer.echo(f"\n{preset.name}: {preset.title}")
        for signal, metric in preset.signals().items():
            typer.echo(f"  {signal:<10} {metric or '-'}")
        if preset.notes:
            typer.echo(f"  {'notes':<10} {preset.notes}")


def main() -> None:
    """Entry point: run the app; an unexpected error is one line unless LLMMON_DEBUG is set."""
    try:
        app()
    except KeyboardInterrupt:
        _err("llmmon: interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("LLMMON_DEBUG"):
            raise
        _err(f"llmmon: internal error: {type(exc).__name__}: {exc} (set LLMMON_DEBUG=1 for details; please report)")
        sys.exit(ExitCode.INTERNAL)
