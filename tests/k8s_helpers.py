"""Helpers of the Kubernetes tests: variants of the example spec, its manifests as objects, the real tools."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from helpers import EXAMPLE, plan_of
from llmmon.generate import Bundle, build
from llmmon.model import Plan

Change = Callable[[dict[str, Any]], None]


def variant(tmp: Path, change: Change | None = None, name: str = "spec.yaml") -> Plan:
    """The plan of the example spec after `change` (which edits its data in place)."""
    data: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    if change:
        change(data)
    path = tmp / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return plan_of(path)


def objects(bundle: Bundle | dict[str, str], path_end: str) -> list[dict[str, Any]]:
    """The objects of the one generated file whose path ends with `path_end`."""
    files = bundle.files if isinstance(bundle, Bundle) else bundle
    matches = [p for p in files if p.endswith(path_end)]
    assert len(matches) == 1, (path_end, sorted(files))
    return [d for d in yaml.safe_load_all(files[matches[0]]) if d]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single object of a kind."""
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, (kind, [d["kind"] for d in docs])
    return found[0]


def exporter(plan: Plan) -> list[dict[str, Any]]:
    """The GPU exporter's objects of a plan."""
    return objects(build(plan), f"{plan.name}-gpu-exporter.yaml")


def checkov() -> str:
    """The real checkov (`make tools` installs it in the tool cache and sets LLMMON_CHECKOV); a clear failure
    when it is missing."""
    found = os.environ.get("LLMMON_CHECKOV") or shutil.which("checkov")
    assert found and Path(found).exists(), (
        "checkov is not installed: run the tests with `make test` (`make tools` installs checkov in a virtual "
        "environment of its own in the tool cache) or set LLMMON_CHECKOV")
    return found
