"""External tools are run safely: argument lists, no shell, timeouts, and a clear message when they are missing,
broken, hanging or talking garbage. Tools that fail are stand-in scripts; the real ones run everywhere else.

The first test reads llmmon's source: every process llmmon starts goes through llmmon.tools.run, so a new
checker that calls subprocess directly fails here until it does the same.
"""

from __future__ import annotations

import ast
import stat
import subprocess
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import EXAMPLE, ROOT
from llmmon import tools
from llmmon.checks import alertmanager, checkov, kubernetes, promtool
from llmmon.cli import app

FORBIDDEN = {("os", "system"), ("os", "popen"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
             ("asyncio", "create_subprocess_shell")}
STARTS = {"run", "Popen", "call", "check_call", "check_output"}


def _calls(tree: ast.AST) -> list[tuple[str, str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name):
            out.append((node.func.value.id, node.func.attr, node))
    return out


def test_every_process_llmmon_starts_goes_through_tools_run() -> None:
    direct, tool_runs = [], []
    for path in sorted((ROOT / "llmmon").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for module, name, call in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            where = f"{rel}:{call.lineno}"
            assert (module, name) not in FORBIDDEN, f"{where}: {module}.{name} runs a shell"
            assert not (module == "os" and name.startswith(("exec", "spawn", "posix_spawn"))), where
            if module == "subprocess" and name in STARTS:
                direct.append(where)
            if module == "tools" and name == "run":
                tool_runs.append(where)
                assert any(k.arg == "timeout" for k in call.keywords), f"{where}: tools.run without a timeout"
                assert not isinstance(call.args[0], ast.Constant | ast.JoinedStr | ast.BinOp), (
                    f"{where}: the command must be an argument list")
    # llmmon/toolchain.py is the build step `make tools` runs (go install, for minutes): never started by the CLI
    started = sorted({where.split(":")[0] for where in direct} - {"llmmon/toolchain.py"})
    assert started == ["llmmon/tools.py"], "start processes with tools.run only"
    assert len(tool_runs) >= 4  # promtool, amtool, kubectl, checkov


def test_tools_run_refuses_a_command_line_string() -> None:
    with pytest.raises(TypeError, match="never a shell command line"):
        tools.run("promtool check rules x.yaml; rm -rf /", timeout=5)  # type: ignore[arg-type]


def _script(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def test_a_tool_that_hangs_is_killed_with_everything_it_started_at_the_timeout(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    finished = tmp_path / "finished"  # written only if the tool runs to its end: run() waited it out
    # a child holding our pipes, then the tool's own wait
    hang = _script(tmp_path, "hang", f"sleep 60 & echo $! > {pids}\nsleep 60\ntouch {finished}")
    with pytest.raises(subprocess.TimeoutExpired):
        tools.run([str(hang)], timeout=1)
    assert not finished.exists()
    child = int(pids.read_text(encoding="utf-8"))
    time.sleep(0.2)
    assert _state(child) in ("gone", "Z"), "the tool's child outlived the timeout"  # Z: dead, not yet reaped


def _state(pid: int) -> str:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except FileNotFoundError:
        return "gone"
    return stat_line.rsplit(")", 1)[1].split()[0]


def test_a_tool_printing_bytes_that_are_not_utf8_is_read_not_crashed_on(tmp_path: Path) -> None:
    garbage = _script(tmp_path, "garbage", r"printf 'bad \377\376 bytes\n' >&2; exit 3")
    done = tools.run([str(garbage)], timeout=10)
    assert done.returncode == 3
    assert done.stderr == "bad \ufffd\ufffd bytes\n"


# --- every checker behind `llmmon validate`: missing, not executable, failing, hanging -------------------------

TOOLS = {"promtool": ("LLMMON_PROMTOOL", promtool), "amtool": ("LLMMON_AMTOOL", alertmanager),
         "kubectl": ("LLMMON_KUBECTL", kubernetes), "checkov": ("LLMMON_CHECKOV", checkov)}


def _broken(tmp_path: Path, how: str) -> str:
    if how == "missing":
        return str(tmp_path / "no-such-tool")
    if how == "not-executable":
        path = tmp_path / "plain-file"
        path.write_text("not a program\n", encoding="utf-8")
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
        return str(path)
    if how == "failing":
        return str(_script(tmp_path, "failing", r"printf 'boom \377\n' >&2; exit 7"))
    return str(_script(tmp_path, "hanging", f"sleep 60\ntouch {tmp_path / 'finished'}"))


@pytest.mark.parametrize("how", ["missing", "not-executable", "failing", "hanging"])
@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_a_broken_checker_is_a_clear_message_never_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                tool: str, how: str) -> None:
    variable, module = TOOLS[tool]
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("LLMMON_DEBUG", raising=False)
    monkeypatch.setenv(variable, _broken(tmp_path, how))
    monkeypatch.setattr(module, "TIMEOUT_S", 1)
    if tool != "checkov":  # keep the run short: checkov takes seconds
        monkeypatch.setattr(checkov, "find", lambda: None)
    skip = [] if tool == "promtool" else ["--skip-promtool"]  # the other checkers run all the same
    result = CliRunner().invoke(app, ["validate", str(EXAMPLE), *skip])
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert result.exit_code in (1, 2), output
    assert tool in output
    expected = {"missing": "No such file or directory", "not-executable": "Permission denied",
                "failing": "boom \ufffd" if tool != "kubectl" else "failed", "hanging": "timed out after 1"}[how]
    assert expected in output, output
    assert not (tmp_path / "finished").exists(), "validate waited for the hanging tool to end"
