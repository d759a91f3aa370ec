"""`llmmon validate --format json|github`: findings with positions, for CI tools and GitHub annotations.

Checker findings come from the real promtool run on generated output that a test spoils on purpose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import EXAMPLE, ROOT, invoke, plan_of
from llmmon import report
from llmmon.diagnostics import ExitCode
from llmmon.generate import build

pytestmark = pytest.mark.usefixtures("without_checkov")

SPEC = "specs/example.yaml"


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)

SLO_LINE = EXAMPLE.read_text(encoding="utf-8").splitlines().index(next(
    line for line in EXAMPLE.read_text(encoding="utf-8").splitlines() if line.startswith("slo_window:"))) + 1


def _misspelt(tmp_path: Path) -> Path:
    """The example with `slo_window` misspelt at column 1 of its line (SLO_LINE)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace("\nslo_window: 30d", "\nslo_windw: 30d", 1), encoding="utf-8")
    return path


def _without_runbooks(tmp_path: Path) -> Path:
    """The example without runbook_base_url: valid, with one warning."""
    text = EXAMPLE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True) if "runbook_base_url:" not in line]
    path = tmp_path / "warn.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    return path


# --- json ----------------------------------------------------------------------------------------------------------


def test_json_of_a_valid_spec_says_valid_with_counts_and_no_findings() -> None:
    result = invoke("validate", SPEC, "--format", "json")

    assert result.exit_code == ExitCode.OK, result.stdout
    doc = json.loads(result.stdout)
    assert doc["format"] == "llmmon.validate/v1"
    assert (doc["valid"], doc["exit_code"], doc["errors"], doc["warnings"]) == (True, 0, 0, 0)
    assert doc["findings"] == []
    assert doc["name"] == "llm-platform"
    counts = build(plan_of(EXAMPLE)).counts
    assert counts is not None
    assert doc["counts"]["models"] == 2
    assert doc["counts"]["rules"] == counts.recording + counts.alerting
    assert doc["counts"]["assertions"] == counts.assertions
    assert any(line.startswith("promtool test rules") for line in doc["checks"])
    assert result.stderr == ""


def test_json_of_a_misspelt_key_gives_its_line_column_path_and_suggestion(tmp_path: Path) -> None:
    bad = _misspelt(tmp_path)
    result = invoke("validate", str(bad), "--format", "json", "--skip-promtool")

    assert result.exit_code == ExitCode.USAGE
    doc = json.loads(result.stdout)
    assert (doc["valid"], doc["exit_code"], doc["name"], doc["errors"]) == (False, 2, None, 1)
    [finding] = doc["findings"]
    assert finding["file"] == str(bad)
    assert (finding["line"], finding["col"], finding["path"]) == (SLO_LINE, 1, "slo_windw")
    assert finding["severity"] == "error"
    assert finding["source"] == "spec"
    assert "slo_window" in finding["suggestion"]
    assert finding["text"].startswith(f"{bad}:{SLO_LINE}:1: slo_windw: ")
    assert result.stderr == "", "json mode keeps stderr for llmmon's own failures"


def test_json_of_a_bad_spec_is_the_same_bytes_on_every_run(tmp_path: Path) -> None:
    bad = _misspelt(tmp_path)
    assert len({invoke("validate", str(bad), "--format", "json").stdout for _ in range(3)}) == 1


def test_json_of_a_spec_with_a_warning_is_valid_lists_the_warning_and_is_byte_stable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMMON_CACHE", "off")  # a check passed before says so: the runs would differ in that
    spec = _without_runbooks(tmp_path)
    runs = [invoke("validate", str(spec), "--format", "json", "--skip-promtool").stdout for _ in range(2)]
    doc = json.loads(runs[0])

    assert runs[0] == runs[1]
    assert doc["valid"] is True
    assert doc["warnings"] == 1
    assert doc["findings"][0]["severity"] == "warning"
    assert doc["findings"][0]["path"] == "metadata"
    assert "skipped: promtool (--skip promtool): promtool check rules and promtool test rules not run" in doc["checks"]
    assert doc["skipped"] >= 1


def test_json_without_promtool_exits_two_with_an_llmmon_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("LLMMON_PROMTOOL", str(tmp_path / "no-such-promtool"))
    result = invoke("validate", SPEC, "--format", "json")

    assert result.exit_code == ExitCode.USAGE
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    [finding] = doc["findings"]
    assert finding["source"] == "llmmon"
    assert "apt-get install prometheus" in finding["message"]


# --- github --------------------------------------------------------------------------------------------------------


def test_github_annotates_a_misspelt_key_on_its_line(tmp_path: Path) -> None:
    bad = _misspelt(tmp_path)
    result = invoke("validate", str(bad), "--format", "github")

    assert result.exit_code == ExitCode.USAGE
    first = result.stdout.splitlines()[0]
    assert first == (f"::error file={bad},line={SLO_LINE},col=1,title=llmmon%3A slo_windw::slo_windw: unknown key "
                     "'slo_windw' (did you mean 'slo_window'?)")
    assert "1 error(s), 0 warning(s): nothing was generated" in result.stdout


def test_github_marks_warnings_as_warnings_and_passes(tmp_path: Path) -> None:
    spec = _without_runbooks(tmp_path)
    result = invoke("validate", str(spec), "--format", "github", "--skip-promtool")

    assert result.exit_code == ExitCode.OK
    assert re.match(rf"::warning file={re.escape(str(spec))},line=\d+,col=\d+,title=llmmon%3A metadata::"
                    r"metadata: runbook_base_url is not set", result.stdout)
    assert "skipped: promtool (--skip promtool)" in result.stdout


def test_github_of_a_valid_spec_prints_only_the_summary() -> None:
    result = invoke("validate", SPEC, "--format", "github", "--skip-promtool")

    assert result.exit_code == ExitCode.OK
    assert "::" not in result.stdout
    assert result.stdout.startswith(f"{SPEC}: spec llm-platform: 2 models")
    assert "  skipped: promtool (--skip promtool): promtool check rules and promtool test rules not run\n" \
        in result.stdout
    assert re.search(r"\n  valid, [1-9]\d* checks? skipped \(", result.stdout)


def test_github_escapes_percent_newlines_and_property_separators() -> None:
    finding = report.Finding(severity="error", message="a\nb", file="dir,x/a:b.yaml", line=3, col=4,
                             source="check", check="promtool test rules", text="100% bad\r\nsecond line")
    text = report.as_github(report.Outcome(spec="s.yaml", name="s", exit_code=1, findings=[finding],
                                           counts={"models": 1, "rules": 1, "recording": 1, "alerting": 0}))

    assert text.splitlines()[0] == ("::error file=dir%2Cx/a%3Ab.yaml,line=3,col=4,title=llmmon%3A promtool test "
                                    "rules::100%25 bad%0D%0Asecond line")
    assert text.splitlines()[-1] == "1 check(s) failed"


# --- checker findings, from the real promtool ----------------------------------------------------------------------


def _spoiled_validation(spoil: str) -> tuple[report.Outcome, dict[str, tuple[int, int]]]:
    """Validate the example as `llmmon validate` does, after spoiling its generated output."""
    plan = plan_of(EXAMPLE)
    bundle = build(plan)
    if spoil == "test":
        path = next(p for p, scenario in bundle.test_files.items() if scenario == "outage")
        bundle.files[path] = bundle.files[path].replace('alertname=\\"HighErrorRate\\"', 'alertname=\\"Nope\\"', 1)
    else:
        text = bundle.files[bundle.rules_file]
        bundle.files[bundle.rules_file] = text.replace("> 0.01", "> > 0.01", 1)
    outcome = report.check(report.Outcome(spec=SPEC), plan, bundle)
    assert outcome.exit_code == ExitCode.FINDINGS
    return outcome, report.model_positions(EXAMPLE)


def test_a_failed_promtool_scenario_is_anchored_on_the_models_line() -> None:
    outcome, positions = _spoiled_validation("test")

    assert outcome.findings, "spoiling the outage scenario must make promtool fail"
    found = outcome.findings[0]
    assert found.check == "promtool test rules"
    assert found.generated_file is not None and found.generated_file.endswith("-outage.test.yaml")
    assert found.models, found.text
    assert (found.line, found.col) == positions[found.models[0]]
    assert "scenario 'outage' failed" in found.message
    line = report.as_github(outcome).splitlines()[0]
    assert line.startswith(f"::error file={SPEC},line={found.line},col={found.col},title=llmmon%3A promtool test "
                           "rules::")
    assert "%0A" in line  # promtool's report spans several lines


def test_a_rule_promtool_cannot_parse_names_its_models_and_the_rule_check() -> None:
    outcome, positions = _spoiled_validation("rule")

    rules = [f for f in outcome.findings if f.check == "promtool check rules"]
    assert rules, [f.text for f in outcome.findings]
    assert rules[0].generated_file == "prometheus/rules/llm-platform.rules.yaml"
    assert set(rules[0].models) <= set(positions)
    assert rules[0].models and rules[0].line == positions[rules[0].models[0]][0]


def test_model_positions_are_the_lines_of_the_model_names() -> None:
    positions = report.model_positions(EXAMPLE)
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()

    assert set(positions) == {"llama-3-70b", "qwen2-7b"}
    for name, (line, col) in positions.items():
        assert lines[line - 1][col - 1:].startswith(f"name: {name}")


def test_a_finding_naming_no_known_model_stays_on_the_file() -> None:
    finding = report.from_check("grafana/x.json: panel 3 reads model 'ghost'", SPEC, ["grafana/x.json"],
                                {"qwen2-7b": (40, 5)})

    assert (finding.line, finding.col, finding.models) == (0, 0, ())
    assert finding.generated_file == "grafana/x.json"
