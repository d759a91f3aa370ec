"""What every part of the resolver shares: the spec, the diagnostics reported so far, and a model's value for a
key (its own, else the defaults'), with the YAML path it came from."""

from __future__ import annotations

import functools
import re
from typing import Any

from llmmon import spec as s
from llmmon.diagnostics import Diagnostic, Severity
from llmmon.units import Duration
from llmmon.yamlpos import Document, Path

SIGNAL = {"latency": "end-to-end latency", "ttft": "time-to-first-token", "itl": "inter-token latency"}


class ResolverBase:
    """The spec being resolved and what was reported about it."""

    def __init__(self, spec: s.MonitoringSpec, doc: Document | None, file: str) -> None:
        self.spec, self.doc, self.file = spec, doc, file
        self.diagnostics: list[Diagnostic] = []
        self._left_out: dict[str, list[int]] = {}  # warning → the models it is about, reported once (see below)

    def report(self, path: Path, message: str, suggestion: str | None = None,
               severity: Severity = Severity.ERROR) -> None:
        line, col = self.doc.value_position(path) if self.doc else (0, 0)
        dotted = ".".join(str(p) for p in path)
        if path[:1] != ("models",):  # a mistake in defaults is reported once, not once per model
            message = re.sub(r"^model '[^']*': ", "", message)
        if any((d.line, d.col, d.message) == (line, col, message) for d in self.diagnostics):
            return
        self.diagnostics.append(Diagnostic(self.file, line, col, dotted, message, severity, suggestion))

    def left_out(self, index: int, message: str) -> None:
        """A warning about one model that the next models of the same engine would repeat word for word (only
        llmmon's defaults asked for an alert the engine cannot evaluate): reported once by `report_left_out`."""
        self._left_out.setdefault(message, []).append(index)

    def report_left_out(self) -> None:
        """Each collected warning once, at its first model, naming the models (a fleet of 100 TGI models gets one
        warning that TTFT alerts are left out, not 100)."""
        for message, indexes in self._left_out.items():
            names = [repr(self.spec.models[i].name) for i in indexes]
            who = (f"model {names[0]}" if len(names) == 1 else f"models {', '.join(names)}" if len(names) <= 3
                   else f"models {', '.join(names[:3])} and {len(names) - 3} more")
            self.report(("models", indexes[0]), f"{who}: {message}", severity=Severity.WARNING)
        self._left_out.clear()

    def pick(self, index: int, *keys: str) -> tuple[Any, Path]:
        """A model's value for a key path, else the default's; with the path it came from."""
        value: Any = self.spec.models[index]  # asked ~150 times per model: written out for speed
        for key in keys:
            value = getattr(value, key, None)
            if value is None:
                break
        else:
            return value, ("models", index, *_aliased(keys))
        value = self.spec.defaults
        for key in keys:
            value = getattr(value, key, None)
            if value is None:
                break
        else:
            return value, ("defaults", *_aliased(keys))
        return None, ("models", index, *_aliased(keys))



def _threshold(raw: Any, unit: str, default: float | None) -> float | None:
    if raw is None:
        return default
    if isinstance(raw, Duration):
        return raw.seconds
    if unit == "ratio":
        return round(float(raw) / 100, 12)
    return float(raw)


def _alias(key: str) -> str:
    return "for" if key == "for_" else key


@functools.lru_cache(maxsize=1024)  # pick() asks ~150 times per model, always with the same few key paths
def _aliased(keys: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_alias(k) for k in keys)


def _fmt(value: float) -> str:
    return f"{value:g}"


def _re_escape(text: str) -> str:
    return text.replace(".", r"\.")



def _squash(name: str) -> str:
    """A name without case or punctuation, to tell a misspelling (h100, H-100) from another name (H200)."""
    return "".join(c for c in name.lower() if c.isalnum())
