"""Property-based tests: any valid spec compiles to output every checker accepts; any broken spec is refused.

Example counts per property and Hypothesis profile are in tests/specgen.py (EXAMPLES); `make test` runs the
`ci` profile (12 specs of up to 12 models checked in full, half on each supported Prometheus and Alertmanager);
`make test-deep` (HYPOTHESIS_PROFILE=dev) and
HYPOTHESIS_PROFILE=long run many more. Every example is generated into a temporary folder.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import specgen
import specmutate
import versions
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import EXAMPLE, ROOT, promtool
from llmmon import atomic, validate
from llmmon.cli import app
from llmmon.compiler import load
from llmmon.diagnostics import ExitCode, Severity
from llmmon.generate import build
from llmmon.output import manifest_name

# FILE:LINE:COL: key.path: message, or FILE: message for what concerns the whole file (its size, reading it)
DIAGNOSTIC = re.compile(r"^[^\n]+?(:\d+:\d+)?: \S.*$")
SUMMARY = re.compile(r"^\d+ error\(s\), \d+ warning\(s\): nothing was generated$")
SPECS = [EXAMPLE, *sorted((ROOT / "specs").glob("*.yaml")), *sorted((ROOT / "tests" / "specs").glob("*.yaml"))]


@contextmanager
def _written(text: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="llmmon-prop-") as tmp:
        path = Path(tmp) / "spec.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        yield path


# Random specs are checked on both supported stacks, half each: the oldest (Prometheus 2.42, Alertmanager 0.25,
# Debian's) and the current (tests/versions.py). A shape only one version refuses is found either way.
STACKS = {f"{p}+{a}": (p, a) for p, a in zip(versions.PROMETHEUS_IDS, versions.ALERTMANAGER_IDS, strict=True)}


def _on_stack(stack: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`llmmon validate` runs the promtool and amtool of `stack`."""
    prometheus, alertmanager = STACKS[stack]
    monkeypatch.setenv("LLMMON_PROMTOOL", versions.prometheus(prometheus).promtool)
    monkeypatch.setenv("LLMMON_AMTOOL", versions.alertmanager(alertmanager).amtool)


def _no_checkov(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov (3-10 s a run) and tsc on the Elasticsearch documents (3-5 s of CPU a run) each have a property
    of their own below that checks ten specs' output in one go; per example they would be most of the time."""
    from llmmon.checks import checkov

    monkeypatch.setattr(checkov, "find", lambda: None)
    monkeypatch.setenv("LLMMON_ES_TYPES", "off")


# --- valid specs: every checker passes ---------------------------------------------------------------------------


# The specs checked in full are split over shards: one test of 12 specs ran ~2 minutes on one worker, the last to
# finish `make test`; shards are separate tests the parallel workers share. Each draws its own random specs.
SHARDS = 2  # per stack


@pytest.mark.parametrize("shard", range(SHARDS))
@pytest.mark.parametrize("stack", STACKS)
@settings(max_examples=-(-specgen.EXAMPLES["checked"] // (SHARDS * len(STACKS))), phases=specgen.PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=specgen.valid_specs())
def test_any_valid_spec_generates_output_that_passes_every_checker(stack: str, shard: int, spec: dict[str, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _no_checkov(monkeypatch)
    _on_stack(stack, monkeypatch)
    with _written(specgen.dump(spec)) as path:
        plan, diagnostics = load(path, "spec.yaml")
        assert plan is not None, "\n".join(d.render() for d in diagnostics)
        bundle = build(plan)
        result = validate.run(bundle, plan)
    assert result.ok, "\n".join(result.findings)
    assert result.scenarios == len(bundle.test_files) > 0
    assert not [line for line in result.checks if line.startswith("skipped:") and not specgen.OPTIONAL.search(line)]


@settings(max_examples=specgen.EXAMPLES["checkov"], phases=specgen.PHASES)
@given(specs=st.lists(specgen.valid_specs(max_models=3), min_size=10, max_size=10))
def test_the_manifests_of_random_specs_pass_checkov(specs: list[dict[str, Any]]) -> None:
    from llmmon.checks import checkov
    from llmmon.emit import kustomize
    from llmmon.output import write

    binary = checkov.find()
    if not binary:
        pytest.skip("checkov is not installed (`make tools` installs it in the tool cache)")
    with tempfile.TemporaryDirectory(prefix="llmmon-checkov-") as tmp:
        root, files = Path(tmp), []
        for i, spec in enumerate(specs):  # one checkov run over ten specs' manifests: it costs seconds a run
            spec["metadata"]["name"] = f"s{i}-{spec['metadata']['name']}"[:63].rstrip("-")
            path = root / f"s{i}.yaml"
            path.write_text(specgen.dump(spec), encoding="utf-8")
            plan, diagnostics = load(path, path.name)
            assert plan is not None, "\n".join(d.render() for d in diagnostics)
            bundle = build(plan)
            write(root / "out" / str(i), plan.name, bundle.files, durable=False)
            files += [f"{i}/{kustomize.FOLDER}{rel}" for rel in kustomize.resources(bundle.files)]
        report, error = checkov.run(binary, root / "out", files)
    assert error is None
    assert checkov.findings(report) == []
    assert report["passed_checks"]


@settings(max_examples=specgen.EXAMPLES["checkov"], phases=specgen.PHASES)
@given(specs=st.lists(specgen.valid_specs(max_models=3), min_size=10, max_size=10))
def test_the_elasticsearch_documents_of_random_specs_pass_tsc(specs: list[dict[str, Any]]) -> None:
    from llmmon.checks import estypes
    from llmmon.checks.telemetry import ILM_POLICY, INDEX_TEMPLATE

    folder = estypes.find()
    if folder is None:
        pytest.skip("the Elasticsearch request types are not installed (`make tools` installs them)")
    distinct: dict[str, dict[str, tuple[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="llmmon-estypes-") as tmp:
        for i, spec in enumerate(specs):
            path = Path(tmp) / f"s{i}.yaml"
            path.write_text(specgen.dump(spec), encoding="utf-8")
            plan, diagnostics = load(path, path.name)
            assert plan is not None, "\n".join(d.render() for d in diagnostics)
            files = build(plan).files
            if ILM_POLICY not in files:  # a spec without logging writes no Elasticsearch documents
                continue
            policy, template = json.loads(files[ILM_POLICY]), json.loads(files[INDEX_TEMPLATE])
            bodies = {"ilm-policy": (policy["policy"]["_meta"]["request"].rsplit("/", 1)[1], policy),
                      "index-template": (template["_meta"]["request"].rsplit("/", 1)[1], template)}
            distinct[json.dumps(bodies, sort_keys=True)] = bodies  # one tsc run per distinct pair of documents
    assume(distinct)
    for bodies in distinct.values():
        assert estypes.check(folder, bodies) == []


# --- broken specs: exit 2 with diagnostics, or exit 0 with output that checks --------------------------------


def _bases() -> st.SearchStrategy[dict[str, Any]]:
    committed = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in SPECS]
    return st.one_of(st.sampled_from(committed), specgen.valid_specs(max_models=4))


def _run_cli(path: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["generate", str(path), "-o", str(out)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{type(result.exception).__name__}: {result.exception}")
    assert "Traceback" not in result.stderr + result.stdout
    return result.exit_code, result.stderr


def _assert_refused_cleanly(code: int, stderr: str, out: Path) -> None:
    assert code == ExitCode.USAGE, stderr
    lines = stderr.splitlines()
    assert lines, "a refused spec must say why"
    assert [line for line in lines if not (DIAGNOSTIC.match(line) or SUMMARY.match(line))] == []
    assert any(": warning: " not in line for line in lines if DIAGNOSTIC.match(line))
    assert not out.exists(), "nothing may be written for a refused spec"


def _assert_output_checks(out: Path, name: str) -> None:
    """Cheap checks of everything generated: the manifest lists it, it parses, it carries the header, and
    promtool accepts the rules (the full checkers run on valid specs above)."""
    listed = json.loads((out / manifest_name(name)).read_text(encoding="utf-8"))["files"]
    assert listed
    for rel in listed:
        assert atomic.safe(rel) and (out / rel).resolve().is_relative_to(out.resolve()), rel
        text = (out / rel).read_text(encoding="utf-8")
        assert "llmmon" in text.split("\n", 3)[0] + text[:600], f"{rel}: no generated-by header"
        if rel.endswith((".yaml", ".yml")):
            list(yaml.safe_load_all(text))
        elif rel.endswith(".json"):
            json.loads(text)
    rules = [rel for rel in listed if rel.startswith("prometheus/rules/")]
    assert rules
    done = promtool("check", "rules", "--lint=duplicate-rules", "--lint-fatal", *(str(out / r) for r in rules))
    assert done.returncode == 0, done.stdout + done.stderr


def _assert_checked_or_refused(text: str) -> None:
    """`llmmon generate` on the text: exit 0 with output that passes the checks, or a clean refusal."""
    with _written(text) as path:
        out = path.parent / "out"
        code, stderr = _run_cli(path, out)
        if code == ExitCode.OK:
            plan, _ = load(path, "spec.yaml")
            assert plan is not None
            _assert_output_checks(out, plan.name)
        else:
            _assert_refused_cleanly(code, stderr, out)


@settings(max_examples=specgen.EXAMPLES["mutation"])
@given(data=st.data())
def test_a_mutated_spec_is_refused_with_diagnostics_or_generates_checked_output(data: st.DataObject) -> None:
    base = data.draw(_bases(), label="base")
    spec = data.draw(specmutate.mutated(copy.deepcopy(base)), label="mutated")
    _assert_checked_or_refused(specgen.dump(spec))


@settings(max_examples=specgen.EXAMPLES["mangled"])
@given(data=st.data())
def test_mangled_yaml_text_is_refused_with_diagnostics_or_generates_checked_output(data: st.DataObject) -> None:
    base = data.draw(_bases(), label="base")
    text = data.draw(specmutate.mangled(specgen.dump(base)), label="text")
    _assert_checked_or_refused(text)


@pytest.mark.parametrize("stack", STACKS)
@settings(max_examples=-(-specgen.EXAMPLES["accepted"] // len(STACKS)), phases=specgen.PHASES,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much])
@given(data=st.data())
def test_a_mutated_spec_that_is_accepted_passes_every_checker(stack: str, data: st.DataObject,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Exit 0 is a promise: mutants llmmon accepts are run through `llmmon validate`'s checkers in full."""
    _no_checkov(monkeypatch)
    _on_stack(stack, monkeypatch)
    base = data.draw(specgen.valid_specs(max_models=4), label="base")
    with _written(specgen.dump(data.draw(specmutate.mutated(base), label="mutated"))) as path:
        plan, diagnostics = load(path, "spec.yaml")
        assert plan is not None or any(d.severity is Severity.ERROR for d in diagnostics)
        assume(plan is not None)  # refusals are the other properties' business; only accepted mutants count here
        assert plan is not None
        bundle = build(plan)
        result = validate.run(bundle, plan)
    assert result.ok, "\n".join(result.findings)
