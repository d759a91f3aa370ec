"""Fleets (spec `clusters:`): diagnostics, the split of the rules by where they run, and promtool on both tiers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers import generate, plan_from_text, promtool
from llmmon import fleet
from llmmon.compiler import load
from llmmon.emit import fleet_rules, prometheus
from llmmon.generate import build

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: fleet, namespace: monitoring, runbook_base_url: "https://runbooks.example.com/llm"}
clusters:
  - {name: eu-1}
  - {name: us-1, gpu_hourly: {H100: 3.0}}
  - {name: ap-1, namespace: llm-ap, gpu_exporter: none}
defaults:
  engine: vllm
  namespace: llm-serving
  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, min_request_rate: 0.1}
models:
  - {name: chat, served_name: org/chat-70b, gpus: {type: H100, count: 8}}
  - {name: code, engine: openai-compatible, gpus: {type: A100, count: 2}, slo: {availability: 99.5},
     clusters: [eu-1, us-1]}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/alertmanager/secrets/llm/pagerduty}}
costs: {currency: USD, gpu_hourly: {H100: 2.50, A100: 1.10}}
"""
_SELECTED = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{")  # every rule selects with {llmmon_spec=...}


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet spec generated into a folder."""
    tmp = tmp_path_factory.mktemp("fleet")
    generate(plan_from_text(tmp, SPEC), tmp / "out")
    return tmp / "out"


def _groups(path: Path) -> list[dict[str, object]]:
    groups: list[dict[str, object]] = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
    return groups


def _rules(path: Path) -> list[dict[str, str]]:
    return [r for g in _groups(path) for r in g["rules"]]  # type: ignore[attr-defined]


def _diagnostics(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    plan, diagnostics = load(path, "spec.yaml")
    assert plan is None
    return [d.render() for d in diagnostics]


def test_a_model_naming_an_undeclared_cluster_is_reported_on_its_line(tmp_path: Path) -> None:
    rendered = _diagnostics(tmp_path, SPEC.replace("clusters: [eu-1, us-1]", "clusters: [eu-1, us-2]"))
    assert "spec.yaml:15:23: models.1.clusters.1: model 'code': cluster 'us-2' is not declared in `clusters` " \
           "(did you mean 'us-1'?)" in rendered, rendered


def test_cluster_and_clusters_together_are_refused(tmp_path: Path) -> None:
    rendered = _diagnostics(tmp_path, SPEC.replace("clusters:\n", "cluster: prod\nclusters:\n", 1))
    assert any(r.startswith("spec.yaml:4:10: cluster: `cluster: prod` and `clusters:` are both set") for r in rendered)


def test_a_cluster_declared_twice_is_reported(tmp_path: Path) -> None:
    rendered = _diagnostics(tmp_path, SPEC.replace("{name: us-1,", "{name: eu-1,"))
    assert any(r.startswith("spec.yaml:6:12: clusters.1.name: cluster 'eu-1' is declared twice") for r in rendered)


def test_model_clusters_without_a_fleet_are_refused(tmp_path: Path) -> None:
    text = re.sub(r"clusters:\n(  - .*\n)+", "", SPEC)
    rendered = _diagnostics(tmp_path, text)
    assert any("models.1.clusters: model 'code': `clusters` names clusters of a fleet, and the spec declares none"
               in r for r in rendered), rendered


def test_a_spec_without_clusters_has_no_fleet_output(tmp_path: Path) -> None:
    text = re.sub(r"clusters:\n(  - .*\n)+", "", SPEC).replace(",\n     clusters: [eu-1, us-1]", "")
    plan = plan_from_text(tmp_path, text)
    assert fleet.of(plan.spec) is None
    files = build(plan).files
    assert "prometheus/rules/fleet.rules.yaml" in files and not [p for p in files if "fleet/" in p or "global" in p]


def test_each_cluster_gets_its_models_with_its_overrides_and_no_cluster_label(out: Path) -> None:
    tiers = {c: _rules(out / f"prometheus/clusters/{c}/rules/fleet.rules.yaml") for c in ("eu-1", "us-1", "ap-1")}
    for cluster, rules in tiers.items():
        assert not [r for r in rules if "cluster" in r.get("labels", {})], cluster  # from external labels
        assert not [r for r in rules if r.get("alert") == "ErrorBudgetBurn"], cluster  # the global tier pages
        assert [r for r in rules if r.get("alert") == "HighErrorRate"], cluster  # local threshold pages stay
        assert [r for r in rules if r.get("record") == fleet_rules.HEARTBEAT], cluster
    models = {c: {r["labels"]["model"] for r in rules if r.get("record") == prometheus.INFO}
              for c, rules in tiers.items()}
    assert models == {"eu-1": {"chat", "code"}, "us-1": {"chat", "code"}, "ap-1": {"chat"}}
    cost = {c: next(r["expr"] for r in rules
                    if r.get("record") == prometheus.GPU_COST and r["labels"]["model"] == "chat")
            for c, rules in tiers.items()}
    assert cost == {"eu-1": "vector(20)", "us-1": "vector(24)", "ap-1": "vector(20)"}
    namespaces = {r["labels"]["namespace"] for r in tiers["ap-1"] if r.get("record") == prometheus.INFO}
    assert namespaces == {"llm-ap"}
    assert "DCGM_FI_DEV_GPU_UTIL" not in (out / "prometheus/clusters/ap-1/rules/fleet.rules.yaml").read_text()
    assert "DCGM_FI_DEV_GPU_UTIL" in (out / "prometheus/clusters/eu-1/rules/fleet.rules.yaml").read_text()


def test_the_global_tier_reads_only_what_the_clusters_record_and_forward(out: Path) -> None:
    rules = _rules(out / "prometheus/global/rules/fleet.rules.yaml")
    recorded = {r["record"] for r in rules if "record" in r}
    assert all(name.startswith("fleet") for name in recorded)  # never a name a cluster records
    read = {name for r in rules for name in _SELECTED.findall(r["expr"])}
    queried = {name for r in rules for name in re.findall(r"\b([a-z_:]+)\{llmmon_spec=",
                                                            r.get("annotations", {}).get("description", ""))}
    assert (read | queried) - recorded - {"ALERTS"} == set(fleet_rules.FORWARDED)
    # what they read is what the clusters record
    cluster = {r["record"] for r in _rules(out / "prometheus/clusters/eu-1/rules/fleet.rules.yaml") if "record" in r}
    assert set(fleet_rules.FORWARDED) <= cluster
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert alerts == {"ErrorBudgetBurn", fleet_rules.MISSING}
    burn = next(r for r in rules if r.get("alert") == "ErrorBudgetBurn")
    assert "Clusters burning over the last 5m: {{ range" in burn["annotations"]["description"]
    missing = next(r for r in rules if r.get("alert") == fleet_rules.MISSING)
    assert [c for c in ("eu-1", "us-1", "ap-1") if f'cluster="{c}"' in missing["expr"]] == ["eu-1", "us-1", "ap-1"]


def test_the_remote_write_keeps_exactly_the_forwarded_series(tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, SPEC)
    config = fleet_rules.remote_write(plan, "eu-1", "http://central:9090/api/v1/write")
    assert config["global"] == {"external_labels": {"cluster": "eu-1"}}
    keep = config["remote_write"][0]["write_relabel_configs"][0]
    pattern = re.compile(keep["regex"])
    for name in fleet_rules.FORWARDED:
        assert pattern.fullmatch(f"{name};fleet")
    assert not pattern.fullmatch("model:llm_requests:rate5m;fleet") and not pattern.fullmatch(
        f"{fleet_rules.HEARTBEAT};other")


def test_both_tiers_pass_promtool_check_and_their_generated_tests(out: Path) -> None:
    files = sorted(out.glob("prometheus/**/rules/*.rules.yaml"))
    assert len(files) == 4
    for path in files:
        done = promtool("check", "rules", "--lint=duplicate-rules", "--lint-fatal", str(path))
        assert done.returncode == 0, done.stdout + done.stderr
    tests = sorted(out.glob("prometheus/global/tests/*.test.yaml"))
    assert [t.name for t in tests] == ["fleet-cluster-missing.test.yaml", "fleet-healthy.test.yaml",
                                       "fleet-one-cluster-burning.test.yaml"]
    tests += sorted(out.glob("prometheus/clusters/ap-1/tests/*.test.yaml"))
    done = promtool("test", "rules", *(str(t) for t in tests))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_a_global_test_that_expects_no_page_fails_when_one_cluster_burns(out: Path, tmp_path: Path) -> None:
    """The generated global tests can fail: the burning scenario with its expectations emptied does."""
    text = (out / "prometheus/global/tests/fleet-one-cluster-burning.test.yaml").read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    for check in doc["tests"][0]["promql_expr_test"]:
        if "ALERTS" in check["expr"]:
            check["exp_samples"] = []
    doc["rule_files"] = [str(out / "prometheus/global/rules/fleet.rules.yaml")]
    broken = tmp_path / "broken.test.yaml"
    broken.write_text(yaml.safe_dump(doc), encoding="utf-8")
    done = promtool("test", "rules", str(broken))
    assert done.returncode != 0 and "ErrorBudgetBurn" in done.stdout + done.stderr
