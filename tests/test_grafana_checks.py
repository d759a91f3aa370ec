"""The dashboard checks of `llmmon validate`: Grafana's schema, PromQL that parses, no dead panels, and every
panel query answered by the real Prometheus engine (promtool) on the generated rules."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import EXAMPLE, ROOT, eval_order, generate, plan_of, promtool
from llmmon.checks import grafana as checks
from llmmon.checks import grafana_queries, registry
from llmmon.generate import Bundle, build
from llmmon.model import Plan

SRE = "grafana/llm-platform-sre.json"
SPECS = sorted({*(ROOT / "specs").glob("*.yaml"), *(ROOT / "tests/specs").glob("*.yaml")})


def _generated(tmp_path: Path, spec: Path = EXAMPLE) -> tuple[Plan, Bundle, Path]:
    plan = plan_of(spec)
    out = tmp_path / "out"
    return plan, generate(plan, out), out


def _findings_after(tmp_path: Path, change: Callable[[dict[str, Any]], None], rel: str = SRE) -> list[str]:
    """Generate the example, change one dashboard on disk, and run the check on it."""
    plan, bundle, out = _generated(tmp_path)
    data = json.loads((out / rel).read_text())
    change(data)
    (out / rel).write_text(json.dumps(data, indent=2))
    drift = f"its data is not exactly {rel}"  # the ConfigMap still holds the dashboard as generated
    return [f for f in checks.check(out, bundle, plan).findings if not f.endswith(drift)]


def _panel(data: dict[str, Any], title: str, kind: str = "timeseries") -> dict[str, Any]:
    return next(p for p in data["panels"] if p.get("title") == title and p["type"] == kind)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_generated_dashboard_passes_the_schema_promql_and_dead_panel_checks(tmp_path: Path, spec: Path) -> None:
    plan, bundle, out = _generated(tmp_path, spec)
    result = checks.check(out, bundle, plan)
    assert result.findings == []
    assert len(result.passed) == 3 and result.skipped == []


def test_the_golden_dashboards_pass_the_checks_and_validate_runs_them() -> None:
    plan = plan_of(EXAMPLE)
    bundle = build(plan)
    result = checks.check(ROOT / "out", bundle, plan)
    assert result.findings == []
    assert result.passed[0].startswith("grafana: 3 dashboards (58 panels) valid against the types of @grafana/schema")
    assert checks.check in registry.checks()


@pytest.mark.parametrize("release", ["10.4.19", "12.4.11"])
def test_the_golden_dashboards_also_match_the_types_of_older_grafana_releases(release: str) -> None:
    # Grafana 10.4 is the oldest release that reads schemaVersion 39 without migrating it.
    bundled = json.loads((ROOT / f"tests/fixtures/grafana/grafana-schema-{release}.json").read_text())
    assert bundled["source"]["package"] == f"@grafana/schema@{release}"
    for path in sorted((ROOT / "out/grafana").glob("*.json")):
        assert checks.schema_findings(path.name, json.loads(path.read_text()), bundled) == []


def test_a_string_data_source_is_a_schema_violation(tmp_path: Path) -> None:
    findings = _findings_after(tmp_path, lambda d: _panel(d, "Error ratio").update(datasource="Prometheus"))
    assert any("dashboard.panels.15.datasource: 'Prometheus' is not of type 'object'" in f for f in findings), findings


def test_a_variable_without_current_text_is_a_schema_violation(tmp_path: Path) -> None:
    findings = _findings_after(tmp_path, lambda d: d["templating"]["list"][2]["current"].pop("text"))
    assert findings == [f"{SRE}: dashboard.templating.list.2.current: 'text' is a required property"]


def test_a_legacy_graph_panel_and_an_unknown_option_are_caught(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        _panel(data, "Error ratio")["type"] = "graph"
        _panel(data, "Requests per second")["options"]["legend"]["placement"] = "left"
        _panel(data, "Firing alerts", "table")["options"]["showHeaders"] = True

    findings = _findings_after(tmp_path, change)
    assert f"{SRE}: panel 'Error ratio' (id 16): legacy panel type 'graph'; use 'timeseries'" in findings
    assert any("'Requests per second' (id 15): options.legend.placement: 'left' is not one of" in f
               for f in findings)
    assert any("'Firing alerts' (id 19): options: Additional properties are not allowed ('showHeaders'" in f
               for f in findings)


def test_a_bad_field_override_is_caught(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        props = _panel(data, "SLO status", "table")["fieldConfig"]["overrides"][0]["properties"]
        props.append({"id": "custom.cellOptions", "value": {"type": "sparkles"}})
        props.append({"id": "thresholds", "value": {"mode": "absolute", "steps": [{"colour": "red"}]}})

    findings = _findings_after(tmp_path, change)
    where = f"{SRE}: panel 'SLO status' (id 7): fieldConfig.overrides.0"
    assert findings[0].startswith(f"{where}.custom.cellOptions.type: 'sparkles' is not one of 'auto', ")
    assert findings[1:] == [f"{where}.thresholds.steps.0: Additional properties are not allowed ('colour' was "
                            "unexpected)", f"{where}.thresholds.steps.0: 'color' is a required property",
                            f"{where}.thresholds.steps.0: 'value' is a required property"]


def test_an_override_that_matches_no_series_is_caught(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        # Grafana anchors a pattern without slashes: " objective$" would match only the name " objective".
        _panel(data, "Availability over 30d vs objective")["fieldConfig"]["overrides"][0]["matcher"]["options"] = \
            " objective$"
        _panel(data, "SLO status", "table")["fieldConfig"]["overrides"][0]["matcher"]["options"] = "Budget left"

    findings = _findings_after(tmp_path, change)
    assert findings == [
        f"{SRE}: panel 'SLO status' (id 7): fieldConfig.overrides.0: byName 'Budget left' matches none of the "
        "panel's series or columns (Burn rate 1h, Burn rate 6h, Error budget left, Good over 30d, Objective, model, "
        "...)",
        f"{SRE}: panel 'Availability over 30d vs objective' (id 11): fieldConfig.overrides.0: byRegexp ' objective$' "
        "matches none of the panel's series or columns (llama-3-70b, llama-3-70b objective, qwen2-7b, qwen2-7b "
        "objective)"]


def test_a_query_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        _panel(data, "Error ratio")["targets"][0]["expr"] = "max by (model) (model:llm_request_errors:ratio_rate5m"

    findings = _findings_after(tmp_path, change)
    assert len(findings) == 1
    assert findings[0].startswith(f"{SRE}: panel 'Error ratio' (id 16) query A: PromQL does not parse: ")


def test_an_unknown_metric_is_a_dead_panel(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        target = _panel(data, "Requests per second")["targets"][0]
        target["expr"] = target["expr"].replace("model:llm_requests:rate5m", "model:llm_request:rate5m")

    findings = _findings_after(tmp_path, change)
    assert findings == [f"{SRE}: panel 'Requests per second' (id 15) query A: metric 'model:llm_request:rate5m' is "
                        "neither recorded by the generated rules nor exported by the engines (openai-compatible, "
                        "vllm) or the GPU exporter (dcgm): the panel would stay empty"]


def test_a_label_value_no_rule_produces_is_a_dead_panel(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        target = _panel(data, "Error ratio")["targets"][0]
        target["expr"] = target["expr"].replace('llmmon_spec="llm-platform"', 'llmmon_spec="llm-platfrom"')

    findings = _findings_after(tmp_path, change)
    assert findings == [f"{SRE}: panel 'Error ratio' (id 16) query A: no rule records "
                        "model:llm_request_errors:ratio_rate5m with llmmon_spec='llm-platfrom' "
                        "(rules set llmmon_spec to 'llm-platform')"]


def test_an_undefined_variable_and_an_unknown_alert_are_caught(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        _panel(data, "Error ratio")["targets"][0]["expr"] += " > $threshold"
        _panel(data, "Firing alerts", "table")["targets"][0]["expr"] = 'ALERTS{alertname="HighLatency"}'

    findings = _findings_after(tmp_path, change)
    assert f"{SRE}: panel 'Error ratio' (id 16) query A: uses undefined variable(s) $threshold" in findings
    assert (f"{SRE}: panel 'Firing alerts' (id 19) query A: reads ALERTS, but the generated rules define no such "
            "alert") in findings


def test_a_variable_query_reading_a_label_the_rules_never_set_is_caught(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["templating"]["list"][2]["query"] = 'label_values(llmmon:model_info{llmmon_spec="llm-platform"}, pod)'

    findings = _findings_after(tmp_path, change)
    assert findings == [f"{SRE}: variable 'model': label_values: the rules recording llmmon:model_info set no "
                        "label 'pod'"]


def test_a_configmap_that_drifted_from_its_dashboard_is_caught(tmp_path: Path) -> None:
    plan, bundle, out = _generated(tmp_path)
    path = out / "kubernetes/llm-platform-dashboard-finops.yaml"
    path.write_text(path.read_text().replace("grafana_dashboard: \"1\"", "grafana_dashboard: \"0\""))
    findings = checks.check(out, bundle, plan).findings
    assert findings == ['kubernetes/llm-platform-dashboard-finops.yaml: not a ConfigMap labelled '
                        'grafana_dashboard: "1"']


def test_the_derived_schema_comes_from_grafanas_own_types_with_its_script() -> None:
    bundled = checks.schemas()
    assert bundled["source"]["package"].startswith("@grafana/schema@")
    assert set(bundled["panels"]) == {"timeseries", "stat", "gauge", "table", "heatmap"}
    assert "DataSourceRef" in bundled["dashboard"]["definitions"]
    script = (ROOT / "tests/fixtures/grafana/derive_schema.sh").read_text()
    assert bundled["source"]["package"].split("@")[-1] in script


def _healthy_inputs(out: Path, plan: Plan) -> tuple[str, list[dict[str, str]]]:
    """The rule file and input series of the generated `healthy` scenario, plus GPU memory for each GPU."""
    test = yaml.safe_load((out / f"prometheus/tests/{plan.name}-healthy.test.yaml").read_text())
    series = list(test["tests"][0]["input_series"])
    for s in list(series):
        for util, memory, value in (("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "40000+0x71"),
                                    ("nvidia_smi_utilization_gpu_ratio", "nvidia_smi_memory_used_bytes",
                                     "4e10+0x71")):
            if s["series"].startswith(util + "{"):
                series.append({"series": memory + s["series"][len(util):], "values": value})
    return test["rule_files"][0], series


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_every_panel_query_returns_numbers_from_the_generated_rules_in_promtool(tmp_path: Path, spec: Path) -> None:
    plan, bundle, out = _generated(tmp_path, spec)
    rules, series = _healthy_inputs(out, plan)
    variables = {"model": ".+", "cluster": plan.cluster or "", "__range": "1h", "__range_s": "3600"}
    tests = []
    for rel in sorted(p for p in bundle.files if p.startswith("grafana/")):
        data = json.loads((out / rel).read_text())
        queries = [(f"{rel} variable {v['name']}", re.sub(r"^label_values\((.*),\s*(\w+)\)$", r"count by (\2) (\1)",
                                                           v["query"])) for v in data["templating"]["list"]
                   if v["type"] == "query"]
        queries += [(f"{rel} {p['title']} {t['refId']}", t["expr"]) for p in grafana_queries.iter_panels(data)
                    for t in p.get("targets", []) if "ALERTS{" not in t["expr"] or "vector(0)" in t["expr"]]
        for name, expr in queries:
            text, unknown = grafana_queries.expand(expr, variables)
            assert not unknown, name
            # At least one series with a finite value (NaN != NaN) per query.
            tests.append({"expr": f"count(({text}) == ({text})) > bool 0", "eval_time": "70m",
                          "exp_samples": [{"labels": "{}", "value": 1}]})
    test_file = out / "prometheus/tests/dashboards.test.yaml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules], "evaluation_interval": "1m",
                                         "group_eval_order": eval_order(test_file.parent / rules), "tests": [
        {"interval": "1m", "input_series": series, "promql_expr_test": tests}]}))
    done = promtool("test", "rules", test_file.name, cwd=test_file.parent)
    assert done.returncode == 0, (done.stdout + done.stderr)[:6000]
    assert len(tests) > 30


def test_the_firing_alerts_table_lists_the_alerts_of_an_outage_in_promtool(tmp_path: Path) -> None:
    plan, _, out = _generated(tmp_path)
    test = yaml.safe_load((out / "prometheus/tests/llm-platform-outage.test.yaml").read_text())
    scenario = test["tests"][0]
    when = scenario["promql_expr_test"][0]["eval_time"]
    table = _panel(json.loads((out / SRE).read_text()), "Firing alerts", "table")["targets"][0]["expr"]
    text, _ = grafana_queries.expand(table, {"model": ".+", "cluster": plan.cluster or ""})
    scenario["promql_expr_test"] = [{"expr": f"count({text}) > bool 0", "eval_time": when,
                                     "exp_samples": [{"labels": "{}", "value": 1}]}]
    scenario.pop("alert_rule_test", None)
    (out / "prometheus/tests/table.test.yaml").write_text(yaml.safe_dump(test))
    done = promtool("test", "rules", "table.test.yaml", cwd=out / "prometheus/tests")
    assert done.returncode == 0, done.stdout + done.stderr
