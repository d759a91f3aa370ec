"""Benchmark: a fleet's rules per tier, and what the global tier costs a real Prometheus to evaluate.

For each size (models × clusters): the rules of one cluster's tier and of the global tier; whether a cluster's
rule file is byte-identical whatever the number of clusters (then its evaluation cost is that of a one-cluster
spec of its models: docs/benchmarks.md measures it); the series the global tier reads (per model, SLO kind and
cluster: no pod or replica label, so their number does not depend on pods). Then a central Prometheus scrapes a
static page holding exactly those per-cluster series (honor_labels keeps their `cluster`) and evaluates the
global rules, every group at each cycle (bench/promserver.flattened); we read each group's
`prometheus_rule_group_last_duration_seconds` over several cycles and report the sum of the medians, and the
same amortised over each group's own interval at a 30s evaluation.

Run: .venv/bin/python -m bench.fleet_cost [--models 100,1000] [--clusters 2,5] [--cycles 6]
The windows see only the minutes the server ran (no backfilled weeks), so window groups are measured at their
least; their inputs are per model after the first group sums the clusters, so that cost depends on models only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from bench.fleetserver import FleetPrometheus
from bench.promserver import flattened
from bench.rule_cost import _metric
from llmmon import fleet
from llmmon.compiler import load
from llmmon.emit import fleet_rules, prometheus
from llmmon.promql import SPEC_LABEL
from llmmon.yamlout import dump

EVALUATION_S = 30  # the production evaluation interval the amortised figure assumes


def spec_text(models: int, clusters: int) -> str:
    """A fleet of `models` models (two SLO kinds each) served by every one of `clusters` clusters."""
    head = ("apiVersion: llmmon/v1\nkind: MonitoringSpec\nmetadata: {name: cost, namespace: monitoring, "
            "runbook_base_url: \"https://runbooks.example.com/llm\"}\nclusters:\n")
    head += "".join(f"  - {{name: c{i}}}\n" for i in range(clusters))
    head += ("defaults:\n  engine: openai-compatible\n  namespace: llm-serving\n"
             "  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, min_request_rate: 0.1}\n"
             "alert_tiers:\n  critical: {for: 10m, receiver: pager}\n  warning: {for: 5m, receiver: pager}\n"
             "  info: {for: 30m, receiver: pager}\n"
             "receivers:\n  pager: {pagerduty: {routing_key_file: /etc/alertmanager/secrets/llm/pagerduty}}\n"
             "costs: {currency: USD, gpu_hourly: {H100: 2.5}}\nmodels:\n")
    return head + "".join(f"  - {{name: model-{i:04d}, gpus: {{type: H100, count: 8}}}}\n" for i in range(models))


def page(models: int, clusters: int) -> str:
    """The per-cluster series the global tier reads, as one scrape page (error ratio 0.1%)."""
    lines = []
    for c in range(clusters):
        lines.append(f'{fleet_rules.HEARTBEAT}{{{SPEC_LABEL}="cost",cluster="c{c}"}} 1')
        for m in range(models):
            own = f'{SPEC_LABEL}="cost",cluster="c{c}",model="model-{m:04d}"'
            for slo in ("availability", "latency"):
                lines.append(f'{fleet_rules.SLO_REQUESTS_5M}{{{own},slo="{slo}"}} 10')
                lines.append(f'{fleet_rules.SLO_ERRORS_5M}{{{own},slo="{slo}"}} 0.01')
            lines.append(f'{prometheus.COST_PER_HOUR}{{{own},currency="USD"}} 20')
            lines.append(f'{prometheus.TOKENS_1H}{{{own}}} 1000')
    return "\n".join(lines) + "\n"


class _Page(ThreadingHTTPServer):
    def __init__(self, body: bytes) -> None:
        body_ = body

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.end_headers()
                self.wfile.write(body_)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


def measure(models: int, clusters: int, cycles: int, work: Path, exe: str | None) -> dict[str, Any]:
    """Rule counts per tier and the global tier's evaluation time for one size."""
    folder = work / f"{models}x{clusters}"
    folder.mkdir(parents=True)
    spec = folder / "spec.yaml"
    spec.write_text(spec_text(models, clusters), encoding="utf-8")
    plan, diagnostics = load(spec, spec.name)
    assert plan is not None, [d.render() for d in diagnostics]
    declared = fleet.of(plan.spec)
    assert declared is not None
    # the rules alone (the promtool tests of five clusters at 1000 models take minutes to generate)
    cluster_rules, _ = fleet_rules.cluster_rules(fleet.cluster_plan(plan, declared, "c0"))
    global_rules = fleet_rules.global_rules(plan, declared)
    cluster_file = dump({"groups": cluster_rules.groups})
    global_file = folder / "global.rules.yaml"
    global_file.write_text(dump({"groups": global_rules.groups}), encoding="utf-8")
    row: dict[str, Any] = {
        "models": models, "clusters": clusters, "cluster_rules": len(cluster_rules.rules),
        "global_rules": len(global_rules.rules), "cluster_file": cluster_file,
        "global_inputs": clusters * (models * 6 + 1)}
    server = _Page(page(models, clusters).encode())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rules = flattened(global_file, folder / "rules")
        doc = yaml.safe_load(global_file.read_text(encoding="utf-8"))
        every = {g["name"]: _seconds(g.get("interval")) for g in doc["groups"]}
        prom = FleetPrometheus(folder / "central", [rules], [server.address], exe=exe, scrape_interval="5s",
                               evaluation_interval="5s", extra={"scrape_configs": [{
                                   "job_name": "llm", "honor_labels": True,
                                   "static_configs": [{"targets": [server.address]}]}]})
        with prom:
            prom.settle(rounds=2, timeout=600)
            samples: dict[str, list[float]] = {g: [] for g in every}
            written: dict[str, float] = {}
            for _ in range(cycles):
                prom.settle(rounds=1, timeout=600)
                text = prom.metrics()
                for group, value in _metric(text, "prometheus_rule_group_last_duration_seconds").items():
                    name = group.rsplit(";", 1)[-1]
                    if name in samples:
                        samples[name].append(value)
                for group, value in _metric(text, "prometheus_rule_group_last_evaluation_samples").items():
                    written[group.rsplit(";", 1)[-1]] = value
        medians = {g: statistics.median(v) for g, v in samples.items() if v}
        row["global_eval_s"] = sum(medians.values())
        row["global_eval_amortised_s"] = sum(v * EVALUATION_S / max(every[g], EVALUATION_S) for g, v in medians.items())
        row["first_group_s"] = medians.get(f"llmmon-{plan.name}-global-slo", 0.0)
        row["samples"] = sum(written.values())
    finally:
        server.shutdown()
        server.server_close()
    return row


def _seconds(interval: str | None) -> float:
    if interval is None:
        return EVALUATION_S
    from llmmon.units import Duration

    return Duration.parse(interval).ms / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="100,1000")
    parser.add_argument("--clusters", default="2,5")
    parser.add_argument("--cycles", type=int, default=6)
    parser.add_argument("--prometheus", default=None)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmmon-fleet-cost-") as tmp:
        for models in (int(m) for m in args.models.split(",")):
            for clusters in (int(c) for c in args.clusters.split(",")):
                started = time.monotonic()
                rows.append(measure(models, clusters, args.cycles, Path(tmp), args.prometheus))
                print(f"# {models} × {clusters}: {time.monotonic() - started:.0f} s", file=sys.stderr)
    print("| models × clusters | rules per cluster | cluster file same for every cluster count | global rules | "
          "global input series | samples the global rules write a cycle | global eval s/cycle (all groups) | "
          "amortised at 30s | first group (sums clusters) |")
    print("|---:|---:|:---:|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        same = all(r["cluster_file"] == row["cluster_file"] for r in rows if r["models"] == row["models"])
        print(f"| {row['models']} × {row['clusters']} | {row['cluster_rules']} | {'yes' if same else 'no'} | "
              f"{row['global_rules']} | {row['global_inputs']:,} | {row['samples']:,.0f} | "
              f"{row['global_eval_s']:.4f} | {row['global_eval_amortised_s']:.4f} | {row['first_group_s']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
