"""`promtool test rules` runs for seconds, not days: llmmon runs it with Go's garbage collector set for that
(llmmon.tools.go_checker_env), unless the user tuned the collector. The real promtool runs behind a wrapper that
logs the settings each run got (and goes through the session's checker cache, tests/toolcache.py: what is logged is
what llmmon started the wrapper with, whatever answers it)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import toolcache

from helpers import EXAMPLE, ROOT, invoke
from llmmon import tools

MEMORY = 8 << 30
ONLY_PROMTOOL = ("--skip", "grafana", "--skip", "traces", "--skip", "alertmanager", "--skip", "kubernetes",
                 "--skip", "logs", "--skip", "checkov")


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """promtool behind a wrapper that logs its subcommand and GC settings; no remembered passes."""
    real = shutil.which("promtool")
    assert real, "promtool is not installed (make tools)"
    log = tmp_path / "runs"
    wrapper = tmp_path / "promtool"
    wrapper.write_text(f'#!/bin/sh\necho "$1 $2 GOGC=$GOGC GOMEMLIMIT=$GOMEMLIMIT" >> {log}\n'
                       f'{toolcache.command(real)} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("LLMMON_PROMTOOL", str(wrapper))
    monkeypatch.setenv("LLMMON_CACHE", "off")
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    monkeypatch.setattr(tools, "usable_memory", lambda: MEMORY)  # the machine's or its container's: tested below
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
    assert tests == [f"test rules GOGC=400 GOMEMLIMIT={MEMORY // (2 * at_once)}"] * at_once
    assert at_once * (MEMORY // (2 * at_once)) <= MEMORY // 2
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


PHYSICAL = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
UNLIMITED_V1 = "9223372036854771712"  # what cgroup v1 writes for "no limit"


@pytest.mark.parametrize(("own", "files", "expected"), [
    ("0::/\n", {"memory.max": "2147483648\n"}, 2 << 30),  # v2, the container's cgroup namespace
    ("0::/kubepods/pod1/ctr\n", {"kubepods/pod1/ctr/memory.max": "1073741824\n"}, 1 << 30),  # v2, nested
    ("4:memory:/docker/abc\n0::/\n", {"memory/docker/abc/memory.limit_in_bytes": "536870912\n",
                                        "memory/memory.limit_in_bytes": UNLIMITED_V1}, 512 << 20),  # v1
    ("0::/\n", {"memory.max": "max\n"}, PHYSICAL),  # v2 without a limit
    ("4:memory:/\n", {"memory/memory.limit_in_bytes": UNLIMITED_V1}, PHYSICAL),  # v1 without a limit
    ("garbage\n", {}, PHYSICAL),
], ids=["v2-namespace", "v2-nested", "v1", "v2-max", "v1-unlimited", "unreadable"])
def test_the_memory_limit_is_the_containers_where_it_has_one(tmp_path: Path, own: str, files: dict[str, str],
                                                             expected: int) -> None:
    """A CI job in a container sees the machine's memory: the limit of its cgroup is what it may use."""
    (tmp_path / "self").write_text(own, encoding="utf-8")
    for rel, text in files.items():
        (tmp_path / "cgroup" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "cgroup" / rel).write_text(text, encoding="utf-8")
    assert tools.usable_memory(tmp_path / "cgroup", tmp_path / "self") == min(expected, PHYSICAL)


def test_promtools_share_half_of_the_containers_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    monkeypatch.setattr(tools, "usable_memory", lambda: 2 << 30)
    env = tools.go_checker_env(2)
    assert env is not None and (env["GOGC"], env["GOMEMLIMIT"]) == ("400", str(512 << 20))
