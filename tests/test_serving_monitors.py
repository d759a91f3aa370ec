"""PodMonitors of the serving pods: Prometheus must scrape exactly the pods whose series the rules query."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from k8s_helpers import objects, variant

from helpers import EXAMPLE, plan_of, promtool
from llmmon.emit.kustomize import KUSTOMIZATION
from llmmon.generate import build


def _monitors(bundle_files: dict[str, str]) -> list[dict[str, Any]]:
    return objects(bundle_files, "-serving-monitors.yaml")


def _kept(endpoint: dict[str, Any], pod: str) -> bool:
    (keep,) = [r for r in endpoint["relabelings"] if r["action"] == "keep"]
    assert keep["sourceLabels"] == ["__meta_kubernetes_pod_name"]
    return re.fullmatch(keep["regex"], pod) is not None  # Prometheus anchors relabel regexes


def test_each_serving_namespace_gets_one_pod_monitor_beside_the_rules() -> None:
    plan = plan_of(EXAMPLE)
    (monitor,) = _monitors(build(plan).files)
    assert monitor["kind"] == "PodMonitor"
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["llm-serving"]}
    assert monitor["spec"]["selector"] == {}


def test_each_model_is_scraped_on_its_engine_port_and_only_its_own_pods_are_kept() -> None:
    plan = plan_of(EXAMPLE)
    (monitor,) = _monitors(build(plan).files)
    vllm, seed = monitor["spec"]["podMetricsEndpoints"]
    assert vllm["portNumber"] == 8000 and seed["port"] == "http"  # vLLM's default port; the seed app's port name
    assert {vllm["path"], seed["path"]} == {"/metrics"}
    assert {vllm["interval"], seed["interval"]} == {"30s"}
    assert _kept(vllm, "llama-3-70b-6d4f9-abcde") and not _kept(vllm, "qwen2-7b-0")
    assert _kept(seed, "qwen2-7b-7c9d8-xyz12") and not _kept(seed, "llama-3-70b-0")
    assert not _kept(seed, "my-qwen2-7b-0")  # anchored: a prefix does not sneak in


def test_metrics_port_and_path_come_from_the_model_then_defaults(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["defaults"].update(metrics_port="metrics", metrics_path="/internal/metrics")
        data["models"][0]["metrics_port"] = 9090
        data["models"].append({"name": "mistral-7b", "namespace": "llm-batch"})
        data["costs"]["gpu_hourly"]["L4"] = 0.8

    monitors = _monitors(build(variant(tmp_path, change)).files)
    assert [m["spec"]["namespaceSelector"]["matchNames"] for m in monitors] == [["llm-batch"], ["llm-serving"]]
    batch, serving = monitors
    assert [(e.get("port"), e.get("portNumber"), e["path"]) for e in batch["spec"]["podMetricsEndpoints"]] == \
        [("metrics", None, "/internal/metrics")]
    endpoints = serving["spec"]["podMetricsEndpoints"]
    assert [(e.get("port"), e.get("portNumber")) for e in endpoints] == [(None, 9090), ("metrics", None)]


def test_models_sharing_an_endpoint_share_one_keep_rule(tmp_path: Path) -> None:
    plan = variant(tmp_path, lambda d: (d["models"][0].update(engine="openai-compatible", served_name=None),
                                          d["models"][0].pop("alerts", None)))  # itl_p99: no ITL on the seed contract
    (monitor,) = _monitors(build(plan).files)
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert _kept(endpoint, "llama-3-70b-1") and _kept(endpoint, "qwen2-7b-1")


def test_serving_monitors_can_be_turned_off_and_the_kustomization_follows(tmp_path: Path) -> None:
    bundle = build(variant(tmp_path, lambda d: d.update(kubernetes={"serving_monitors": False})))
    assert not [p for p in bundle.files if "serving-monitors" in p]
    assert "llm-platform-serving-monitors.yaml" not in yaml.safe_load(bundle.files[KUSTOMIZATION])["resources"]


def test_the_scrape_interval_of_the_serving_pods_comes_from_the_spec(tmp_path: Path) -> None:
    bundle = build(variant(tmp_path, lambda d: d.update(kubernetes={"scrape_interval": "1m"})))
    (monitor,) = _monitors(bundle.files)
    assert {e["interval"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"1m"}


def test_prometheus_accepts_the_relabel_rules_of_every_monitor(tmp_path: Path) -> None:
    """promtool check config parses the relabel regexes with Prometheus' own (RE2) engine."""
    def change(data: dict[str, Any]) -> None:
        data["models"][1]["pods"] = "qwen2-7b-(api|worker)-[a-z0-9]{5}"
        data["gpu_exporter"]["kind"] = "nvml"

    bundle = build(variant(tmp_path, change))
    jobs = []
    for path, kind in (("-serving-monitors.yaml", "podMetricsEndpoints"), ("-gpu-exporter.yaml", "endpoints")):
        for doc in objects(bundle, path):
            for index, endpoint in enumerate((doc.get("spec") or {}).get(kind, [])):
                jobs.append({
                    "job_name": f"{doc['metadata']['name']}-{index}",
                    "scrape_interval": endpoint["interval"], "metrics_path": endpoint["path"],
                    "honor_labels": endpoint.get("honorLabels", False),
                    # Debian's Prometheus has no Kubernetes discovery; the relabel rules are checked all the same
                    "static_configs": [{"targets": ["127.0.0.1:9"]}],
                    "relabel_configs": [{"action": r["action"], "source_labels": r["sourceLabels"],
                                         **({"regex": r["regex"]} if "regex" in r else {}),
                                         **({"target_label": r["targetLabel"]} if "targetLabel" in r else {})}
                                        for r in endpoint["relabelings"]],
                })
    assert len(jobs) == 3
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({"scrape_configs": jobs}), encoding="utf-8")
    done = promtool("check", "config", "--syntax-only", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
