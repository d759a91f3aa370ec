"""`llmmon init`: a starter spec that validates as it is (promtool included), with its schema for editors."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from helpers import invoke
from llmmon import init
from llmmon.diagnostics import ExitCode
from llmmon.engines import PRESETS
from llmmon.spec import json_schema_text

pytestmark = pytest.mark.usefixtures("without_checkov")


@pytest.fixture(autouse=True)
def _in_a_fresh_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)



@pytest.mark.parametrize("engine", sorted(PRESETS))
def test_the_starter_of_every_engine_validates_with_promtool_and_without_a_warning(engine: str) -> None:
    written = invoke("init", "--engine", engine, "--models", "llama-3-8b,qwen2.5-7b")
    assert written.exit_code == ExitCode.OK, written.stderr
    assert written.stdout == ("wrote llmmon.yaml and llmmon.schema.json; next: llmmon validate llmmon.yaml "
                              "&& llmmon explain llmmon.yaml\n")

    result = invoke("validate", "llmmon.yaml")

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert result.stderr == "", "the starter must not even warn"
    assert "llmmon.yaml: spec llm-platform: 2 models" in result.stdout
    assert "promtool test rules" in result.stdout


def test_the_starter_points_at_the_schema_llmmon_schema_writes_and_that_schema_accepts_it() -> None:
    assert invoke("init").exit_code == ExitCode.OK
    text = Path("llmmon.yaml").read_text(encoding="utf-8")

    assert text.splitlines()[0] == "# yaml-language-server: $schema=llmmon.schema.json"
    assert Path("llmmon.schema.json").read_text(encoding="utf-8") == invoke("schema").stdout == json_schema_text()
    schema = json.loads(json_schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(yaml.safe_load(text))


def test_the_schema_rejects_what_the_editor_should_flag() -> None:
    assert invoke("init").exit_code == ExitCode.OK
    data = yaml.safe_load(Path("llmmon.yaml").read_text(encoding="utf-8"))
    data["defaults"]["slo"]["availabilty"] = 99.9
    validator = jsonschema.Draft202012Validator(json.loads(json_schema_text()))

    errors = list(validator.iter_errors(data))

    assert any("availabilty" in e.message for e in errors)


def test_the_starter_is_commented_and_names_the_next_commands() -> None:
    text = init.render("vllm", ("llama-3-8b",))
    comments = [line for line in text.splitlines() if "#" in line]

    assert len(comments) >= 30
    assert "llmmon validate llmmon.yaml" in text
    assert "llmmon explain llmmon.yaml" in text
    assert "release: kube-prometheus-stack" in text
    assert "- name: llama-3-8b" in text


def test_model_names_that_yaml_would_read_as_numbers_stay_names() -> None:
    text = init.render("vllm", ("1.5", "7"))

    assert '- name: "1.5"' in text
    assert '- name: "7"' in text


def test_a_spec_in_a_folder_gets_its_schema_beside_it() -> None:
    Path("deploy").mkdir()
    result = invoke("init", "-o", "deploy/monitoring.yaml", "--name", "serving", "--namespace", "llm")

    assert result.exit_code == ExitCode.OK, result.stderr
    text = Path("deploy/monitoring.yaml").read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=llmmon.schema.json\n")
    assert Path("deploy/llmmon.schema.json").is_file()
    assert "  name: serving  #" in text
    assert "  namespace: llm  #" in text
    assert "llmmon validate deploy/monitoring.yaml" in text


def test_a_schema_url_is_used_as_it_is_and_nothing_else_is_written() -> None:
    url = "https://example.com/llmmon/v1/schema.json"
    result = invoke("init", "--schema", url)

    assert result.exit_code == ExitCode.OK, result.stderr
    assert Path("llmmon.yaml").read_text(encoding="utf-8").startswith(f"# yaml-language-server: $schema={url}\n")
    assert sorted(p.name for p in Path().iterdir()) == ["llmmon.yaml"]


def test_dash_prints_the_spec_and_writes_nothing() -> None:
    result = invoke("init", "-o", "-", "--engine", "tgi", "--models", "a")

    assert result.exit_code == ExitCode.OK
    assert result.stdout == init.render("tgi", ("a",), file="-")
    assert list(Path().iterdir()) == []


def test_an_existing_spec_is_kept_unless_forced() -> None:
    Path("llmmon.yaml").write_text("mine\n", encoding="utf-8")

    refused = invoke("init")
    assert refused.exit_code == ExitCode.USAGE
    assert "llmmon.yaml exists" in refused.stderr
    assert "--force" in refused.stderr
    assert Path("llmmon.yaml").read_text(encoding="utf-8") == "mine\n"
    assert not Path("llmmon.schema.json").exists()

    forced = invoke("init", "--force")
    assert forced.exit_code == ExitCode.OK
    assert Path("llmmon.yaml").read_text(encoding="utf-8").startswith("# yaml-language-server")


@pytest.mark.parametrize(("args", "message"), [
    (["--models", "Llama 3"], "'Llama 3' is not a model name"),
    (["--models", "a,,b"], "give model names separated by commas"),
    (["--models", "a,b,a"], "a given twice"),
    (["--engine", "vlm"], "'vlm' has no preset (available: "),
    (["--name", "My_Platform"], "--name: 'My_Platform' is not a DNS-1123 label"),
    (["--namespace", "-x"], "--namespace: '-x' is not a DNS-1123 label"),
])
def test_flags_that_cannot_make_a_valid_spec_exit_two_and_write_nothing(args: list[str], message: str) -> None:
    result = invoke("init", *args)

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("llmmon init: ")
    assert message in result.stderr
    assert list(Path().iterdir()) == []


def test_an_unwritable_location_exits_two_with_a_message() -> None:
    Path("a-file").write_text("x\n", encoding="utf-8")
    result = invoke("init", "-o", "a-file/llmmon.yaml")

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("llmmon init: cannot write ")
    assert "Traceback" not in result.stderr
