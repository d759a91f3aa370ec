"""The body of `llmmon init`: a starter spec and its JSON Schema written (or printed)."""

from __future__ import annotations

from pathlib import Path

import typer

from llmmon.commands.common import err
from llmmon.diagnostics import ExitCode


def run(out: Path, engine: str, models: str, name: str, namespace: str, schema_file: str, force: bool) -> None:
    """Write the starter spec to OUT (`-`: print it)."""
    from llmmon import init as starter

    try:
        files = starter.files(out, engine, models, name=name, namespace=namespace, schema=schema_file, force=force)
        for path, text in files.items():
            if str(path) == "-":
                typer.echo(text, nl=False)
                return
            path.write_text(text, encoding="utf-8")
    except starter.InitError as exc:
        err(f"llmmon init: {exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    except OSError as exc:
        err(f"llmmon init: cannot write {exc.filename or out}: {exc.strerror or exc}")
        raise typer.Exit(ExitCode.USAGE) from None
    typer.echo(f"wrote {' and '.join(map(str, files))}; next: llmmon validate {out} && llmmon explain {out}")
