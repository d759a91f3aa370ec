"""check-metrics on /metrics pages of real engines (tests/expositions/real/), against hand-checked truth tables.

Each `<page>.txt` carries its provenance; `<page>.truth.yaml` says, per spec, every row check-metrics must
report (signal, metric, status), the exit code, and words its details must contain.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from helpers import ROOT
from llmmon.cli import app

REAL = ROOT / "tests" / "expositions" / "real"
PAGES = sorted(p.stem for p in REAL.glob("*.txt"))
SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: real, runbook_base_url: "https://runbooks.example.com"}
defaults: {namespace: serving}
alert_tiers:
  critical: {for: 5m, receiver: p}
  warning: {for: 5m, receiver: p}
  info: {for: 5m, receiver: p}
receivers: {p: {webhook: {url: "http://hook.example/alerts"}}}
gpu_exporter: {kind: none}
"""


def _cases() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for page in PAGES:
        for case in yaml.safe_load((REAL / f"{page}.truth.yaml").read_text())["cases"]:
            out.append((page, case))
    return out


def _check(tmp_path: Path, page: str, model: dict[str, Any], *extra: str) -> tuple[int, str]:
    spec = tmp_path / "spec.yaml"
    text = SPEC + "models:\n  - " + json.dumps({"name": "m", **model}) + "\n"
    spec.write_text(text)
    result = CliRunner().invoke(app, ["check-metrics", str(spec), "--metrics-file", str(REAL / f"{page}.txt"),
                                      "--format", "json", *extra])
    return result.exit_code, result.stdout


def test_every_real_page_has_provenance_and_a_truth_table() -> None:
    assert len(PAGES) >= 7
    for page in PAGES:
        head = (REAL / f"{page}.txt").read_text().splitlines()[0]
        assert head.startswith("# provenance: "), page
        assert (REAL / f"{page}.truth.yaml").is_file(), page


@pytest.mark.parametrize(("page", "case"), _cases(), ids=lambda v: v if isinstance(v, str) else v["name"][:40])
def test_check_metrics_says_what_the_truth_table_says(tmp_path: Path, page: str, case: dict[str, Any]) -> None:
    code, out = _check(tmp_path, page, case["model"])
    document = json.loads(out)
    got = [[r["signal"], r["metric"], r["status"]] for r in document["rows"]]
    assert got == case["rows"], "\n".join(map(str, got))
    assert code == case["exit"] == document["exit_code"]
    assert document["valid"] is (code == 0)
    for signal, words in (case.get("details") or {}).items():
        details = [r["detail"] for r in document["rows"] if r["signal"] == signal]
        assert any(words in d for d in details), (signal, details)
