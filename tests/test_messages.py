"""Messages a newcomer meets first, each with its exact text: a hint only where it is the likely fix, one error
for one mistake, YAML layout mistakes in words, and write failures that name the path that failed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import EXAMPLE, invoke
from llmmon.compiler import load
from llmmon.diagnostics import ExitCode, Severity

TEXT = EXAMPLE.read_text(encoding="utf-8")
PRESETS = "'openai-compatible', 'vllm', 'tgi', 'sglang', 'triton' or 'otel-genai'"


def _errors(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    plan, diagnostics = load(path, "spec.yaml")
    errors = [d.render() for d in diagnostics if d.severity is Severity.ERROR]
    assert plan is None and errors
    return errors


def _line(text: str) -> int:
    """The 1-based line of the example that starts with `text` (after its indentation)."""
    return next(i for i, line in enumerate(TEXT.splitlines(), 1) if line.lstrip().startswith(text))


GPU, ENGINE, QWEN = _line("gpus: {type: H100"), _line("engine: vllm"), _line("- name: qwen2-7b")


def _changed(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def test_a_gpu_type_without_a_price_is_told_to_add_one_not_offered_another_type(tmp_path: Path) -> None:
    assert _errors(tmp_path, _changed("type: H100", "type: H200")) == [
        f"spec.yaml:{GPU}:18: models.0.gpus.type: model 'llama-3-70b': GPU type 'H200' has no rate in costs.gpu_hourly "
        "(add `H200: <price per hour>` under costs.gpu_hourly)"]


def test_a_gpu_type_spelt_in_other_case_is_offered_the_priced_one(tmp_path: Path) -> None:
    assert _errors(tmp_path, _changed("type: H100", "type: h100")) == [
        f"spec.yaml:{GPU}:18: models.0.gpus.type: model 'llama-3-70b': GPU type 'h100' has no rate in costs.gpu_hourly "
        "(did you mean 'H100'?)"]


def test_an_engine_in_other_case_gets_the_hint(tmp_path: Path) -> None:
    assert _errors(tmp_path, _changed("    engine: vllm", "    engine: vLLM")) == [
        f"spec.yaml:{ENGINE}:13: models.0.engine: 'vLLM' is not one of {PRESETS} (did you mean 'vllm'?)"]


def test_an_engine_without_a_preset_gets_the_list_of_presets_and_no_guess(tmp_path: Path) -> None:
    assert _errors(tmp_path, _changed("    engine: vllm", "    engine: ollama")) == [
        f"spec.yaml:{ENGINE}:13: models.0.engine: 'ollama' is not one of {PRESETS}"]


def test_a_duplicate_model_name_is_one_error(tmp_path: Path) -> None:
    assert _errors(tmp_path, _changed("  - name: qwen2-7b", "  - name: llama-3-70b")) == [
        f"spec.yaml:{QWEN}:11: models.1.name: model 'llama-3-70b' is defined twice (first as models.0)"]


@pytest.mark.parametrize("text, expected", [
    ("apiVersion: llmmon/v1\nmetadata:\n\tname: x\n",
     "spec.yaml:3:1: not valid YAML: tabs are not allowed for indentation: indent with spaces"),
    ("apiVersion: llmmon/v1\nmetadata:\n  name: x\n\t  namespace: y\n",
     "spec.yaml:4:1: not valid YAML: tabs are not allowed for indentation: indent with spaces"),
    ("apiVersion: llmmon/v1\nmetadata:\n  name: x\n namespace: y\n",
     "spec.yaml:4:2: not valid YAML: this line is not indented like the keys above it: line them up with spaces"),
    ("apiVersion: llmmon/v1\nmetadata:\n  name: x\n    namespace: y\n",
     "spec.yaml:4:14: not valid YAML: a key is indented deeper than the keys above it, or a value holds ': ' "
     "unquoted: line the keys up or quote the value"),
    ("models:\n  - name: a\n  engine: vllm\n",
     "spec.yaml:3:3: not valid YAML: a key is indented like the list items above it: indent it under its item, "
     "or start it with '- '"),
    ("models: [a, b\n", "spec.yaml:2:1: not valid YAML: a '[' list is not closed: end it with ']'"),
    ("metadata: {name: a\n", "spec.yaml:2:1: not valid YAML: a '{' mapping is not closed: end it with '}'"),
    ('metadata: {name: "a}\n', "spec.yaml:2:1: not valid YAML: a quoted value is not closed: end it with the "
                               "same quote"),
], ids=["tab", "tab after spaces", "key out of line", "key indented deeper", "key among list items",
        "open list", "open mapping", "open quote"])
def test_a_yaml_layout_mistake_is_said_in_words_with_its_position(tmp_path: Path, text: str, expected: str) -> None:
    assert _errors(tmp_path, text) == [expected]


def test_an_output_that_is_a_file_must_be_a_folder(tmp_path: Path) -> None:
    target = tmp_path / "good.yaml"
    target.write_text("kept: true\n", encoding="utf-8")
    result = invoke("generate", str(EXAMPLE), "-o", str(target))

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == f"llmmon: {target} is a file: the output must be a folder (e.g. -o out)\n"
    assert target.read_text(encoding="utf-8") == "kept: true\n"


def test_a_folder_under_a_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("kept: true\n", encoding="utf-8")
    result = invoke("generate", str(EXAMPLE), "-o", str(tmp_path / "good.yaml" / "out"))

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == f"llmmon: cannot write {tmp_path / 'good.yaml'}: Not a directory\n"


def _immutable(path: Path, on: bool) -> bool:
    """chattr +i / -i: an unwritable folder even for root (chmod is not, and tests may run as root)."""
    chattr = shutil.which("chattr")
    return bool(chattr) and subprocess.run([str(chattr), "+i" if on else "-i", str(path)], capture_output=True,
                                           check=False).returncode == 0


def test_a_write_failure_names_the_exact_path_and_the_reason(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("generate", str(EXAMPLE), "-o", str(out)).exit_code == ExitCode.OK
    changed = tmp_path / "changed.yaml"
    changed.write_text(TEXT.replace("llama-3-70b", "llama-3-71b"), encoding="utf-8")
    rules = out / "prometheus" / "rules"
    if not _immutable(rules, True):
        pytest.skip("chattr +i is not permitted here (needs CAP_LINUX_IMMUTABLE and ext4-like file system)")
    try:
        result = invoke("generate", str(changed), "-o", str(out))
    finally:
        _immutable(rules, False)

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == f"llmmon: cannot write {rules / 'llm-platform.rules.yaml'}: Operation not permitted\n"


def _warnings(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    plan, diagnostics = load(path, "spec.yaml")
    assert plan is not None, [d.render() for d in diagnostics]
    return [d.render() for d in diagnostics if d.severity is Severity.WARNING]


LONG_FOR = ("an alert fires only once its condition has held without a break for {}; any evaluation without it (a "
            "gap in the data, a Prometheus restart of more than an hour, a pod replaced) starts the wait again, so it "
            "may never fire (wait an hour or less: slow trends are what the 6h and 3d burn-rate windows catch)")


def test_a_for_longer_than_a_day_is_warned_about_once_where_it_is_written(tmp_path: Path) -> None:
    text = _changed("  info:     {for: 30m,", "  info:     {for: 30d,")
    text = text.replace("latency_p99:        {threshold: 2s,  tier: warning}",
                        "latency_p99:        {threshold: 2s,  tier: warning, for: 36h}")  # every model inherits it
    text = text.replace("throughput_low: {enabled: true, threshold: 5}",
                        "throughput_low: {enabled: true, threshold: 5, for: 2d}")
    latency, throughput = _line("latency_p99:"), _line("throughput_low: {enabled: true")
    assert _warnings(tmp_path, text) == [  # in the order of the lines
        f"spec.yaml:{latency}:62: warning: defaults.alerts.latency_p99.for: {LONG_FOR.format('1d12h')}",
        f"spec.yaml:{throughput}:58: warning: models.1.alerts.throughput_low.for: model 'qwen2-7b': "
        f"{LONG_FOR.format('2d')}",
        f"spec.yaml:{_line('info:     {for:')}:19: warning: alert_tiers.info.for: {LONG_FOR.format('30d')}"]
    assert _warnings(tmp_path, _changed("  info:     {for: 30m,", "  info:     {for: 1d,")) == []
