"""`llmmon validate` runs the real collector's `validate --config` on the generated collector config.

The collector is built from source with the collector builder (`make tools` where Go is installed, by
llmmon.toolchain) and named by LLMMON_OTELCOL; without one these tests are skipped, as the build needs a Go
toolchain the project cannot install everywhere.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import EXAMPLE, ROOT, generate, plan_of
from llmmon.checks import otelcol, telemetry
from llmmon.emit import otel

COLLECTOR = ROOT / "out" / "otel" / "collector.yaml"
BINARY = os.environ.get("LLMMON_OTELCOL") or next((shutil.which(c) for c in otelcol.COMMANDS if shutil.which(c)),
                                                  None)
needs_collector = pytest.mark.skipif(not BINARY or BINARY == "off" or not Path(BINARY).exists(),
                                     reason="no collector binary: LLMMON_OTELCOL is unset (the build needs Go)")


@needs_collector
def test_the_collector_accepts_the_generated_config() -> None:
    assert BINARY is not None
    assert otelcol.validate(BINARY, COLLECTOR) is None


@needs_collector
def test_the_collector_accepts_the_config_with_every_component_llmmon_may_use(tmp_path: Path) -> None:
    assert BINARY is not None
    config = yaml.safe_load(COLLECTOR.read_text(encoding="utf-8"))
    assert "resource" in config["processors"]  # the example sets `cluster`: every component is in use
    used = {kind: tuple(sorted(config[kind])) for kind in otelcol.COMPONENTS}
    assert used == {kind: tuple(sorted(names)) for kind, names in otelcol.COMPONENTS.items()}


@needs_collector
def test_the_collector_refuses_a_key_no_component_has(tmp_path: Path) -> None:
    assert BINARY is not None
    config = yaml.safe_load(COLLECTOR.read_text(encoding="utf-8"))
    config["processors"]["tail_sampling"]["num_trace"] = config["processors"]["tail_sampling"].pop("num_traces")
    broken = tmp_path / "collector.yaml"
    broken.write_text(yaml.safe_dump(config), encoding="utf-8")
    problem = otelcol.validate(BINARY, broken)
    assert problem is not None and "num_trace" in problem, problem


def test_without_a_collector_the_check_is_skipped_not_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMMON_OTELCOL", "off")
    plan = plan_of(EXAMPLE)
    bundle = generate(plan, tmp_path / "out")
    result = telemetry.traces(tmp_path / "out", bundle, plan)
    assert result.findings == []
    assert result.skipped == [f"no OpenTelemetry Collector binary: {otelcol.INSTALL_HINT}"]


def test_memory_limiter_stays_below_the_container_limit_and_gomemlimit_matches_it() -> None:
    config = yaml.safe_load(COLLECTOR.read_text(encoding="utf-8"))
    limiter = config["processors"]["memory_limiter"]
    objects = [o for o in yaml.safe_load_all((ROOT / "out/kubernetes/llm-platform-otel-collector.yaml").read_text())
               if o]
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    limit_mib = int(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert limiter["limit_mib"] < limit_mib and 0 < limiter["spike_limit_mib"] < limiter["limit_mib"]
    assert {"name": "GOMEMLIMIT", "value": f"{limiter['limit_mib']}MiB"} in container["env"]
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    probe = container["livenessProbe"]["httpGet"]
    assert probe["port"] == "health"
    assert config["extensions"]["health_check"]["endpoint"].endswith(f":{otel.PORTS['health']}")
    [monitor] = [o for o in objects if o["kind"] == "ServiceMonitor"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    reader = config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader["port"] == otel.PORTS["metrics"]
