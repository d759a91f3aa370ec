"""The `llmmon` command: exit codes and messages, in-process (CliRunner) and as a real `python -m llmmon`.

Exit codes: 0 ok, 1 findings or stale output, 2 usage or spec error, 70 internal error. No Traceback may ever
reach stderr.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmmon import __version__
from llmmon.cli import app
from llmmon.compiler import load
from llmmon.diagnostics import ExitCode
from llmmon.generate import build

ROOT = Path(__file__).parents[1]
SPEC = "specs/example.yaml"  # relative to ROOT, as a user would type it

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None and not os.environ.get("LLMMON_PROMTOOL"),
                                    reason="promtool is not installed")


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("LLMMON_DEBUG", raising=False)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def llmmon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m llmmon ARGS` for real, from the repository root."""
    full_env = {k: v for k, v in os.environ.items() if k != "LLMMON_DEBUG"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "llmmon", *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)


def _no_traceback(result: Result | subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    if isinstance(result, Result):
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def _bad_spec(tmp_path: Path) -> Path:
    """The example spec with `slo_window` misspelt as `slo_windw` (line 16 of the file)."""
    text = (ROOT / SPEC).read_text(encoding="utf-8")
    assert "\nslo_window: 30d" in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("\nslo_window: 30d", "\nslo_windw: 30d", 1), encoding="utf-8")
    return path


# --- version -----------------------------------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    result = invoke("--version")
    assert result.exit_code == ExitCode.OK
    assert result.stdout == f"llmmon {__version__}\n"


def test_version_works_as_a_real_process() -> None:
    done = llmmon("--version")
    assert done.returncode == ExitCode.OK
    assert done.stdout == f"llmmon {__version__}\n"
    assert done.stderr == ""


# --- generate ------------------------------------------------------------------------------------------------------


def test_generate_writes_every_file_and_exits_zero(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("generate", SPEC, "-o", str(out))

    assert result.exit_code == ExitCode.OK, result.stderr
    plan, _ = load(ROOT / SPEC, SPEC)
    assert plan is not None
    files = build(plan).files
    for rel, text in files.items():
        assert (out / rel).read_text(encoding="utf-8") == text, rel
    assert (out / f".llmmon-{plan.name}.manifest").is_file()
    assert f"{len(files) + 1} added" in result.stdout
    _no_traceback(result)


def test_generate_check_on_a_fresh_directory_is_stale_with_a_diff(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    result = invoke("generate", "--check", SPEC, "-o", str(out))

    assert result.exit_code == ExitCode.FINDINGS
    assert "+++ b/prometheus/rules/llm-platform.rules.yaml" in result.stdout
    assert re.search(r"^@@ ", result.stdout, re.MULTILINE)
    assert "stale" in result.stderr
    assert f"llmmon generate {SPEC} -o {out}" in result.stderr
    assert not out.exists(), "--check writes nothing"
    _no_traceback(result)


def test_generate_check_after_generate_is_up_to_date(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("generate", SPEC, "-o", str(out)).exit_code == ExitCode.OK
    (out / "notes.txt").write_text("mine, not llmmon's\n", encoding="utf-8")

    result = invoke("generate", "--check", SPEC, "-o", str(out))

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert "up to date" in result.stdout
    assert result.stderr == ""


def test_generate_check_after_a_hand_edit_is_stale(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("generate", SPEC, "-o", str(out)).exit_code == ExitCode.OK
    summary = out / "llm-platform-summary.md"
    summary.write_text(summary.read_text(encoding="utf-8") + "edited by hand\n", encoding="utf-8")

    result = invoke("generate", "--check", SPEC, "-o", str(out))

    assert result.exit_code == ExitCode.FINDINGS
    assert "-edited by hand\n" in result.stdout
    assert "1 changed" in result.stderr


def test_a_misspelt_key_exits_two_with_file_line_col(tmp_path: Path) -> None:
    bad = _bad_spec(tmp_path)
    result = invoke("generate", str(bad), "-o", str(tmp_path / "out"))

    assert result.exit_code == ExitCode.USAGE
    assert f"{bad}:17:1: " in result.stderr
    assert "slo_windw" in result.stderr
    assert "slo_window" in result.stderr  # the suggestion
    assert not (tmp_path / "out").exists()
    _no_traceback(result)


def test_a_misspelt_key_exits_two_without_a_traceback_as_a_real_process(tmp_path: Path) -> None:
    bad = _bad_spec(tmp_path)
    done = llmmon("generate", str(bad), "-o", str(tmp_path / "out"))

    assert done.returncode == ExitCode.USAGE
    assert re.search(rf"^{re.escape(str(bad))}:\d+:\d+: ", done.stderr, re.MULTILINE), done.stderr
    _no_traceback(done)


def test_a_spec_that_does_not_exist_exits_two(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = invoke("generate", str(missing), "-o", str(tmp_path / "out"))

    assert result.exit_code == ExitCode.USAGE
    assert str(missing) in result.stderr
    assert "cannot read" in result.stderr
    _no_traceback(result)


def test_generate_into_a_path_under_a_regular_file_exits_two_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    result = invoke("generate", SPEC, "-o", str(blocker / "out"))

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("llmmon: ")
    assert str(blocker) in result.stderr
    assert blocker.read_text(encoding="utf-8") == "not a folder\n"
    _no_traceback(result)


def test_generate_into_an_unwritable_location_exits_two_as_a_real_process(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    done = llmmon("generate", SPEC, "-o", str(blocker / "out"))

    assert done.returncode == ExitCode.USAGE
    assert done.stderr.startswith("llmmon: ")
    assert "internal error" not in done.stderr
    _no_traceback(done)


# --- validate ------------------------------------------------------------------------------------------------------


@needs_promtool
def test_validate_the_example_passes_with_a_summary() -> None:
    result = invoke("validate", SPEC)

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    plan, _ = load(ROOT / SPEC, SPEC)
    assert plan is not None
    counts = build(plan).counts
    assert counts is not None
    assert f"{counts.models} models" in result.stdout
    assert f"{counts.recording + counts.alerting} rules" in result.stdout
    assert f"{counts.assertions} assertions" in result.stdout
    assert "valid" in result.stdout
    assert result.stderr == ""


@needs_promtool
def test_generate_validate_checks_then_writes_in_one_run(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = invoke("generate", SPEC, "-o", str(out), "--validate")

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert "promtool test rules: 110 assertions in 19 scenarios passed" in result.stdout
    assert result.stdout.rstrip().endswith("unchanged)") and "wrote" in result.stdout
    assert (out / "prometheus" / "rules" / "llm-platform.rules.yaml").is_file()


@needs_promtool
def test_generate_validate_writes_nothing_when_a_check_fails(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from llmmon.checks import registry

    def broken(root: Path, bundle: object, plan: object) -> registry.CheckResult:
        return registry.CheckResult(findings=["grafana/llm-platform-sre.json: a planted finding"])

    monkeypatch.setattr(registry, "named", lambda: {"grafana": broken})
    monkeypatch.setattr(registry, "remembered", dict)  # not a pass of the real check another test left
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous output\n", encoding="utf-8")
    result = invoke("generate", SPEC, "-o", str(out), "--validate")

    assert result.exit_code == ExitCode.FINDINGS, result.stdout + result.stderr
    assert "a planted finding" in result.stderr and "nothing written" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]
    _no_traceback(result)


@pytest.mark.parametrize("promtool_env", ["nonexistent", "unset"])
def test_validate_without_promtool_exits_two_and_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, promtool_env: str
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    if promtool_env == "unset":
        monkeypatch.delenv("LLMMON_PROMTOOL", raising=False)
    else:
        monkeypatch.setenv("LLMMON_PROMTOOL", str(tmp_path / "no-such-promtool"))

    result = invoke("validate", SPEC)

    assert result.exit_code == ExitCode.USAGE
    assert "promtool" in result.stderr
    assert "install" in result.stderr
    assert "--skip-promtool" in result.stderr
    _no_traceback(result)


def test_validate_without_promtool_exits_two_as_a_real_process(tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = llmmon("validate", SPEC, env={"PATH": str(empty), "LLMMON_PROMTOOL": str(tmp_path / "no-such-promtool")})

    assert done.returncode == ExitCode.USAGE
    assert "apt-get install prometheus" in done.stderr
    _no_traceback(done)


def test_validate_skip_promtool_exits_zero_even_without_promtool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LLMMON_PROMTOOL", str(tmp_path / "no-such-promtool"))

    result = invoke("validate", "--skip-promtool", SPEC)

    assert result.exit_code == ExitCode.OK, result.stderr
    assert "models" in result.stdout
    assert "skipped" in result.stdout
    _no_traceback(result)


def test_validate_a_bad_spec_exits_two(tmp_path: Path) -> None:
    bad = _bad_spec(tmp_path)
    result = invoke("validate", "--skip-promtool", str(bad))

    assert result.exit_code == ExitCode.USAGE
    assert f"{bad}:17:1: " in result.stderr
    _no_traceback(result)


# --- schema --------------------------------------------------------------------------------------------------------


def test_schema_prints_a_json_schema_with_a_title() -> None:
    result = invoke("schema")

    assert result.exit_code == ExitCode.OK
    schema = json.loads(result.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "MonitoringSpec" in schema["title"]


def test_schema_to_a_file_writes_the_same_schema(tmp_path: Path) -> None:
    target = tmp_path / "llmmon.schema.json"
    result = invoke("schema", "-o", str(target))

    assert result.exit_code == ExitCode.OK
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8") == invoke("schema").stdout
    assert json.loads(target.read_text(encoding="utf-8"))["$schema"]


def test_schema_to_an_unwritable_file_exits_two_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n", encoding="utf-8")
    done = llmmon("schema", "-o", str(blocker / "schema.json"))

    _no_traceback(done)
    assert "internal error" not in done.stderr
    assert done.returncode == ExitCode.USAGE
