"""The pre-commit hooks: `llmmon hook …` in-process, and `pre-commit try-repo` for real on a snapshot.

try-repo installs the hook repository into a fresh environment (`language: python`: pip fetches llmmon's
dependencies from PyPI) and runs the hooks on the snapshot's own files, as `pre-commit try-repo .` does in a
clone of this repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pre_commit.clientlib import load_manifest

from helpers import ROOT, invoke
from llmmon.diagnostics import ExitCode
from llmmon.precommit import is_spec

pytestmark = pytest.mark.usefixtures("without_checkov")


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)



def test_the_hook_manifest_is_valid_for_pre_commit_and_offers_both_hooks() -> None:
    hooks = {h["id"]: h for h in load_manifest(str(ROOT / ".pre-commit-hooks.yaml"))}

    assert set(hooks) == {"llmmon-validate", "llmmon-generate-check"}
    assert hooks["llmmon-validate"]["entry"] == "llmmon hook validate"
    assert hooks["llmmon-generate-check"]["entry"] == "llmmon hook generate-check"
    assert all(h["language"] == "python" and h["types"] == ["yaml"] for h in hooks.values())


def test_only_files_that_declare_an_llmmon_api_version_are_specs(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n", encoding="utf-8")
    (tmp_path / "later.yaml").write_text("---\n# a spec\nkind: MonitoringSpec\napiVersion: 'llmmon/v2'\n",
                                         encoding="utf-8")

    assert is_spec(ROOT / "specs/example.yaml")
    assert is_spec(tmp_path / "later.yaml"), "a wrong llmmon version is a spec to report, not to skip"
    assert not is_spec(tmp_path / "other.yaml")
    assert not is_spec(ROOT / ".pre-commit-hooks.yaml")
    assert is_spec(tmp_path / "missing.yaml"), "an unreadable file is reported, not skipped"


def test_hook_validate_checks_every_spec_and_skips_other_yaml() -> None:
    result = invoke("hook", "validate", "--skip-promtool", ".pre-commit-hooks.yaml", "specs/minimal.yaml",
                    "specs/example.yaml")

    assert result.exit_code == ExitCode.OK, result.stdout + result.stderr
    assert "specs/minimal.yaml: spec minimal: 1 model," in result.stdout
    assert "specs/example.yaml: spec llm-platform: 2 models" in result.stdout
    assert ".pre-commit-hooks.yaml" not in result.stdout + result.stderr


def test_hook_validate_fails_with_the_worst_exit_code_and_still_checks_the_good_specs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "specs/minimal.yaml").read_text(encoding="utf-8").replace("engine: vllm", "engine: vlm"),
                   encoding="utf-8")
    result = invoke("hook", "validate", "--skip-promtool", str(bad), "specs/minimal.yaml")

    assert result.exit_code == ExitCode.USAGE
    assert f"{bad}:9:11: defaults.engine: 'vlm' is not one of" in result.stderr
    assert "specs/minimal.yaml: spec minimal" in result.stdout


def test_hook_generate_check_fails_for_a_spec_whose_output_is_stale(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert invoke("generate", "specs/minimal.yaml", "-o", str(out)).exit_code == ExitCode.OK

    fresh = invoke("hook", "generate-check", "-o", str(out), "specs/minimal.yaml", ".pre-commit-hooks.yaml")
    stale = invoke("hook", "generate-check", "-o", str(out), "specs/minimal.yaml", "specs/example.yaml")

    assert fresh.exit_code == ExitCode.OK, fresh.stderr
    assert "up to date with specs/minimal.yaml" in fresh.stdout
    assert stale.exit_code == ExitCode.FINDINGS
    assert f"{out} is stale for specs/example.yaml" in stale.stderr


def test_hooks_given_no_spec_do_nothing_and_pass() -> None:
    result = invoke("hook", "validate", ".pre-commit-hooks.yaml", "pyproject.toml")

    assert result.exit_code == ExitCode.OK
    assert result.stdout == result.stderr == ""


def _snapshot(target: Path) -> None:
    """This working tree as a git repository with one commit (try-repo installs the committed content)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        if (ROOT / rel).is_file():
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, target / rel)
    # The golden out/ of the working tree may lag behind work in progress; the hooks need it current.
    subprocess.run([sys.executable, "-m", "llmmon", "generate", "specs/example.yaml", "-o", "out"], cwd=target,
                   check=True, capture_output=True)
    author = ["-c", "user.name=llmmon tests", "-c", "user.email=tests@llmmon.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*author, "commit", "-q", "--no-verify", "-m", "snapshot"]):
        subprocess.run(["git", *args], cwd=target, check=True, capture_output=True)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_pre_commit_try_repo_runs_both_hooks_on_the_specs_of_a_clone(tmp_path: Path) -> None:
    clone = tmp_path / "llmmon"
    clone.mkdir()
    _snapshot(clone)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "cache"), PIP_DISABLE_PIP_VERSION_CHECK="1")

    done = subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", ".", "--verbose", "--color", "never",
                           "--files", "specs/example.yaml", "specs/minimal.yaml", ".pre-commit-hooks.yaml"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = done.stdout + done.stderr

    assert done.returncode == 1, output  # minimal's output is not in out/: the generate check must fail
    assert "llmmon validate...." in output and ".Passed" in output.split("llmmon validate....")[1].split("\n")[0]
    assert ".Failed" in output.split("llmmon generate --check....")[1].split("\n")[0]
    assert "out is up to date with specs/example.yaml" in output
    assert "out is stale for specs/minimal.yaml" in output
    assert "specs/example.yaml: spec llm-platform: 2 models" in output
    assert "specs/minimal.yaml: spec minimal: 1 model," in output
    assert "promtool test rules" in output
