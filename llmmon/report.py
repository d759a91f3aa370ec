"""`llmmon validate` as data: one Outcome, printed as text, as JSON for tools or as GitHub annotations.

Spec diagnostics keep their file, line and column. Checker findings (promtool and the registry's checks: text
naming a generated file and, where it can, models) are anchored on the spec line of the first model they
name, since the spec is what a user edits, never the generated file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmmon.diagnostics import Diagnostic, ExitCode, Severity

if TYPE_CHECKING:
    from llmmon.generate import Bundle
    from llmmon.model import Plan

FORMAT_VERSION = "llmmon.validate/v1"
_MODELS = re.compile(r"\(models?: ([^)]*)\)")
_MODEL = re.compile(r"""\bmodel[ =]["']?([a-z0-9][-a-z0-9._]*[a-z0-9]|[a-z0-9])["']?""")
_CHECKS = {"promtool check rules": "promtool check rules", "scenario ": "promtool test rules"}


@dataclass(frozen=True)
class Finding:
    """One finding of `llmmon validate`, with its position in the spec when it has one."""

    severity: str  # error | warning
    message: str  # what is wrong, without the position
    file: str  # the spec file, as given on the command line
    line: int = 0  # 1-based; 0 when unknown
    col: int = 0
    path: str = ""  # dotted key path in the spec
    suggestion: str | None = None
    source: str = "spec"  # spec | check | llmmon
    check: str | None = None  # for source=check: "promtool check rules", "promtool test rules", ...
    generated_file: str | None = None  # for source=check: the generated file the checker read
    models: tuple[str, ...] = ()
    text: str = ""  # the finding as `llmmon validate` prints it in text form


@dataclass
class Outcome:
    """What one run of validate found, ready to print in any format."""

    spec: str
    name: str | None = None
    exit_code: int = ExitCode.OK
    findings: list[Finding] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)  # what ran and passed
    counts: dict[str, int] = field(default_factory=dict)
    skip: tuple[str, ...] = ()  # checks left out (registry.NAMES)
    strict: bool = False  # a checker that is not installed fails validation
    skipped: int = 0  # checks that did not run, for whatever reason
    seconds: float = 0.0  # time the checks took; printed in text form only, so JSON stays byte-stable


def run(spec: Path, skip: tuple[str, ...] = (), strict: bool = False) -> Outcome:
    """Validate a spec: spec checks, then every check but those in `skip` on freshly generated output;
    nothing is printed."""
    from llmmon.compiler import load

    outcome = Outcome(spec=str(spec), skip=skip, strict=strict)
    plan, diagnostics = load(spec, str(spec))
    outcome.findings = [from_diagnostic(d) for d in diagnostics]
    if plan is None:
        outcome.exit_code = ExitCode.USAGE
        return outcome
    return check(outcome, plan)


def check(outcome: Outcome, plan: Plan, bundle: Bundle | None = None) -> Outcome:
    """Run every check on a plan's output (generated here unless given), adding counts, passed checks and
    findings to `outcome`. The promtool tests start as soon as the rules are generated, before the rest."""
    from llmmon import validate
    from llmmon.checks.promtool import ToolMissing
    from llmmon.generate import build, build_rules

    outcome.name = plan.name
    try:
        with validate.Session(plan, outcome.skip) as session:
            rules = bundle or build_rules(plan)
            outcome.counts = _counts(rules)
            session.start(rules)
            bundle = bundle or build(plan, rules)
            result = session.finish(bundle)
    except ToolMissing as exc:
        outcome.exit_code = ExitCode.USAGE
        outcome.findings.append(Finding(severity="error", message=str(exc), file=outcome.spec, source="llmmon",
                                        text=f"llmmon: {exc}"))
        return outcome
    if "promtool" not in outcome.skip:
        outcome.counts.update(assertions=result.assertions, scenarios=result.scenarios)
    positions = model_positions(Path(outcome.spec)) if result.findings else {}
    outcome.findings += [from_check(text, outcome.spec, bundle.files, positions) for text in result.findings]
    if outcome.strict:
        outcome.findings += [Finding(severity="error", message=f"--strict: a checker is missing: {line}",
                                     file=outcome.spec, source="check", check="strict",
                                     text=f"llmmon: --strict: a checker is missing: {line}")
                             for line in result.missing]
    outcome.checks, outcome.seconds, outcome.skipped = list(result.checks), result.seconds, result.skipped
    failed = any(f.source == "check" for f in outcome.findings)
    outcome.exit_code = ExitCode.FINDINGS if failed else ExitCode.OK
    return outcome


def _counts(bundle: Bundle) -> dict[str, int]:
    c = bundle.counts
    assert c is not None
    return {"models": c.models, "rules": c.recording + c.alerting, "recording": c.recording,
            "alerting": c.alerting, "static": c.static}


def as_text(outcome: Outcome) -> tuple[str, str]:
    """(stdout, stderr) as people read them: findings on stderr, the summary on stdout."""
    out, verdict = _summary(outcome)
    err = [f.text for f in outcome.findings] + ([verdict] if verdict else [])
    return _lines(out), _lines(err)


def _summary(outcome: Outcome) -> tuple[list[str], str | None]:
    """The summary lines for stdout, and the closing line for stderr when validation failed."""
    if outcome.name is None:
        errors = sum(f.severity == Severity.ERROR for f in outcome.findings)
        return [], f"{errors} error(s), {len(outcome.findings) - errors} warning(s): nothing was generated"
    if any(f.source == "llmmon" for f in outcome.findings):
        return [], None
    c = outcome.counts
    models = f"{c['models']} model{'' if c['models'] == 1 else 's'}"
    out = [f"{outcome.spec}: spec {outcome.name}: {models}, {c['rules']} rules "
           f"({c['recording']} recording, {c['alerting']} alerting)", *(f"  {line}" for line in outcome.checks)]
    failed = sum(f.source == "check" for f in outcome.findings)
    if failed:
        return out, f"{failed} check(s) failed"
    out.append(f"  {verdict(outcome.skipped)} ({outcome.seconds:.2f} s of checks)")
    return out, None


def verdict(skipped: int) -> str:
    """`valid`, or `valid, 2 checks skipped`: a run that left checks out never reads as a full pass."""
    if not skipped:
        return "valid"
    return f"valid, {skipped} check{'s' if skipped != 1 else ''} skipped"


def _lines(lines: list[str]) -> str:
    return "".join(f"{line}\n" for line in lines)


def from_diagnostic(d: Diagnostic) -> Finding:
    """A spec diagnostic as a finding."""
    return Finding(severity=str(d.severity), message=d.message, file=d.file, line=d.line, col=d.col, path=d.path,
                   suggestion=d.suggestion, text=d.render())


def from_check(text: str, spec: str, generated: Iterable[str], positions: dict[str, tuple[int, int]]) -> Finding:
    """A checker's finding (text naming a generated file and, where it can, models) anchored in the spec."""
    file = max((p for p in generated if text.startswith(f"{p}:")), key=len, default=None)
    rest = text[len(file) + 1:].lstrip() if file else text
    check = next((name for prefix, name in _CHECKS.items() if rest.startswith(prefix)), None)
    named = [n.strip() for group in _MODELS.findall(rest) for n in group.split(",")] + _MODEL.findall(rest)
    models = tuple(dict.fromkeys(n for n in named if n in positions))
    line, col = positions[models[0]] if models else (0, 0)
    return Finding(severity=str(Severity.ERROR), message=text, file=spec, line=line, col=col, source="check",
                   check=check, generated_file=file, models=models, text=text)


def model_positions(spec: Path) -> dict[str, tuple[int, int]]:
    """Line and column of each model's `name` in the spec file (empty when it cannot be read)."""
    from llmmon import yamlpos

    try:
        doc, _ = yamlpos.load(spec.read_bytes())
    except (OSError, yamlpos.YamlProblem):
        return {}
    models = doc.data.get("models") if isinstance(doc.data, dict) else None
    out: dict[str, tuple[int, int]] = {}
    for i, model in enumerate(models if isinstance(models, list) else []):
        name = model.get("name") if isinstance(model, dict) else None
        if isinstance(name, str):
            out.setdefault(name, doc.position(("models", i, "name")))
    return out


def as_json(outcome: Outcome) -> str:
    """The outcome as one JSON document with sorted keys (the same input gives the same bytes)."""
    findings = []
    for f in outcome.findings:
        item: dict[str, Any] = asdict(f)
        item["models"] = list(f.models)
        findings.append(item)
    errors = sum(f.severity == Severity.ERROR for f in outcome.findings)
    document = {
        "format": FORMAT_VERSION, "spec": outcome.spec, "name": outcome.name,
        "valid": outcome.exit_code == ExitCode.OK, "exit_code": int(outcome.exit_code),
        "errors": errors, "warnings": len(outcome.findings) - errors,
        "findings": findings, "checks": outcome.checks, "counts": outcome.counts, "skipped": outcome.skipped,
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def as_github(outcome: Outcome) -> str:
    """GitHub Actions workflow commands, one annotation per finding, then the text summary."""
    lines = []
    for f in outcome.findings:
        props = {"file": f.file}
        if f.line:
            props["line"] = str(f.line)
            if f.col:
                props["col"] = str(f.col)
        props["title"] = "llmmon: " + (f.path or f.check or f.source)
        body = f.text
        if f.source == "spec":
            body = (f"{f.path}: " if f.path else "") + f.message + (f" ({f.suggestion})" if f.suggestion else "")
        level = "warning" if f.severity == Severity.WARNING else "error"
        joined = ",".join(f"{k}={_escape_property(v)}" for k, v in props.items())
        lines.append(f"::{level} {joined}::{_escape_data(body)}")
    summary, verdict = _summary(outcome)
    return _lines([*lines, *summary, *([verdict] if verdict else [])])


def _escape_data(text: str) -> str:
    """Escape a workflow command's message as the Actions toolkit does (%, CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """Escape a workflow command's property value (also `:` and `,`, which end properties)."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
