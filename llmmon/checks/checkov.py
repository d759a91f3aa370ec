"""checkov, the security scanner, run for real on every Kubernetes manifest.

No failed check is accepted. A deliberate exception is a `checkov.io/skip<n>: <check>=<reason>` annotation on
the object it concerns (see EXCEPTIONS in emit/gpu_exporter.py); an exception without a reason is a finding
too. checkov lives in a virtual environment of its own (its pins clash with pytest's): `make tools` installs it
in the tool cache (~/.cache/llmmon-tools/checkov-<version>-py<python>), and llmmon finds it through $LLMMON_CHECKOV
or PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmmon import tools
from llmmon.checks import passes
from llmmon.checks.result import CheckResult
from llmmon.emit import kustomize
from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle

TIMEOUT_S = 600
INSTALL_HINT = ("install it in a virtual environment of its own (python3 -m venv ~/.checkov && "
                "~/.checkov/bin/pip install checkov) and set LLMMON_CHECKOV=~/.checkov/bin/checkov, or put it on PATH")
_API_VERSION = re.compile(r"^apiVersion:(.*)$", re.MULTILINE)
PASSED = "checkov-passed"  # the build cache's kind for the scans that passed
NO_REASON = "No comment provided"  # what checkov records for a skip annotation without `=reason`


def find() -> str | None:
    """The checkov to run: $LLMMON_CHECKOV ("off" turns the scan off), else the one on PATH, else None."""
    return os.environ.get("LLMMON_CHECKOV") or shutil.which("checkov")


def check(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
    """checkov on the manifests under kubernetes/: findings for failed checks and unexplained exceptions."""
    result = CheckResult()
    files = kustomize.resources(list(bundle.files))
    binary = find()
    if not files:
        return result
    if binary == "off":
        result.skipped.append("checkov scan turned off (LLMMON_CHECKOV=off)")
        return result
    if not binary:
        result.missing.append(f"checkov is not installed: {INSTALL_HINT}")
        return result
    texts = {rel: (root / kustomize.FOLDER / rel).read_text(encoding="utf-8") for rel in files}
    scanned = [rel for rel in files if not operator_only(texts[rel])]
    entry = passes.key(PASSED, passes.identity(binary, also=installed(binary)),
                       *(part for rel in scanned for part in (rel, texts[rel])))
    said = passes.recalled(PASSED, entry)
    if said is not None:
        result.passed.append(f"{said} ({passes.AGAIN})")
        return result
    report, error = run(binary, root / kustomize.FOLDER, scanned)
    if error:
        result.findings.append(f"{kustomize.FOLDER}: checkov: {error}")
        return result
    result.findings += findings(report)
    if not result.findings:
        skipped = Counter(c["check_id"] for c in report.get("skipped_checks", []))
        exceptions = f"; {sum(skipped.values())} documented exceptions ({', '.join(sorted(skipped))})" \
            if skipped else ""
        unscanned = f" ({len(files) - len(scanned)} holding only Prometheus Operator resources, which checkov " \
            "has no checks for, not scanned)" if len(scanned) < len(files) else ""
        result.passed.append(f"checkov: {len(report.get('passed_checks', []))} checks passed on {len(scanned)} "
                             f"manifests{unscanned}, none failed{exceptions}")
        passes.remember(PASSED, entry, result.passed[-1])
    return result


def installed(binary: str) -> str | None:
    """What else decides checkov's verdict besides the manifests: its release and those of its dependencies (the
    names of the .dist-info folders beside the Python its script runs; a pip upgrade renames them), the settings
    it reads from ~/.checkov.yaml or .yml and from CKV_/BC_ variables. None when the release cannot be told (not a
    script of a Python with checkov installed beside it)."""
    try:
        path = Path(shutil.which(binary) or binary)
        with path.open("rb") as handle:
            first = handle.readline(4096)
    except OSError:
        return None
    words = first[2:].decode("utf-8", "replace").split()
    if not first.startswith(b"#!") or not words:
        return None
    prefix = Path(words[0]).parent.parent  # <venv>/bin/python
    names = sorted(p.name for folder in ("site-packages", "dist-packages")
                   for p in prefix.glob(f"lib/python*/{folder}/*.dist-info"))
    if not any(name.startswith("checkov-") for name in names):
        return None
    settings = [f"{name}={value}" for name, value in sorted(os.environ.items()) if name.startswith(("CKV_", "BC_"))]
    for config in (Path.home() / ".checkov.yaml", Path.home() / ".checkov.yml"):
        with contextlib.suppress(OSError):
            settings.append(f"{config}:{config.read_text(encoding='utf-8', errors='replace')}")
    return "\n".join([*names, *settings])


def operator_only(text: str) -> bool:
    """True when every object of a manifest is a monitoring.coreos.com resource (checkov checks none of them,
    and parsing a thousand-model PrometheusRule costs it seconds)."""
    versions = _API_VERSION.findall(text)
    return bool(versions) and all(v.strip().strip("\"'").startswith("monitoring.coreos.com/") for v in versions)


def run(binary: str, folder: Path, files: list[str]) -> tuple[dict[str, Any], str | None]:
    """checkov's results for `files` (relative to `folder`) as one dict, or an error message."""
    args = [binary, "--framework", "kubernetes", "--output", "json", "--skip-download", "--skip-results-upload"]
    for rel in files:
        args += ["--file", rel]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_NO_OUTPUT_TRUNCATE": "1"}
    try:
        done = tools.run(args, timeout=TIMEOUT_S, cwd=folder, env=env)
    except OSError as exc:  # missing, not executable, not a program for this machine
        return {}, f"{binary} could not be run ({exc.strerror or exc}): {INSTALL_HINT}"
    except subprocess.TimeoutExpired:
        return {}, f"timed out after {TIMEOUT_S}s"
    if done.returncode not in (0, 1):
        return {}, f"exit code {done.returncode}: {(done.stderr or done.stdout).strip()[-2000:]}"
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return {}, f"unreadable output: {done.stdout.strip()[:500]}"
    reports = data if isinstance(data, list) else [data]
    merged: dict[str, Any] = {"passed_checks": [], "failed_checks": [], "skipped_checks": [], "parsing_errors": []}
    for report in reports:
        if not isinstance(report, dict):  # an empty scan is reported as a bare summary
            continue
        for key in merged:
            merged[key] += report.get("results", {}).get(key, [])
    return merged, None


def findings(report: dict[str, Any]) -> list[str]:
    """One line per failed check, unexplained exception or file checkov could not parse."""
    out = []
    for check in report.get("failed_checks", []):
        out.append(f"{_file(check)}: {_resource(check)}: checkov {check['check_id']} failed: {check['check_name']}"
                   + (f" ({check['guideline']})" if check.get("guideline") else ""))
    for check in report.get("skipped_checks", []):
        reason = str((check.get("check_result") or {}).get("suppress_comment") or "").strip()
        if not reason or reason == NO_REASON:
            out.append(f"{_file(check)}: {_resource(check)}: checkov {check['check_id']} is skipped without a "
                       "reason: write `checkov.io/skip<n>: <check>=<why it is safe here>`")
    for path in report.get("parsing_errors", []):
        out.append(f"{kustomize.FOLDER}{str(path).lstrip('/')}: checkov could not parse it")
    return sorted(out)


def _file(check: dict[str, Any]) -> str:
    return kustomize.FOLDER + str(check.get("file_path", "?")).lstrip("/")


def _resource(check: dict[str, Any]) -> str:
    """checkov names a resource `Kind.namespace.name` (pods of a workload: `Pod.ns.name.<labels>`)."""
    parts = str(check.get("resource", "?")).split(".", 2)
    return f"{parts[0]} {parts[1]}/{parts[2]}" if len(parts) == 3 else ".".join(parts)
