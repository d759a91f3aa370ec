"""Diagnostics: what llmmon tells a user about their spec, and the exit codes it ends with."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class ExitCode(enum.IntEnum):
    """Every exit code of the CLI, in one place."""

    OK = 0
    FINDINGS = 1  # checks failed or generated output is stale
    USAGE = 2  # bad spec, bad flags, missing input or tool, unwritable output
    INTERNAL = 70  # a bug in llmmon (EX_SOFTWARE)


class Severity(enum.StrEnum):
    """How serious a diagnostic is: errors stop generation, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding about the spec, anchored to a position in its file."""

    file: str
    line: int  # 1-based; 0 when the finding has no position (e.g. the file cannot be read)
    col: int  # 1-based
    path: str  # dotted key path, e.g. "models.0.slo.availability"; "" for the whole document
    message: str
    severity: Severity = Severity.ERROR
    suggestion: str | None = None

    def render(self) -> str:
        """Format as `FILE:LINE:COL: key.path: message` on one line, warnings marked as such.

        Keys and values from the spec can hold anything: control characters, line breaks and bidirectional
        overrides are shown escaped, so a spec can neither split a diagnostic nor drive the terminal.
        """
        where = f"{self.file}:{self.line}:{self.col}" if self.line else self.file
        text = self.message if not self.path else f"{self.path}: {self.message}"
        if self.severity is Severity.WARNING:
            text = f"warning: {text}"
        if self.suggestion:
            text = f"{text} ({self.suggestion})"
        if len(text) > MAX_TEXT:  # a megabyte-long value is not echoed whole
            cut = len(text) - MAX_TEXT
            text = f"{text[:MAX_TEXT // 2]}...({cut} characters)...{text[-MAX_TEXT // 2:]}"
        return _UNPRINTABLE.sub(_escape, f"{where}: {text}")


MAX_TEXT = 600


_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    """True when at least one diagnostic is an error."""
    return any(d.severity is Severity.ERROR for d in diagnostics)


class SpecError(Exception):
    """Raised when a spec cannot be compiled; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} problem(s) in the spec")
        self.diagnostics = sorted(diagnostics)
