"""Variants of the example spec for the logs, traces and routing tests: change a few keys, get a plan or its
diagnostics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from helpers import EXAMPLE, plan_of
from llmmon.compiler import load
from llmmon.generate import build
from llmmon.model import Plan

Change = Callable[[dict[str, Any]], None]


def example_data() -> dict[str, Any]:
    """The example spec as plain data."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    return data


def _write(tmp: Path, change: Change, name: str) -> Path:
    data = example_data()
    change(data)
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def plan_with(tmp: Path, change: Change, name: str = "spec.yaml") -> Plan:
    """The plan of the example spec after `change`; the spec must stay valid."""
    return plan_of(_write(tmp, change, name))


def files_with(tmp: Path, change: Change, name: str = "spec.yaml") -> dict[str, str]:
    """Every generated file of the changed example spec."""
    return build(plan_with(tmp, change, name)).files


def diagnostics_with(tmp: Path, change: Change) -> list[str]:
    """The rendered diagnostics of the changed example spec (errors and warnings)."""
    _, diagnostics = load(_write(tmp, change, "spec.yaml"), "spec.yaml")
    return [d.render() for d in diagnostics]
