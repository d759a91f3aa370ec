"""Shared helpers of the tests: load specs, generate into a folder, run promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

from typer.testing import CliRunner, Result

from llmmon.cli import app
from llmmon.compiler import load
from llmmon.generate import Bundle, build
from llmmon.model import Plan
from llmmon.output import write

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "specs" / "example.yaml"


def plan_of(path: Path) -> Plan:
    """The plan of a spec that must be valid."""
    plan, diagnostics = load(path, path.name)
    assert plan is not None, "\n".join(d.render() for d in diagnostics)
    return plan


def plan_from_text(tmp: Path, text: str, name: str = "spec.yaml") -> Plan:
    """The plan of a spec given as text."""
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return plan_of(path)


def generate(plan: Plan, out: Path) -> Bundle:
    """Build a plan and write it under `out`."""
    bundle = build(plan)
    write(out, plan.name, bundle.files)
    return bundle


def promtool(*args: str, cwd: Path | None = None, binary: str = "promtool") -> subprocess.CompletedProcess[str]:
    """Run the real promtool (the one on PATH, Debian's, unless `binary` names another: tests/versions.py).
    The timeout only stops a hung promtool: a 6-hour scenario at a 30s step took over 120 s at load 18."""
    return subprocess.run([binary, *args], cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def invoke(*args: str) -> Result:
    """Run the CLI in-process."""
    return CliRunner().invoke(app, list(args))



def eval_order(rules: Path) -> list[str]:
    """The rule file's groups in file order, for promtool's `group_eval_order`: without it promtool evaluates groups
    in a random order, and an alert read in the same step as the series it depends on fires a step late or early."""
    import yaml

    return [g["name"] for g in yaml.safe_load(rules.read_text(encoding="utf-8"))["groups"]]
