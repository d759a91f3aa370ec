"""`llmmon validate`: spec checks, then the real checkers on freshly generated output in a temporary folder."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from llmmon import output
from llmmon.checks import promtool, registry
from llmmon.generate import Bundle
from llmmon.model import Plan


@dataclass
class Validation:
    """The outcome of every check, with figures for the summary."""

    findings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # what ran and passed
    assertions: int = 0
    scenarios: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check found anything."""
        return not self.findings


def run(bundle: Bundle, plan: Plan, skip_promtool: bool = False) -> Validation:
    """Write the bundle to a temporary folder and run every check on it; raises promtool.ToolMissing."""
    result = Validation()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="llmmon-validate-") as tmp:
        root = Path(tmp)
        output.write(root, plan.name, bundle.files, durable=False)  # a scratch folder: no fsync
        # The checks mostly wait on external tools (checkov, amtool, kubectl): they run beside promtool,
        # and report in the registry's order so the output stays the same from run to run.
        rules = Validation()
        with ThreadPoolExecutor(max_workers=2) as pool:
            pending = [pool.submit(check, root, bundle, plan) for check in registry.checks()]
            if skip_promtool:
                rules.checks.append("promtool skipped (--skip-promtool)")
            else:
                _promtool(root, bundle, rules)
            for future in pending:
                found = future.result()
                result.findings += found.findings
                result.checks += found.passed + [f"skipped: {line}" for line in found.skipped]
        result.findings += rules.findings
        result.checks += rules.checks
        result.assertions, result.scenarios = rules.assertions, rules.scenarios
    result.seconds = time.perf_counter() - started
    return result


def _promtool(root: Path, bundle: Bundle, result: Validation) -> None:
    """promtool check rules on the rule file and the PrometheusRule, and promtool test rules, side by side."""
    binary = promtool.find()
    with ThreadPoolExecutor(max_workers=2) as pool:  # the checks run while the tests do
        plain = pool.submit(promtool.check_rules, binary, root / bundle.rules_file, bundle.ruleset, bundle.rules_file)
        manifest = pool.submit(promtool.check_manifest, binary, root / bundle.manifest_file, bundle.ruleset,
                               bundle.manifest_file)
        tests = promtool.test_rules(binary, root, bundle.test_files, bundle.test_counts)
        checked = plain.result() + manifest.result()
    result.findings += checked + tests.findings
    if not checked:
        result.checks.append("promtool check rules: rule file and PrometheusRule ok")
    result.assertions, result.scenarios = tests.assertions_passed, tests.scenarios_passed
    if tests.ok:
        result.checks.append(f"promtool test rules: {tests.assertions_passed} assertions in "
                             f"{tests.scenarios_passed} scenarios passed")
