"""`llmmon validate` remembers the checkov scans and tsc checks that passed (llmmon/checks/passes.py), as it does
promtool's tests (tests/test_buildcache.py): the same inputs and the same checker are not run again, anything else
is, and a failure is never remembered. The checkers are the real ones behind wrappers that count their runs; a
wrapper's run on inputs the checker was given before in the session is answered from the session's checker cache
(tests/toolcache.py), as any test's is: what is counted is that llmmon started the checker."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import toolcache

from helpers import EXAMPLE, generate, invoke, plan_of
from llmmon.checks import checkov, estypes, passes, telemetry
from llmmon.checks import kubernetes as kubernetes_checks
from llmmon.checks.result import CheckResult

# validate with only the logs check (which runs tsc) and checkov
ONLY_THESE = ("--skip", "promtool", "--skip", "grafana", "--skip", "traces", "--skip", "alertmanager",
              "--skip", "kubernetes")
AGAIN = f"({passes.AGAIN})"


def _counting_checkov(folder: Path, calls: Path, release: str = "3.3.30") -> Path:
    """A checkov script, as pip installs one, in a virtual environment whose site-packages lists checkov
    `release`: it logs its run, then runs the real checkov."""
    real = checkov.find()
    assert real and real != "off", f"checkov is not installed: {checkov.INSTALL_HINT}"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").symlink_to(sys.executable)
    site = folder / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / f"checkov-{release}.dist-info").mkdir()
    script = folder / "bin" / "checkov"
    cache = [sys.executable, str(Path(toolcache.__file__).resolve()), real]
    script.write_text(f"#!{folder}/bin/python\nimport os, sys\nwith open({str(calls)!r}, 'a') as log:\n"
                      f"    log.write('checkov\\n')\nos.execv({cache[0]!r}, [*{cache!r}, *sys.argv[1:]])\n",
                      encoding="utf-8")
    script.chmod(0o755)
    return script


def _counting_tsc(folder: Path, calls: Path) -> Path:
    """A folder of Elasticsearch request types like `make tools` installs, whose tsc logs its run."""
    real = estypes.find()
    assert real is not None, f"@elastic/elasticsearch types are not installed: {estypes.INSTALL_HINT}"
    modules = folder / "node_modules"
    (modules / ".bin").mkdir(parents=True)
    for name in ("typescript", "@elastic", ".package-lock.json"):
        (modules / name).symlink_to(real / "node_modules" / name)
    tsc = modules / ".bin" / "tsc"
    tsc.write_text(f'#!/bin/sh\necho tsc >> {calls}\n{toolcache.command(str(estypes.tsc(real)))} "$@"\n',
                   encoding="utf-8")
    tsc.chmod(0o755)
    return folder


@pytest.fixture
def counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """checkov and tsc behind counting wrappers, a build cache of the test's own; the log of their runs."""
    calls = tmp_path / "calls"
    monkeypatch.setenv("LLMMON_CHECKOV", str(_counting_checkov(tmp_path / "venv", calls)))
    monkeypatch.setenv("LLMMON_ES_TYPES", str(_counting_tsc(tmp_path / "estypes", calls)))
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path / "cache"))
    return calls


def _validate(spec: Path, calls: Path) -> tuple[str, list[str]]:
    calls.unlink(missing_ok=True)
    result = invoke("validate", str(spec), *ONLY_THESE)
    assert result.exit_code == 0, result.stdout
    return result.stdout, sorted(calls.read_text(encoding="utf-8").split()) if calls.exists() else []


def _edited(spec: Path, folder: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text
    folder.mkdir()
    (folder / EXAMPLE.name).write_text(text.replace(old, new), encoding="utf-8")
    return folder / EXAMPLE.name


def test_checkov_and_tsc_run_again_only_for_other_inputs(counted: Path, tmp_path: Path) -> None:
    summary, ran = _validate(EXAMPLE, counted)
    assert ran == ["checkov", "tsc"] and AGAIN not in summary
    summary, ran = _validate(EXAMPLE, counted)
    assert ran == []
    lines = [line for line in summary.splitlines() if AGAIN in line]
    assert [line.split()[0] for line in lines] == ["tsc", "checkov:"], summary  # each says it was not run

    # runbook addresses are in the alerts' annotations, only in a PrometheusRule, which checkov does not scan
    runbooks = _edited(EXAMPLE, tmp_path / "runbooks", "runbooks.example.com", "runbooks.example.org")
    assert _validate(runbooks, counted)[1] == []
    # the exporter's namespace is in manifests checkov scans, not in the Elasticsearch requests
    moved = _edited(EXAMPLE, tmp_path / "namespace", "namespace: gpu-monitoring", "namespace: gpu-telemetry")
    assert _validate(moved, counted)[1] == ["checkov"]
    # a shorter retention is another ILM policy (and another Fluentd manifest)
    shorter = _edited(EXAMPLE, tmp_path / "retention", "hot: 30d", "hot: 14d")
    assert "tsc" in _validate(shorter, counted)[1]


def test_another_checker_or_llmmon_runs_them_again(counted: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    _validate(EXAMPLE, counted)
    assert _validate(EXAMPLE, counted)[1] == []
    # checkov upgraded in its virtual environment: the script is the same, the installed release is not
    site = Path(os.environ["LLMMON_CHECKOV"]).parent.parent / "lib" / "python3.11" / "site-packages"
    (site / "checkov-3.3.30.dist-info").rename(site / "checkov-3.3.31.dist-info")
    assert _validate(EXAMPLE, counted)[1] == ["checkov"]
    # settings checkov reads besides its arguments: a CKV_ variable, a ~/.checkov.yaml
    monkeypatch.setenv("CKV_SKIP_CHECK", "CKV_K8S_21")
    assert _validate(EXAMPLE, counted)[1] == ["checkov"]
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / ".checkov.yaml").write_text("compact: true\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert _validate(EXAMPLE, counted)[1] == ["checkov"]
    assert _validate(EXAMPLE, counted)[1] == []
    # another release of the Elasticsearch client's types
    types = Path(os.environ["LLMMON_ES_TYPES"]) / "node_modules"
    real = (types / "@elastic").resolve()
    (types / "@elastic").unlink()
    (types / "@elastic" / "elasticsearch").mkdir(parents=True)
    for entry in (real / "elasticsearch").iterdir():
        (types / "@elastic" / "elasticsearch" / entry.name).symlink_to(entry)
    package = json.loads((real / "elasticsearch" / "package.json").read_text(encoding="utf-8"))
    (types / "@elastic" / "elasticsearch" / "package.json").unlink()
    (types / "@elastic" / "elasticsearch" / "package.json").write_text(
        json.dumps({**package, "version": package["version"] + "-patched"}), encoding="utf-8")
    assert _validate(EXAMPLE, counted)[1] == ["tsc"]
    assert _validate(EXAMPLE, counted)[1] == []
    # `npm update` in the folder: the client's own dependencies (whose types it imports) change, it does not
    lock = types / ".package-lock.json"
    record = json.loads(lock.read_text(encoding="utf-8"))
    record["packages"]["node_modules/tslib"]["version"] += "-updated"
    lock.unlink()
    lock.write_text(json.dumps(record), encoding="utf-8")
    assert _validate(EXAMPLE, counted)[1] == ["tsc"]
    assert _validate(EXAMPLE, counted)[1] == []
    # a folder npm did not install (no record of what is in it): tsc runs every time
    lock.unlink()
    assert _validate(EXAMPLE, counted)[1] == ["tsc"]
    assert _validate(EXAMPLE, counted)[1] == ["tsc"]
    lock.write_text(json.dumps(record), encoding="utf-8")
    # llmmon reads what both print: another llmmon runs them again
    monkeypatch.setattr(passes.buildcache, "code_digest", lambda *packages: "another llmmon")
    assert _validate(EXAMPLE, counted)[1] == ["checkov", "tsc"]
    monkeypatch.setenv("LLMMON_CACHE", "off")
    assert _validate(EXAMPLE, counted)[1] == ["checkov", "tsc"]
    assert _validate(EXAMPLE, counted)[1] == ["checkov", "tsc"]


def test_a_failed_scan_or_type_check_is_never_remembered(counted: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    plan = plan_of(EXAMPLE)
    bundle = generate(plan, out)
    manifest = out / "kubernetes" / f"{plan.name}-gpu-exporter.yaml"  # its exceptions undocumented: checks fail
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("checkov.io/skip", "unrelated.io/skip"),
                        encoding="utf-8")
    # a tsc that finds an error in what the real one passes
    tsc = Path(os.environ["LLMMON_ES_TYPES"]) / "node_modules" / ".bin" / "tsc"
    tsc.write_text(f"#!/bin/sh\necho tsc >> {counted}\necho 'ilm-policy.ts(4,5): error TS2353: no such key'\n"
                   "exit 2\n", encoding="utf-8")
    for _ in range(2):
        counted.unlink(missing_ok=True)
        scanned, logs = checkov.check(out, bundle, plan), telemetry.logs(out, bundle, plan)
        assert scanned.findings and not any("checkov" in line for line in scanned.passed)
        assert logs.findings == ["elasticsearch/ilm-policy.ts:4:5: TS2353 no such key"]
        assert sorted(counted.read_text(encoding="utf-8").split()) == ["checkov", "tsc"]
    assert not (tmp_path / "cache" / checkov.PASSED).exists()
    assert not (tmp_path / "cache" / estypes.PASSED).exists()


def test_the_parts_of_a_key_cannot_run_into_each_other(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path))
    assert passes.key("k", "checker", "ab", "c") != passes.key("k", "checker", "a", "bc")
    assert passes.key("k", "checker", b"a\0b") != passes.key("k", "checker", "a", "b")
    assert passes.key("k", "checker", "a") == passes.key("k", "checker", b"a")
    assert passes.key("k", None, "a") is None


def test_a_checkov_whose_release_cannot_be_told_is_never_remembered(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov behind something else than a Python script of a virtual environment with checkov in it (a
    container wrapper, a script whose Python has no checkov beside it): its release is unknown, so no key."""
    wrapper = tmp_path / "checkov-in-a-container"
    wrapper.write_text("#!/bin/sh\nexec docker run --rm bridgecrew/checkov \"$@\"\n", encoding="utf-8")
    assert checkov.installed(str(wrapper)) is None
    bare = tmp_path / "venv"
    (bare / "bin").mkdir(parents=True)
    (bare / "lib" / "python3.11" / "site-packages" / "pyyaml-6.0.dist-info").mkdir(parents=True)
    script = bare / "bin" / "checkov"
    script.write_text(f"#!{bare}/bin/python\n", encoding="utf-8")
    assert checkov.installed(str(script)) is None
    (bare / "lib" / "python3.11" / "site-packages" / "checkov-3.3.30.dist-info").mkdir()
    for name in [n for n in os.environ if n.startswith(("CKV_", "BC_"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.checkov.yaml
    assert checkov.installed(str(script)) == "checkov-3.3.30.dist-info\npyyaml-6.0.dist-info"
    assert passes.key("k", passes.identity(wrapper, also=checkov.installed(str(wrapper))), "a") is None


# --- llmmon's own checks of the dashboards and the Kubernetes objects -------------------------------------------

ONLY_OWN = ("--skip", "promtool", "--skip", "logs", "--skip", "traces", "--skip", "alertmanager", "--skip", "checkov")


@pytest.fixture
def own_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The grafana and kubernetes checks behind wrappers that log their runs (the real checks run), a build
    cache of the test's own; the log."""
    from llmmon.checks import grafana, kubernetes

    ran: list[str] = []
    for module in (grafana, kubernetes):
        def logged(root: Path, bundle: object, plan: object, _real: object = module.check,
                   _name: str = module.__name__.rsplit(".", 1)[1]) -> object:
            ran.append(_name)
            return _real(root, bundle, plan)  # type: ignore[operator]
        monkeypatch.setattr(module, "check", logged)
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path / "cache"))
    return ran


def _own(spec: Path, ran: list[str]) -> tuple[str, list[str]]:
    ran.clear()
    result = invoke("validate", str(spec), *ONLY_OWN)
    assert result.exit_code == 0, result.stdout
    return result.stdout, sorted(ran)


def test_the_dashboard_and_kubernetes_checks_run_again_only_for_other_output(own_checks: list[str],
                                                                           tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first, ran = _own(EXAMPLE, own_checks)
    assert ran == ["grafana", "kubernetes"] and AGAIN not in first
    again, ran = _own(EXAMPLE, own_checks)
    assert ran == []
    lines = [line.strip() for line in first.splitlines() if line.startswith("  ")][:-1]  # not "valid (... s)"
    repeated = [line.strip() for line in again.splitlines() if line.startswith("  ")][:-1]
    assert len(lines) > 9 and repeated == [line if line.startswith("skipped:") else f"{line} ({passes.AGAIN})"
                                           for line in lines]  # every line of both, each saying it was not run
    # another runbook address: the PrometheusRule (a Kubernetes object) changes, and so does every key
    edited = _edited(EXAMPLE, tmp_path / "runbooks", "runbooks.example.com", "runbooks.example.org")
    assert _own(edited, own_checks)[1] == ["grafana", "kubernetes"]
    assert _own(edited, own_checks)[1] == []
    # another kubectl (the same one behind a wrapper at another path): only the Kubernetes check runs again
    real = kubernetes_checks.kubectl()
    assert real, "kubectl is not installed (make tools)"
    wrapper = tmp_path / "kubectl"
    wrapper.write_text(f'#!/bin/sh\nexec {real} "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    monkeypatch.setenv("LLMMON_KUBECTL", str(wrapper))
    assert _own(EXAMPLE, own_checks)[1] == ["kubernetes"]
    # no cache: both every time
    monkeypatch.setenv("LLMMON_CACHE", "off")
    assert _own(EXAMPLE, own_checks)[1] == _own(EXAMPLE, own_checks)[1] == ["grafana", "kubernetes"]


def test_a_finding_of_llmmons_own_checks_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmmon.checks import grafana

    runs: list[int] = []

    def found(root: Path, bundle: object, plan: object) -> CheckResult:
        runs.append(1)
        return CheckResult(findings=["grafana/llm-platform-sre.json: a planted finding"], passed=["grafana: ok"])

    monkeypatch.setattr(grafana, "check", found)
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path / "cache"))
    for _ in range(2):
        result = invoke("validate", str(EXAMPLE), *ONLY_OWN, "--skip", "kubernetes")
        assert result.exit_code == 1 and "a planted finding" in result.stdout + result.stderr
    assert len(runs) == 2
    assert not (tmp_path / "cache" / "grafana-passed").exists()


def test_a_changed_schema_or_crd_model_is_another_key(tmp_path: Path) -> None:
    (tmp_path / "crd_schemas").mkdir()
    (tmp_path / "code.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "crd_schemas" / "a.json").write_text("{}", encoding="utf-8")
    before = passes.data_digest(tmp_path)
    (tmp_path / "code.py").write_text("x = 2\n", encoding="utf-8")  # code is code_digest's
    assert passes.data_digest.__wrapped__(tmp_path) == before
    (tmp_path / "crd_schemas" / "a.json").write_text('{"type": "object"}', encoding="utf-8")
    assert passes.data_digest.__wrapped__(tmp_path) != before
