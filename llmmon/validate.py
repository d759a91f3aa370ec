"""`llmmon validate`: spec checks, then the real checkers on freshly generated output in a temporary folder."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from llmmon import output
from llmmon.checks import passes, promtool, registry
from llmmon.generate import Bundle
from llmmon.model import Plan


@dataclass
class Validation:
    """The outcome of every check, with figures for the summary."""

    findings: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # what ran and passed
    skipped: int = 0  # checks not run: left out by --skip, turned off, or their tool is missing
    missing: list[str] = field(default_factory=list)  # of those, the ones whose tool is not installed
    assertions: int = 0
    scenarios: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no check found anything."""
        return not self.findings


def run(bundle: Bundle, plan: Plan, skip: Iterable[str] = ()) -> Validation:
    """Write the bundle to a temporary folder and run every check on it but those named in `skip`
    (registry.NAMES); raises promtool.ToolMissing."""
    with Session(plan, skip) as session:
        session.start(bundle)
        return session.finish(bundle)


class Session:
    """One validation in a scratch folder, in two steps so that the slowest check starts first.

    `start` takes the Prometheus part of the output (generate.build_rules) and sets promtool to work on it
    in the background; `finish` takes the whole bundle, runs the other checks beside promtool and reports
    everything in the registry's order, so the output stays the same from run to run.
    """

    def __init__(self, plan: Plan, skip: Iterable[str] = ()) -> None:
        self.plan, self.skip = plan, frozenset(skip)
        unknown = self.skip - registry.NAMES.keys()
        if unknown:
            raise ValueError(f"unknown check {', '.join(sorted(unknown))} (checks: {', '.join(registry.NAMES)})")
        self._scratch = tempfile.TemporaryDirectory(prefix="llmmon-validate-")
        self.root = Path(self._scratch.name)
        # promtool in one thread (it waits on its processes), the checks in two (they wait on amtool, kubectl)
        self._pool = ThreadPoolExecutor(max_workers=3)
        self._rules: Future[Validation] | None = None
        self._started = time.perf_counter()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._scratch.cleanup()

    def start(self, rules: Bundle) -> None:
        """Write the rule and test files and start promtool on them."""
        output.write(self.root, self.plan.name, rules.files, durable=False)  # a scratch folder: no fsync
        if "promtool" not in self.skip:
            binary = promtool.find()  # ToolMissing here, before anything else runs
            self._rules = self._pool.submit(_promtool, binary, self.root, rules)

    def finish(self, bundle: Bundle) -> Validation:
        """Write the rest of the bundle, run every other check, wait for promtool."""
        output.write(self.root, self.plan.name, bundle.files, durable=False)
        remembered = {name: checker for name, checker in registry.remembered().items() if name not in self.skip}
        output_digest = passes.output_digest(bundle, self.plan) if remembered else ""
        pending = {name: self._pool.submit(passes.remembering(f"{name}-passed", check, remembered[name],
                                                              output_digest)
                                           if name in remembered else check, self.root, bundle, self.plan)
                   for name, check in registry.named().items() if name not in self.skip}
        result = Validation()
        for name in [*registry.named(), "promtool"]:  # promtool last: it runs longest
            if name in self.skip:
                result.checks.append(f"skipped: {name} (--skip {name}): {registry.NAMES[name]} not run")
                result.skipped += 1
            elif name in pending:
                found = pending[name].result()
                result.findings += found.findings
                result.checks += found.passed + [f"skipped: {line}" for line in found.skipped + found.missing]
                result.skipped += len(found.skipped) + len(found.missing)
                result.missing += found.missing
        if self._rules is not None:
            rules = self._rules.result()
            result.findings += rules.findings
            result.checks += rules.checks
            result.assertions, result.scenarios = rules.assertions, rules.scenarios
        result.seconds = time.perf_counter() - self._started
        return result


def _promtool(binary: str, root: Path, bundle: Bundle) -> Validation:
    """promtool check rules on the rule file and the PrometheusRule, and promtool test rules, side by side."""
    result = Validation()
    with ThreadPoolExecutor(max_workers=2) as pool:  # the checks run while the tests do
        plain = pool.submit(promtool.check_rules, binary, root / bundle.rules_file, bundle.ruleset, bundle.rules_file)
        manifest = pool.submit(promtool.check_manifest, binary, root / bundle.manifest_file, bundle.ruleset,
                               bundle.manifest_file)
        tests = promtool.test_rules(binary, root, bundle.test_files, bundle.test_counts)
        more = [pool.submit(promtool.check_rules, binary, root / path, rs, path)
                for path, rs in bundle.more_rules.items()]  # a fleet's per-cluster rule files
        checked = plain.result() + manifest.result() + [f for done in more for f in done.result()]
    result.findings += checked + tests.findings
    if not checked:
        result.checks.append("promtool check rules: rule file and PrometheusRule ok")
    result.assertions, result.scenarios = tests.assertions_passed, tests.scenarios_passed
    if tests.ok:
        again = f" ({tests.remembered} passed before on the same files, not run again)" if tests.remembered else ""
        result.checks.append(f"promtool test rules: {tests.assertions_passed} assertions in "
                             f"{tests.scenarios_passed} scenarios passed{again}")
    return result
