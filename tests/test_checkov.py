"""checkov, run for real: the manifests pass with only the documented exceptions, and anything new fails."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_helpers import checkov, variant

from helpers import EXAMPLE, ROOT, generate, plan_of
from llmmon.checks import checkov as scanner
from llmmon.emit.fluentd_kube import EXCEPTIONS as FLUENTD_EXCEPTIONS
from llmmon.emit.gpu_exporter import EXCEPTIONS
from llmmon.emit.kustomize import FOLDER, resources
from llmmon.generate import Bundle
from llmmon.model import Plan

EXPORTER = "kubernetes/llm-platform-gpu-exporter.yaml"
FLUENTD = "kubernetes/llm-platform-fluentd.yaml"


@pytest.fixture
def with_checkov(monkeypatch: pytest.MonkeyPatch) -> str:
    """The real checkov, run every time: not a scan another test of the session passed before (checks/passes.py,
    tested in test_checker_passes.py)."""
    binary = checkov()
    monkeypatch.setenv("LLMMON_CHECKOV", binary)
    monkeypatch.setenv("LLMMON_CACHE", "off")
    return binary


def _scan(tmp_path: Path, plan: Plan, edit: Callable[[list[dict[str, Any]]], None] | None = None,
          ) -> tuple[dict[str, Any], Bundle, Path]:
    out = tmp_path / "out"
    bundle = generate(plan, out)
    if edit:
        docs = [d for d in yaml.safe_load_all((out / EXPORTER).read_text(encoding="utf-8")) if d]
        edit(docs)
        (out / EXPORTER).write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    report, error = scanner.run(checkov(), out / FOLDER, resources(list(bundle.files)))
    assert error is None, error
    return report, bundle, out


def _skipped(report: dict[str, Any], file: str = EXPORTER) -> dict[str, str]:
    return {c["check_id"]: c["check_result"]["suppress_comment"] for c in report["skipped_checks"]
            if c["file_path"].lstrip("/") == file.removeprefix(FOLDER)}


def _daemonset(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "DaemonSet")


def test_the_example_passes_checkov_with_only_the_documented_exceptions(tmp_path: Path, with_checkov: str) -> None:
    report, bundle, out = _scan(tmp_path, plan_of(EXAMPLE))
    assert scanner.findings(report) == []
    assert report["failed_checks"] == []
    assert _skipped(report) == {k: EXCEPTIONS[k] for k in ("CKV_K8S_23", "CKV_K8S_40", "CKV_K8S_43")}
    assert _skipped(report, FLUENTD) == FLUENTD_EXCEPTIONS
    assert len(report["passed_checks"]) > 50
    scanned = {c["file_path"].lstrip("/") for c in report["passed_checks"]}
    assert "llm-platform-gpu-exporter.yaml" in scanned
    result = scanner.check(out, bundle, plan_of(EXAMPLE))
    assert result.findings == []
    assert result.passed[0].endswith(
        "none failed; 9 documented exceptions (CKV_K8S_23, CKV_K8S_35, CKV_K8S_38, CKV_K8S_40, CKV_K8S_43)")


def test_profiling_adds_only_the_sys_admin_exception_and_nvml_needs_none_but_the_digest(
        tmp_path: Path, with_checkov: str) -> None:
    profiled, _, _ = _scan(tmp_path / "dcgm", variant(tmp_path, lambda d: d["gpu_exporter"].update(profiling=True)))
    assert set(_skipped(profiled)) == {"CKV_K8S_23", "CKV_K8S_25", "CKV_K8S_39", "CKV_K8S_40", "CKV_K8S_43"}
    assert profiled["failed_checks"] == []
    nvml, _, _ = _scan(tmp_path / "nvml", variant(tmp_path, lambda d: d["gpu_exporter"].update(kind="nvml")))
    assert set(_skipped(nvml)) == {"CKV_K8S_43"}
    assert nvml["failed_checks"] == []


def test_a_new_weakness_in_the_exporter_fails_the_scan(tmp_path: Path, with_checkov: str) -> None:
    def edit(docs: list[dict[str, Any]]) -> None:
        pod = _daemonset(docs)["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        del pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"]

    report, _, _ = _scan(tmp_path, plan_of(EXAMPLE), edit)
    findings = scanner.findings(report)
    failed = {c["check_id"] for c in report["failed_checks"]}
    assert {"CKV_K8S_19", "CKV_K8S_22"} <= failed
    assert any(f.startswith(f"{EXPORTER}: DaemonSet gpu-monitoring/llm-platform-dcgm-exporter: checkov CKV_K8S_19 "
                            "failed: ") for f in findings), findings


def test_an_exception_without_a_reason_fails_the_scan(tmp_path: Path, with_checkov: str) -> None:
    def edit(docs: list[dict[str, Any]]) -> None:
        _daemonset(docs)["metadata"]["annotations"]["checkov.io/skip3"] = "CKV_K8S_43"

    report, _, _ = _scan(tmp_path, plan_of(EXAMPLE), edit)
    assert scanner.findings(report) == [
        f"{EXPORTER}: DaemonSet gpu-monitoring/llm-platform-dcgm-exporter: checkov CKV_K8S_43 is skipped without a "
        "reason: write `checkov.io/skip<n>: <check>=<why it is safe here>`"]


def test_without_checkov_the_scan_is_skipped_not_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMMON_CHECKOV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    plan = plan_of(EXAMPLE)
    bundle = generate(plan, tmp_path / "out")
    result = scanner.check(tmp_path / "out", bundle, plan)
    assert result.findings == [] and result.passed == []
    assert result.missing == [f"checkov is not installed: {scanner.INSTALL_HINT}"]


def test_llmmon_validate_runs_checkov_and_the_kubernetes_checks_on_the_example(with_checkov: str) -> None:
    env = {**os.environ, "LLMMON_CHECKOV": with_checkov}
    done = subprocess.run([str(ROOT / ".venv" / "bin" / "llmmon"), "validate", str(EXAMPLE)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    for line in ("kubernetes-validate --strict (Kubernetes 1.34)", "CRD models:", "kustomization: lists all",
                 "checkov: ", "none failed; 9 documented exceptions"):
        assert line in done.stdout, done.stdout
