"""What each mode of `llmmon validate` runs, and that a run which left checks out never reads as a full pass.

`--skip CHECK` leaves out one named check, `--skip-promtool` is `--skip promtool`, `--spec-only` leaves out every
check of the generated output; a checker that is not installed is skipped and counted, or with `--strict` fails
the run. Every install hint works for someone who installed llmmon with pip (no Makefile).
"""

from __future__ import annotations

import pytest

from helpers import EXAMPLE, invoke
from llmmon import cli, report
from llmmon.checks import alertmanager, checkov, estypes, kubernetes, promtool, registry
from llmmon.diagnostics import ExitCode

SPEC = str(EXAMPLE)
CHECKOV_MISSING = ("checkov is not installed: install it in a virtual environment of its own (python3 -m venv "
                   "~/.checkov && ~/.checkov/bin/pip install checkov) and set LLMMON_CHECKOV=~/.checkov/bin/checkov, "
                   "or put it on PATH")
PROMTOOL_SKIPPED = "skipped: promtool (--skip promtool): promtool check rules and promtool test rules not run"


def _summary(stdout: str) -> str:
    return stdout.splitlines()[-1]


@pytest.mark.usefixtures("without_checkov")
def test_skip_promtool_leaves_out_promtool_only_and_the_summary_counts_what_was_left_out() -> None:
    result = invoke("validate", "--skip-promtool", SPEC)

    assert result.exit_code == ExitCode.OK, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("  amtool check-config: ") for line in lines)  # the other checks still run
    assert any(line.startswith("  kubectl kustomize: ") for line in lines)
    assert f"  skipped: {CHECKOV_MISSING}" in lines
    assert f"  {PROMTOOL_SKIPPED}" in lines
    assert _summary(result.stdout).startswith("  valid, 2 checks skipped (")


def test_skip_names_the_checks_to_leave_out_and_refuses_an_unknown_one() -> None:
    result = invoke("validate", "--skip", "promtool", "--skip", "checkov", "--skip", "kubernetes", SPEC)

    assert result.exit_code == ExitCode.OK, result.stderr
    assert "  skipped: kubernetes (--skip kubernetes): kustomization, kubernetes-validate, CRD and kubectl " \
           "kustomize checks not run" in result.stdout.splitlines()
    assert "kubectl kustomize: builds" not in result.stdout
    assert _summary(result.stdout).startswith("  valid, 3 checks skipped (")

    wrong = invoke("validate", "--skip", "promtol", SPEC)
    assert wrong.exit_code == ExitCode.USAGE
    assert wrong.stderr == ("llmmon: --skip promtol: no such check (checks: promtool, grafana, logs, traces, "
                            "alertmanager, kubernetes, checkov)\n")


def test_spec_only_runs_no_checker_and_says_all_seven_were_left_out() -> None:
    result = invoke("validate", "--spec-only", SPEC)

    assert result.exit_code == ExitCode.OK, result.stderr
    checks = result.stdout.splitlines()[1:-1]
    assert checks and all(line.startswith("  skipped: ") for line in checks), checks
    assert _summary(result.stdout).startswith("  valid, 7 checks skipped (")


@pytest.mark.usefixtures("without_checkov")
def test_strict_fails_when_a_checker_is_missing_and_says_how_to_install_it() -> None:
    result = invoke("validate", "--strict", "--skip", "promtool", SPEC)

    assert result.exit_code == ExitCode.FINDINGS
    assert f"llmmon: --strict: a checker is missing: {CHECKOV_MISSING}\n" in result.stderr
    assert result.stderr.endswith("1 check(s) failed\n")
    assert not [line for line in result.stdout.splitlines() if line.startswith("  valid")]


def test_strict_passes_when_every_checker_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMMON_CHECKOV", "off")  # turned off on purpose: counted, but not missing
    result = invoke("validate", "--strict", "--skip", "promtool", SPEC)

    assert result.exit_code == ExitCode.OK, result.stderr
    assert "  skipped: checkov scan turned off (LLMMON_CHECKOV=off)" in result.stdout.splitlines()
    assert _summary(result.stdout).startswith("  valid, 2 checks skipped (")


def test_the_verdict_reads_plain_valid_only_when_nothing_was_left_out() -> None:
    assert [report.verdict(n) for n in (0, 1, 2)] == ["valid", "valid, 1 check skipped", "valid, 2 checks skipped"]


def test_the_help_lists_the_names_the_registry_knows() -> None:
    assert ", ".join(registry.NAMES) == cli._CHECK_NAMES
    assert ["promtool", *registry.named()] == list(registry.NAMES)


def test_no_install_hint_needs_the_makefile() -> None:
    hints = [checkov.INSTALL_HINT, promtool.INSTALL_HINT, alertmanager.INSTALL_HINT, kubernetes.KUBECTL_HINT,
             estypes.INSTALL_HINT]
    assert not [h for h in hints if "make " in h]
    assert "pip install checkov" in checkov.INSTALL_HINT
    assert "apt-get install kubernetes-client" in kubernetes.KUBECTL_HINT
