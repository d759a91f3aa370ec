"""The docs stay true: the spec reference (docs/spec.md) is generated and current, the README's CI and pre-commit
examples work."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pre_commit.clientlib import load_config

from helpers import ROOT
from llmmon import reference

README = ROOT / "README.md"
SPEC_DOC = ROOT / "docs" / "spec.md"
BIN = Path(sys.executable).parent

@pytest.fixture(autouse=True)
def _without_checkov(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov costs seconds a run and has tests of its own; these tests are about the command line. It is
    turned off on purpose (LLMMON_CHECKOV=off), as a user may, so the examples that use --strict still pass."""
    from llmmon.checks import checkov

    monkeypatch.setattr(checkov, "find", lambda: "off")
    monkeypatch.setenv("LLMMON_CHECKOV", "off")  # for llmmon run as a process


def _block(name: str) -> str:
    """The fenced code inside `<!-- NAME:start -->` … `<!-- NAME:end -->`."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"<!-- {name}:start -->\n```\w*\n(.*?)```\n<!-- {name}:end -->", text, re.DOTALL)
    assert match, f"README.md has no {name} block"
    return match.group(1)


# --- spec reference ------------------------------------------------------------------------------------------------


def test_the_spec_reference_in_docs_is_current() -> None:
    text = SPEC_DOC.read_text(encoding="utf-8")
    assert reference.update(text) == text, "docs/spec.md's spec reference is stale: run `make docs`"


def test_every_key_of_the_spec_has_a_description() -> None:
    missing = [f"{paths[0] or 'top level'}.{info.alias or name}" for model, paths in reference.sections()
               for name, info in model.model_fields.items() if not reference.description(model, name)]
    assert missing == [], "give these fields a description= in llmmon/spec.py"


def test_the_reference_documents_every_key_of_the_example_spec() -> None:
    documented = set(re.findall(r"^\| `([^`]+)` \|", reference.reference(), re.MULTILINE))

    def keys(node: object, parent: str = "") -> set[str]:
        if isinstance(node, dict):
            free = parent in ("receivers", "labels", "gpu_hourly")  # user-named keys
            return {k for k in node if not free} | {x for k, v in node.items() for x in keys(v, k)}
        if isinstance(node, list):
            return {x for item in node for x in keys(item, parent)}
        return set()

    example = yaml.safe_load((ROOT / "specs/example.yaml").read_text(encoding="utf-8"))
    assert keys(example) - documented == set()


def test_check_mode_reports_a_stale_reference_and_rewriting_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{reference.START}\nstale placeholder\n{reference.END}\n\nafter\n", encoding="utf-8")

    assert reference.main(["--check", str(readme)]) == 1
    assert "stale placeholder" in readme.read_text(encoding="utf-8")
    assert "stale" in capsys.readouterr().err
    assert reference.main([str(readme)]) == 0
    assert reference.main(["--check", str(readme)]) == 0
    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# x\n\n") and text.endswith(f"{reference.END}\n\nafter\n")
    assert "stale placeholder" not in text


def test_a_readme_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="spec-reference:start"):
        reference.update("# no markers\n")


# --- CI and pre-commit examples ------------------------------------------------------------------------------------


def test_the_pre_commit_example_is_a_valid_pre_commit_config(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(_block("pre-commit-example"), encoding="utf-8")

    [repo] = load_config(str(config))["repos"]
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert {h["id"] for h in repo["hooks"]} == {h["id"] for h in manifest}


def test_the_llmmon_steps_of_the_ci_example_pass_on_this_repository(tmp_path: Path) -> None:
    """Run each `llmmon …` line of the workflow as a shell would, in a copy holding the specs and a fresh out/."""
    workflow = yaml.safe_load(_block("ci-example"))
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    commands = [line.strip() for s in steps for line in s.get("run", "").splitlines()
                if line.strip().startswith("llmmon ")]
    assert [c.split()[1] for c in commands] == ["validate", "generate", "explain"]
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md")}
    subprocess.run([str(BIN / "llmmon"), "generate", "specs/example.yaml"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
    assert (tmp_path / "summary.md").read_text(encoding="utf-8").startswith("## llmmon plan of llm-platform")
    if shutil.which("kubectl"):  # the apply step's kustomization builds offline (kubectl kustomize)
        built = subprocess.run(["kubectl", "kustomize", "out/kubernetes"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=120, check=False)
        assert built.returncode == 0, built.stderr
        assert "kind: PrometheusRule" in built.stdout
