"""The `llmmon` command: parse flags, call the library, print diagnostics, exit. Logic lives elsewhere."""

from __future__ import annotations

import enum
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from llmmon import __version__
from llmmon.commands.common import err as _err
from llmmon.diagnostics import ExitCode

app = typer.Typer(
    name="llmmon",
    help="Monitoring-as-code for LLM inference services: one spec compiled into checked Prometheus rules.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

SpecArg = Annotated[Path, typer.Argument(help="The spec file (YAML), e.g. specs/example.yaml.", show_default=False)]


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
    lock_timeout: Annotated[float, typer.Option("--lock-timeout", min=0, help=(
        "Seconds to wait while another llmmon run writes DIR (default: fail at once)."))] = 0.0,
    validate: Annotated[bool, typer.Option("--validate", help=(
        "First run every check of `llmmon validate` on the output; write DIR only when they pass."))] = False,
) -> None:
    """Compile SPEC into rules, tests and manifests under DIR (only changed files are written).

    Example: llmmon generate specs/example.yaml -o out/ --validate
    """
    from llmmon.commands import generate as command

    command.run(spec, out, check, lock_timeout, validate)


class ValidateFormat(enum.StrEnum):
    """Output formats of `llmmon validate`."""

    TEXT = "text"
    JSON = "json"
    GITHUB = "github"


_CHECK_NAMES = "promtool, grafana, logs, traces, alertmanager, kubernetes, checkov"  # registry.NAMES, kept light
SkipOpt = Annotated[list[str] | None, typer.Option(
    "--skip", metavar="CHECK", help=f"Leave out one check ({_CHECK_NAMES}); repeat for more. The summary counts "
    "what was left out.", show_default=False)]
SkipPromtoolOpt = Annotated[bool, typer.Option("--skip-promtool", help=(
    "Same as --skip promtool: leave out promtool check/test rules; every other check still runs."))]
SpecOnlyOpt = Annotated[bool, typer.Option("--spec-only", help=(
    "Check the spec only: leave out every check of the generated output."))]
StrictOpt = Annotated[bool, typer.Option("--strict", help=(
    "Fail (exit 1) when a checker is not installed instead of skipping it; for CI and pre-commit."))]


@app.command()
def validate(
    spec: SpecArg,
    skip_promtool: SkipPromtoolOpt = False,
    fmt: Annotated[ValidateFormat, typer.Option(
        "--format", help="text for people; json: one document listing every finding with its position; "
                         "github: GitHub Actions annotations on the spec's lines.")] = ValidateFormat.TEXT,
    skip: SkipOpt = None,
    spec_only: SpecOnlyOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Check SPEC, generate into a temporary folder and run every checker on the result: promtool check/test
    rules, amtool, Grafana, Fluentd, Collector, Kubernetes and checkov checks. A checker that is not installed
    is skipped (and counted in the summary) unless --strict is given.

    \b
    Example: llmmon validate specs/example.yaml --strict --format github
    """
    from llmmon.commands import validate as command

    command.run(spec, fmt.value, skip, skip_promtool, spec_only, strict)


@app.command()
def schema(
    out: Annotated[Path | None, typer.Option("-o", "--out", help="Write to this file instead of stdout.")] = None,
) -> None:
    """Print the JSON Schema of the spec, for editors (yaml-language-server) and CI.

    Example: llmmon schema -o llmmon.schema.json
    """
    from llmmon.spec import json_schema_text

    text = json_schema_text()
    if out is None:
        typer.echo(text, nl=False)
    else:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as exc:
            _err(f"llmmon: cannot write {out}: {exc.strerror or exc}")
            raise typer.Exit(ExitCode.USAGE) from None


class MetricsFormat(enum.StrEnum):
    """Output formats of `llmmon check-metrics`."""

    TEXT = "text"
    JSON = "json"


@app.command("check-metrics")
def check_metrics(
    spec: SpecArg,
    metrics_file: Annotated[Path, typer.Option("--metrics-file", help="A scrape: `curl http://pod:8000/metrics`.")],
    model: Annotated[str | None, typer.Option("--model", help="Check only this model of the spec.")] = None,
    fmt: Annotated[MetricsFormat, typer.Option(
        "--format", help="text for people; json: one document with every row and its verdict.")] = MetricsFormat.TEXT,
) -> None:
    """Check a real /metrics page against what the generated rules rely on, per model and signal.

    Example: llmmon check-metrics spec.yaml --metrics-file scrape.txt --model llama-3-70b
    (scrape.txt from `curl -s http://llama-3-70b-0:8000/metrics`)
    """
    from llmmon.commands import check_metrics as command

    command.run(spec, metrics_file, model, fmt is MetricsFormat.JSON)


@app.command()
def engines() -> None:
    """List the serving-engine presets per version: the series behind each signal, what counts as a request and
    as an error, and which versions were checked against a real /metrics page.

    Example: llmmon engines
    """
    from llmmon.engines.listing import listing

    typer.echo(listing(), nl=False)


class ExplainFormat(enum.StrEnum):
    """Output formats of `llmmon explain`."""

    TABLE = "table"
    MARKDOWN = "markdown"


@app.command()
def explain(
    spec: SpecArg,
    fmt: Annotated[ExplainFormat, typer.Option(
        "--format", help="table for a terminal, markdown for a pull-request comment.")] = ExplainFormat.TABLE,
    interval: Annotated[str, typer.Option("--interval", help="Scrape and rule-evaluation interval the outage times "
                                          "assume (kube-prometheus-stack evaluates every 30s).")] = "1m",
) -> None:
    """Explain SPEC's plan: per model its SLOs and error budgets, every alert with its condition, threshold,
    `for`, severity and receiver, and how long a total outage takes to page.

    \b
    Example: llmmon explain specs/example.yaml --format markdown >> "$GITHUB_STEP_SUMMARY"
    """
    from llmmon.commands import explain as command

    command.run(spec, fmt is ExplainFormat.MARKDOWN, interval)


def _engine_names(incomplete: str) -> list[str]:
    from llmmon.engines import PRESETS

    return [name for name in sorted(PRESETS) if name.startswith(incomplete)]


@app.command()
def init(
    out: Annotated[Path, typer.Option("-o", "--out", help="The spec file to write; `-` prints it.")]
    = Path("llmmon.yaml"),
    engine: Annotated[str, typer.Option("--engine", help="Metric preset of the serving engine (see `llmmon engines`).",
                                        autocompletion=_engine_names)] = "vllm",
    models: Annotated[str, typer.Option("--models", help="Model names, separated by commas.")] = "my-model",
    name: Annotated[str, typer.Option("--name", help="metadata.name: prefixes every generated object.")]
    = "llm-platform",
    namespace: Annotated[str, typer.Option("--namespace", help="Namespace of the serving pods.")] = "llm-serving",
    schema_file: Annotated[str, typer.Option("--schema", help="JSON Schema for the `$schema` line: a file, written "
                                             "next to the spec, or a URL.")] = "llmmon.schema.json",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing spec file.")] = False,
) -> None:
    """Write a commented starter spec that validates as it is, and the JSON Schema editors check it with.

    \b
    Example: llmmon init --engine vllm --models llama-3-8b,qwen2-7b -o llmmon.yaml
    """
    from llmmon.commands import init as command

    command.run(out, engine, models, name, namespace, schema_file, force)


hook = typer.Typer(help="What the pre-commit hooks run (.pre-commit-hooks.yaml): every file among FILES that is an "
                        "llmmon spec is checked; other files are skipped.", no_args_is_help=True)
app.add_typer(hook, name="hook")
FilesArg = Annotated[list[Path], typer.Argument(help="Files to look at; those without `apiVersion: llmmon/...` "
                                                "are skipped.", show_default=False)]


@hook.command("validate")
def hook_validate(
    files: FilesArg,
    skip_promtool: SkipPromtoolOpt = False,
    skip: SkipOpt = None,
    spec_only: SpecOnlyOpt = False,
    strict: StrictOpt = False,
) -> None:
    """Run `llmmon validate` on every spec among FILES (the llmmon-validate hook).

    \b
    Example: llmmon hook validate --strict specs/example.yaml specs/minimal.yaml
    """
    from llmmon import precommit

    raise typer.Exit(precommit.run(files, lambda spec: validate(spec, skip_promtool, ValidateFormat.TEXT, skip,
                                                                spec_only, strict)))


@hook.command("generate-check")
def hook_generate_check(
    files: FilesArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output directory the specs are generated into.")]
    = Path("out"),
) -> None:
    """Run `llmmon generate --check` on every spec among FILES (the llmmon-generate-check hook).

    \b
    Example: llmmon hook generate-check -o out specs/example.yaml
    """
    from llmmon import precommit

    raise typer.Exit(precommit.run(files, lambda spec: generate(spec, out, check=True)))


class _Signalled(BaseException):
    """SIGINT or SIGTERM. Not a KeyboardInterrupt, which click turns into "Aborted!" and exit 1: this one
    unwinds to main(), undoing a write in progress on the way, and exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _signalled(signum: int, frame: object) -> None:
    from llmmon import tools

    tools.kill_all()  # promtool and the other checkers go first: none may outlive llmmon
    raise _Signalled(signum)


def main() -> None:
    """Entry point: run the app; an unexpected error is one line unless LLMMON_DEBUG is set."""
    import signal

    previous = {s: signal.signal(s, _signalled) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        app()
    except _Signalled as stop:
        _err("llmmon: interrupted" if stop.signum == signal.SIGINT else "llmmon: terminated")
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:
        _err("llmmon: interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("LLMMON_DEBUG"):
            raise
        _err(f"llmmon: internal error: {type(exc).__name__}: {exc} (set LLMMON_DEBUG=1 for details; please report)")
        sys.exit(ExitCode.INTERNAL)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
