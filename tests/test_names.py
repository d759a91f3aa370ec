"""Model names as engines report them (meta-llama/Llama-3-70B): the spec's `name` is a label and part of file
names, so such a name gets a suggestion of `name` + `served_name`, and `init --models` writes both."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import EXAMPLE, invoke
from llmmon import init
from llmmon.compiler import load
from llmmon.diagnostics import ExitCode, Severity
from llmmon.names import label_for

TEXT = EXAMPLE.read_text(encoding="utf-8")
LINE = next(i for i, line in enumerate(TEXT.splitlines(), 1) if line.startswith("  - name: qwen2-7b"))
RULE = ("is not a model name (lowercase letters, digits, '-', '.', '_'; 63 at most, starting and ending "
        "alphanumeric)")


@pytest.mark.parametrize("given, expected", [
    ("Qwen/Qwen2-7B-Instruct", f"spec.yaml:{LINE}:11: models.1.name: 'Qwen/Qwen2-7B-Instruct' {RULE} (use name: "
                               "qwen2-7b-instruct with served_name: Qwen/Qwen2-7B-Instruct, the engine's own model "
                               "name)"),
    ("Qwen2-7B", f"spec.yaml:{LINE}:11: models.1.name: 'Qwen2-7B' {RULE} (use name: qwen2-7b with served_name: "
                 "Qwen2-7B, the engine's own model name)"),
    ("qwen2 7b", f"spec.yaml:{LINE}:11: models.1.name: 'qwen2 7b' {RULE}"),
], ids=["slash", "capitals", "space: no served_name to suggest"])
def test_a_model_name_with_a_slash_or_capitals_is_told_to_use_served_name(tmp_path: Path, given: str,
                                                                         expected: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(TEXT.replace("  - name: qwen2-7b", f"  - name: {given}"), encoding="utf-8")
    plan, diagnostics = load(spec, "spec.yaml")
    assert plan is None
    assert [d.render() for d in diagnostics if d.severity is Severity.ERROR] == [expected]


def test_the_suggested_name_and_served_name_make_a_valid_model(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(TEXT.replace("  - name: qwen2-7b", "  - name: qwen2-7b-instruct\n"
                                 "    served_name: Qwen/Qwen2-7B-Instruct"), encoding="utf-8")
    plan, diagnostics = load(spec, "spec.yaml")
    assert plan is not None, [d.render() for d in diagnostics]
    assert [(m.name, m.served_name) for m in plan.models][1] == ("qwen2-7b-instruct", "Qwen/Qwen2-7B-Instruct")


@pytest.mark.parametrize("served, name", [
    ("meta-llama/Llama-3-70B", "llama-3-70b"), ("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b-instruct"),
    ("mistralai/Mixtral-8x7B-Instruct-v0.1", "mixtral-8x7b-instruct-v0.1"), ("org/A B__c", "a-b__c"),
    ("///", None), ("a/-", None)])
def test_the_label_of_an_engine_model_name_is_its_last_part_lowercased(served: str, name: str | None) -> None:
    assert label_for(served) == name


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("in_tmp")
def test_init_accepts_hugging_face_names_and_writes_name_and_served_name() -> None:
    result = invoke("init", "--models", "meta-llama/Llama-3-70B,qwen2-7b")

    assert result.exit_code == ExitCode.OK, result.stderr
    models = yaml.safe_load(Path("llmmon.yaml").read_text(encoding="utf-8"))["models"]
    assert [(m["name"], m.get("served_name")) for m in models] == [("llama-3-70b", "meta-llama/Llama-3-70B"),
                                                                  ("qwen2-7b", None)]
    assert invoke("validate", "--spec-only", "llmmon.yaml").exit_code == ExitCode.OK


def test_init_refuses_two_entries_that_name_the_same_model() -> None:
    result = invoke("init", "--models", "meta-llama/Llama-3-70B,llama-3-70b")

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == "llmmon init: --models: llama-3-70b given twice\n"


def test_init_refuses_an_entry_that_is_no_name_at_all() -> None:
    with pytest.raises(init.InitError, match=r"^--models: '///' is not a model name \(lowercase letters, digits, "
                                             r"'-', '\.', '_'; 63 at most, starting and ending with a letter or "
                                             r"digit\) nor an engine's model name such as meta-llama/Llama-3-70B$"):
        init.parse_models("///")
