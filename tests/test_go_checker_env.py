"""`promtool test rules` runs for seconds, not days: llmmon runs it with Go's garbage collector set for that
(llmmon.tools.go_checker_env), unless the user tuned the collector. The real promtool runs behind a wrapper that
logs the settings each run got."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLE, ROOT, invoke
from llmmon import tools

ONLY_PROMTOOL = ("--skip", "grafana", "--skip", "traces", "--skip", "alertmanager", "--skip", "kubernetes",
                 "--skip", "logs", "--skip", "checkov")


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """promtool behind a wrapper that logs its subcommand and GC settings; no remembered passes."""
    real = shutil.which("promtool")
    assert real, "promtool is not installed (make tools)"
    log = tmp_path / "runs"
    wrapper = tmp_path / "promtool"
    wrapper.write_text(f'#!/bin/sh\necho "$1 $2 GOGC=$GOGC GOMEMLIMIT=$GOMEMLIMIT" >> {log}\nexec {real} "$@"\n',
                       encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("LLMMON_PROMTOOL", str(wrapper))
    monkeypatch.setenv("LLMMON_CACHE", "off")
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    return log


def _runs(log: Path) -> list[str]:
    result = invoke("validate", str(EXAMPLE), *ONLY_PROMTOOL)
    assert result.exit_code == 0, result.stdout
    return log.read_text(encoding="utf-8").splitlines()


def test_promtool_tests_run_with_less_garbage_collection_within_half_the_memory(logged: Path) -> None:
    runs = _runs(logged)
    tests = [line for line in runs if line.startswith("test rules ")]
    files = len(list((ROOT / "out" / "prometheus" / "tests").glob("*.test.yaml")))
    at_once = min(os.cpu_count() or 1, files)  # one promtool per core, each with a share of the files
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert tests == [f"test rules GOGC=400 GOMEMLIMIT={memory // (2 * at_once)}"] * at_once
    assert at_once * (memory // (2 * at_once)) <= memory // 2
    # `check rules` takes a tenth of a second: it runs as the user's environment has it
    checks = [line for line in runs if line.startswith("check rules ")]
    assert checks and set(checks) == {"check rules GOGC= GOMEMLIMIT="}


@pytest.mark.parametrize("variable", ["GOGC", "GOMEMLIMIT"])
def test_a_garbage_collector_the_user_tuned_is_left_as_it_is(logged: Path, variable: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    value = "50" if variable == "GOGC" else "1GiB"
    monkeypatch.setenv(variable, value)
    tests = [line for line in _runs(logged) if line.startswith("test rules ")]
    expected = f"test rules GOGC={value} GOMEMLIMIT=" if variable == "GOGC" else f"test rules GOGC= GOMEMLIMIT={value}"
    assert tests and set(tests) == {expected}
    assert tools.go_checker_env(2) is None
