"""The generated collector configs in a real OpenTelemetry Collector: `validate --config` of a collector built
(`make tools`, llmmon.toolchain) from exactly the components llmmon configures, at one release (tests/versions.py).

`validate` loads the config the way the collector starts: every component must be compiled in, every key must be
one the component knows, every value must pass the component's own checks. llmmon's checker (llmmon/checks/otel.py)
must reject what the collector rejects (it is stricter than the collector where the collector lets a mistake
through: two tail-sampling policies of one name, say).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import versions
import yaml
from specvariants import files_with

from helpers import ROOT, generate, plan_of
from llmmon import yamlpos
from llmmon.checks import otel

SPECS = [p for p in [*sorted((ROOT / "specs").glob("*.yaml")), *sorted((ROOT / "tests" / "specs").glob("*.yaml"))]
         if "tracing" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})]
GOLDEN = ROOT / "out" / "otel" / "collector.yaml"


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    """The real collector's `validate --config`."""
    return subprocess.run([versions.otelcol(), "validate", f"--config={config}"], capture_output=True, text=True,
                          timeout=60, check=False, stdin=subprocess.DEVNULL)


def _latency(model: int, threshold: str) -> Any:
    def change(d: dict[str, Any]) -> None:
        d["models"][model]["slo"] = {"latency": {"threshold": threshold, "target": 99}}
    return change


def _no_latency_objective(d: dict[str, Any]) -> None:
    del d["defaults"]["slo"]["latency"]
    d["defaults"]["alerts"]["latency_p99"]["threshold"] = "5s"


def _outside(d: dict[str, Any]) -> None:
    d["tracing"]["otlp_endpoint"] = "otlp.tracing.example.com:443"
    d.pop("cluster")


def _hostile(d: dict[str, Any]) -> None:
    d["models"][1]["served_name"] = "${env:AWS_SECRET_ACCESS_KEY}\" x: {"
    d["models"][1]["slo"] = {"latency": {"threshold": "5s", "target": 99}}
    d["tracing"]["sampling"] = "0.5%"


VARIANTS = {"several-thresholds": _latency(0, "30s"), "alert-threshold": _no_latency_objective,
            "tls-without-cluster": _outside, "hostile-served-name": _hostile}


def test_the_spec_library_has_a_collector_config() -> None:
    assert [p.name for p in SPECS] == ["example.yaml"]


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_the_collector_accepts_the_config_of_every_spec(tmp_path: Path, spec: Path) -> None:
    generate(plan_of(spec), tmp_path / "out")
    done = validate(tmp_path / "out" / "otel" / "collector.yaml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_collector_accepts_the_golden_config_and_its_configmap_copy(tmp_path: Path) -> None:
    assert validate(GOLDEN).returncode == 0
    text = (ROOT / "out/kubernetes/llm-platform-otel-collector.yaml").read_text(encoding="utf-8")
    documents = yaml.safe_load_all(text)
    [manifest] = [d for d in documents if d["kind"] == "ConfigMap"]
    copy = tmp_path / "from-configmap.yaml"
    copy.write_text(manifest["data"]["collector.yaml"], encoding="utf-8")
    done = validate(copy)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_collector_accepts_every_shape_of_config_llmmon_writes(tmp_path: Path, variant: str) -> None:
    path = tmp_path / "collector.yaml"
    path.write_text(files_with(tmp_path, VARIANTS[variant])["otel/collector.yaml"], encoding="utf-8")
    done = validate(path)
    assert done.returncode == 0, done.stdout + done.stderr


RAW = GOLDEN.read_text(encoding="utf-8")
BROKEN = [  # (replace, with, what the collector says)
    ("  health_check:\n", "  healthcheck:\n", "healthcheck"),
    ("threshold_ms: 2000", "treshold_ms: 2000", "treshold_ms"),
    ("    check_interval: 1s\n", "    check_interval: 1 second\n", "check_interval"),
    ("    traces:\n", "    spans:\n", "spans"),
    ("        - batch\n", "        - batcher\n", "batcher"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=[b[1].strip(" :\n-") for b in BROKEN])
def test_the_collector_rejects_a_broken_config_and_so_does_llmmons_checker(
        tmp_path: Path, old: str, new: str, message: str) -> None:
    assert RAW.count(old) >= 1
    text = RAW.replace(old, new, 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    done = validate(path)
    assert done.returncode != 0, done.stdout + done.stderr
    assert message in done.stdout + done.stderr
    doc, problems = yamlpos.load(text.encode())
    assert problems or otel.check(doc), f"llmmon's checker accepts what the collector rejects: {new.strip()}"
