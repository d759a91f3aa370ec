"""Every command's --help has an example, the examples run, and shell completion works (typer's own)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from helpers import ROOT
from llmmon.cli import app
from llmmon.diagnostics import ExitCode

LLMMON = Path(sys.executable).parent / "llmmon"  # the installed entry point: completion is keyed on its name

@pytest.fixture(autouse=True)
def _without_checkov(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov costs seconds a run and has tests of its own; these tests are about the command line. It is
    turned off on purpose (LLMMON_CHECKOV=off), as a user may, so the examples that use --strict still pass."""
    from llmmon.checks import checkov

    monkeypatch.setattr(checkov, "find", lambda: "off")
    monkeypatch.setenv("LLMMON_CHECKOV", "off")  # for llmmon run as a process


def _commands() -> list[tuple[str, ...]]:
    """Every command path, sub-commands included: ("generate",), ("hook", "validate"), …"""
    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = []

    def walk(group: object, prefix: tuple[str, ...]) -> None:
        for name, command in sorted(getattr(group, "commands", {}).items()):
            if getattr(command, "commands", None):
                walk(command, (*prefix, name))
            else:
                paths.append((*prefix, name))

    walk(root, ())
    return paths


def _example(path: tuple[str, ...]) -> str:
    text = CliRunner().invoke(app, [*path, "--help"]).stdout
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("Example: ")]
    assert lines, f"`llmmon {' '.join(path)} --help` shows no example"
    return lines[0].removeprefix("Example: ")


def test_every_command_has_an_example_of_itself_in_its_help() -> None:
    commands = _commands()
    assert {("generate",), ("validate",), ("schema",), ("explain",), ("init",), ("hook", "validate"),
            ("hook", "generate-check")} <= set(commands)
    for path in commands:
        assert _example(path).startswith("llmmon " + " ".join(path)), path


def test_the_examples_of_the_help_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in order in an empty folder holding only the example specs, as a newcomer would."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "summary.md"))
    for path in [("init",), ("schema",), ("generate",), ("validate",), ("explain",), ("hook", "generate-check"),
                 ("hook", "validate")]:
        words = shlex.split(_example(path))
        words = words[: words.index(">>")] if ">>" in words else words
        result = CliRunner().invoke(app, words[1:])
        assert result.exit_code == ExitCode.OK, f"{' '.join(words)}: {result.stdout}{result.stderr}"
    assert Path("llmmon.yaml").is_file()
    assert Path("llmmon.schema.json").is_file()
    assert Path("out/prometheus/rules/llm-platform.rules.yaml").is_file()


def _complete(words: str) -> list[str]:
    """What bash completion offers after `words` (the real entry point, as the shell calls it)."""
    env = {**os.environ, "_LLMMON_COMPLETE": "complete_bash", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1))}
    done = subprocess.run([str(LLMMON)], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(not LLMMON.is_file(), reason="llmmon is not installed in this interpreter's bin/")
@pytest.mark.parametrize(("words", "offered"), [
    ("llmmon ex", ["explain"]),
    ("llmmon hook ", ["generate-check", "validate"]),
    ("llmmon validate specs/example.yaml --format ", ["github", "json", "text"]),
    ("llmmon explain specs/example.yaml --format ", ["markdown", "table"]),
    ("llmmon init --engine v", ["vllm"]),
    ("llmmon init --engine ", ["openai-compatible", "vllm"]),
])
def test_bash_completion_offers_commands_and_choices(words: str, offered: list[str]) -> None:
    assert set(offered) <= set(_complete(words))


@pytest.mark.skipif(not LLMMON.is_file(), reason="llmmon is not installed in this interpreter's bin/")
def test_show_completion_prints_a_script_for_the_shell() -> None:
    # Typer finds the shell among llmmon's parent processes, as it does for a user typing the command in bash; a
    # test worker's parent is no shell ("Shell  not supported"), so bash runs it (`; true`: bash may not exec it)
    done = subprocess.run(["bash", "-c", f'"{LLMMON}" --show-completion; true'], capture_output=True, text=True,
                          timeout=60, check=False)

    assert done.returncode == 0
    assert "_LLMMON_COMPLETE=complete_bash" in done.stdout
    assert "complete " in done.stdout
