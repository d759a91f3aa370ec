"""What the pre-commit hooks run: the llmmon command on every given file that is an llmmon spec.

pre-commit passes every staged YAML file; only those whose top level says `apiVersion: llmmon/...` are
specs (any version, so a wrong one is reported rather than skipped). Other files are skipped in silence.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

import typer

from llmmon.diagnostics import ExitCode
from llmmon.yamlpos import MAX_BYTES

_SPEC = re.compile(rb"^apiVersion:[ \t]*[\"']?llmmon/", re.MULTILINE)


def is_spec(path: Path) -> bool:
    """True when the file looks like an llmmon spec (an unreadable file counts, so its error is reported)."""
    try:
        with path.open("rb") as handle:
            return bool(_SPEC.search(handle.read(MAX_BYTES + 1)))  # a spec is never larger
    except OSError:
        return True


def run(files: Iterable[Path], command: Callable[[Path], None]) -> int:
    """Run `command` (a CLI command that raises typer.Exit) on every spec; the worst exit code wins."""
    worst = int(ExitCode.OK)
    for spec in (f for f in files if is_spec(f)):
        try:
            command(spec)
        except typer.Exit as exc:
            worst = max(worst, exc.exit_code)
    return worst
