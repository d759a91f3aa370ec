"""promtool, run for real on generated output: `check rules` and `test rules`, messages mapped to models."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from llmmon import tools
from llmmon.checks import passes
from llmmon.emit.prometheus import RuleSet
from llmmon.yamlout import dump

TIMEOUT_S = 120
INSTALL_HINT = ("install it with `apt-get install prometheus` (Debian/Ubuntu; it provides promtool), "
                "or put a promtool binary on PATH or in LLMMON_PROMTOOL; `--skip-promtool` skips these checks")
_RULE_REF = re.compile(r'group "(?P<group>[^"]+)", rule (?P<index>\d+), "?(?P<name>[^":]*)"?:')
_MODEL = re.compile(r'model=\\?"([^"\\]+)\\?"')
_RULE_FILES = re.compile(r'^rule_files:\n((?:[ ]+- .*\n)+)', re.MULTILINE)
PASSED = "promtool-passed"  # the build cache's kind for scenarios promtool passed


class ToolMissing(Exception):
    """promtool is not installed."""


@dataclass
class Report:
    """What promtool said about one generated output."""

    findings: list[str] = field(default_factory=list)
    assertions_passed: int = 0
    scenarios_passed: int = 0
    remembered: int = 0  # scenarios of those passed that an earlier run passed, byte for byte, and were not run

    @property
    def ok(self) -> bool:
        """True when promtool found nothing."""
        return not self.findings


def find() -> str:
    """The promtool to run: $LLMMON_PROMTOOL, else the one on PATH."""
    path = os.environ.get("LLMMON_PROMTOOL") or shutil.which("promtool")
    if not path:
        raise ToolMissing(f"promtool was not found: {INSTALL_HINT}")
    return path


def _run(args: list[str], cwd: Path | None = None, timeout: float = 0,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    timeout = timeout or TIMEOUT_S
    try:
        return tools.run(args, timeout=timeout, cwd=cwd, env=env)
    except OSError as exc:  # missing, not executable, not a program for this machine
        raise ToolMissing(f"{args[0]} could not be run ({exc.strerror or exc}): {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]} timed out after {timeout:g}s")


def check_rules(promtool: str, path: Path, ruleset: RuleSet, label: str) -> list[str]:
    """`promtool check rules` with the duplicate-rules lint fatal; each problem names its rule and models."""
    done = _run([promtool, "check", "rules", "--lint=duplicate-rules", "--lint-fatal", str(path)])
    if done.returncode == 0:
        return []
    findings, other = [], []
    for line in (done.stdout + done.stderr).splitlines():
        line = line.strip()
        if not line or line.startswith(("Checking", "FAILED")):
            continue
        ref = _RULE_REF.search(line)
        if ref:
            models = ruleset.models_of.get((ref["group"], int(ref["index"])), ())
            findings.append(f"{label}: promtool check rules: rule {ref['name'] or ref['index']} of group "
                            f"{ref['group']} (models: {', '.join(models)}): {line[ref.end():].strip()}")
        else:
            other.append(line)
    if other:  # lint reports and the like span several lines: keep them together
        findings.append(f"{label}: promtool check rules:\n" + _indent("\n".join(other)))
    return findings or [f"{label}: promtool check rules failed with exit code {done.returncode}"]


def check_manifest(promtool: str, path: Path, ruleset: RuleSet, label: str) -> list[str]:
    """Check the rule groups of every PrometheusRule in a manifest (promtool reads only plain rule files)."""
    groups = [g for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) for g in doc["spec"]["groups"]]
    with tempfile.TemporaryDirectory(prefix="llmmon-") as tmp:
        plain = Path(tmp) / "spec.yaml"
        plain.write_text(dump({"groups": groups}), encoding="utf-8")
        return check_rules(promtool, plain, ruleset, label)


def test_rules(promtool: str, root: Path, tests: dict[str, str], counts: dict[str, int]) -> Report:
    """Run every generated test file and collect failures: the files of a folder in one promtool per core (each
    promtool start loads every rule file again), and a failed batch again one file at a time, so that each
    failure is reported with its own file and scenario. A file this promtool passed before with the same rule
    files is not run again (the build cache remembers passes, never failures)."""
    report = Report()
    checker = passes.identity(promtool, version=["--version"])
    keys = {rel: _passed_key(checker, root / rel) for rel in tests}
    remembered = {rel for rel in tests if passes.recalled(PASSED, keys[rel]) is not None}
    report.scenarios_passed = report.remembered = len(remembered)
    report.assertions_passed = sum(counts.get(rel, 0) for rel in remembered)
    tests = {rel: scenario for rel, scenario in tests.items() if rel not in remembered}
    if not tests:
        return report
    cores = max(1, min(len(tests), os.cpu_count() or 1))
    folders: dict[Path, list[str]] = {}
    for rel in sorted(tests):
        folders.setdefault((root / rel).parent, []).append(rel)
    batches = [files[i::cores] for files in folders.values() for i in range(min(cores, len(files)))]
    env = tools.go_checker_env(min(cores, len(batches)))

    def batch(rels: list[str]) -> list[tuple[str, subprocess.CompletedProcess[str]]]:
        folder = (root / rels[0]).parent
        done = _run([promtool, "test", "rules", *(Path(rel).name for rel in rels)], cwd=folder,
                    timeout=TIMEOUT_S * len(rels), env=env)
        if done.returncode in (0, 124) or len(rels) == 1:
            return [(rel, done) for rel in rels]
        return [(rel, _run([promtool, "test", "rules", Path(rel).name], cwd=folder, env=env)) for rel in rels]

    with ThreadPoolExecutor(max_workers=cores) as pool:  # several folders (a fleet's tiers): still one per core
        results = sorted((pair for done in pool.map(batch, batches) for pair in done), key=lambda pair: pair[0])
    for rel, done in results:
        if done.returncode == 0:
            report.scenarios_passed += 1
            report.assertions_passed += counts.get(rel, 0)
            passes.remember(PASSED, keys[rel], tests[rel])
            continue
        output = (done.stdout + done.stderr).strip()
        models = sorted(set(_MODEL.findall(output)))
        who = f" (models: {', '.join(models)})" if models else ""
        report.findings.append(f"{rel}: scenario {tests[rel]!r} failed{who}:\n" + _indent(output))
    return report


def _passed_key(checker: str | None, test_file: Path) -> str | None:
    """What a pass of promtool on a test file depends on: the promtool (`passes.identity`), the test file and the
    rule files it loads, byte for byte; promtool's verdict on the same bytes is the same. None (do not remember)
    when one of them cannot be read."""
    if checker is None:
        return None
    try:
        text = test_file.read_bytes()
        inputs: list[str | bytes] = [text]
        listed = _RULE_FILES.search(text[:65536].decode("utf-8", "replace"))
        if listed is None:
            return None
        for line in listed.group(1).splitlines():
            name = line.strip()[1:].strip().strip('"').strip("'")
            inputs += [name, (test_file.parent / name).read_bytes()]
    except (OSError, ValueError):
        return None
    return passes.key(PASSED, checker, *inputs, judged=False)  # promtool's exit code is the verdict


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines() if line.strip())
