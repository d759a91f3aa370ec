"""A fleet's global rule file on a real Thanos Ruler (when a `thanos` binary is at hand; `make tools` does not build
it: see docs/fleets.md).

A Prometheus holds the per-cluster series the global tier reads (a static page it scrapes with honor_labels, so
they keep their `cluster`): model `chat` in clusters east and west, 10 req/s each, 30% of east's failing, `code`
healthy. `thanos rule` evaluates prometheus/global/rules/<spec>.rules.yaml against that Prometheus (--query),
writing what it records back to it (stateless ruler, --remote-write.config), and must fire the fleet-wide
burn-rate page for chat only, naming east, and nothing for code.

Run: .venv/bin/python -m bench.thanos_ruler --thanos /path/to/thanos [--prometheus PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.fleet_cost import _Page
from bench.fleetserver import FleetPrometheus
from bench.promserver import flattened, free_port, stop_process
from llmmon import fleet
from llmmon.compiler import load
from llmmon.emit import fleet_rules, prometheus
from llmmon.generate import build
from llmmon.promql import SPEC_LABEL

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: fleet, namespace: monitoring}
clusters: [{name: east}, {name: west}]
defaults: {engine: openai-compatible, namespace: llm-serving, slo: {availability: 99.9, min_request_rate: 0.1}}
models: [{name: chat, gpus: {type: H100, count: 8}}, {name: code, gpus: {type: H100, count: 2}}]
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers: {pager: {pagerduty: {routing_key_file: /etc/alertmanager/secrets/llm/pagerduty}}}
costs: {currency: USD, gpu_hourly: {H100: 2.5}}
"""


def page() -> str:
    """What the clusters would have remote-written: chat fails 30% in east only."""
    lines = []
    for cluster in ("east", "west"):
        lines.append(f'{fleet_rules.HEARTBEAT}{{{SPEC_LABEL}="fleet",cluster="{cluster}"}} 1')
        for model in ("chat", "code"):
            own = f'{SPEC_LABEL}="fleet",cluster="{cluster}",model="{model}",slo="availability"'
            bad = 3 if (cluster, model) == ("east", "chat") else 0
            lines += [f"{fleet_rules.SLO_REQUESTS_5M}{{{own}}} 10", f"{fleet_rules.SLO_ERRORS_5M}{{{own}}} {bad}",
                      f'{prometheus.COST_PER_HOUR}{{{SPEC_LABEL}="fleet",cluster="{cluster}",model="{model}",'
                      'currency="USD"} 20',
                      f'{prometheus.TOKENS_1H}{{{SPEC_LABEL}="fleet",cluster="{cluster}",model="{model}"}} 1000']
    return "\n".join(lines) + "\n"


def _alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=10) as response:
        data = json.loads(response.read())["data"]
    found: list[dict[str, Any]] = data.get("alerts", data.get("Alerts")) or []  # Thanos 0.42 says `Alerts`
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thanos", required=True)
    parser.add_argument("--prometheus", default=None)
    parser.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="llmmon-thanos-") as tmp:
        folder = Path(tmp)
        (folder / "spec.yaml").write_text(SPEC, encoding="utf-8")
        plan, diagnostics = load(folder / "spec.yaml", "spec.yaml")
        assert plan is not None and fleet.of(plan.spec) is not None, diagnostics
        bundle = build(plan)
        rules = folder / "global.rules.yaml"
        rules.write_text(bundle.files[bundle.rules_file], encoding="utf-8")
        check = subprocess.run([args.thanos, "tools", "rules-check", f"--rules={rules}"], capture_output=True,
                               text=True, check=False)
        print(f"thanos tools rules-check: exit {check.returncode}: {check.stderr.strip().splitlines()[-2]}")
        server = _Page(page().encode())
        threading.Thread(target=server.serve_forever, daemon=True).start()
        prom = FleetPrometheus(folder / "prom", [], [server.address], exe=args.prometheus, scrape_interval="1s",
                               flags=["--web.enable-remote-write-receiver"],
                               extra={"scrape_configs": [{"job_name": "llm", "honor_labels": True,
                                                          "static_configs": [{"targets": [server.address]}]}]})
        http, grpc = free_port(), free_port()
        log = (folder / "thanos.log").open("wb")
        with prom:
            ruler = subprocess.Popen(
                [args.thanos, "rule", f"--data-dir={folder / 'thanos'}", f"--rule-file={flattened(rules, folder)}",
                 f"--query={prom.url}", "--eval-interval=1s", f"--http-address=127.0.0.1:{http}",
                 f"--grpc-address=127.0.0.1:{grpc}", '--label=ruler="global"',
                 # stateless ruler: what it records goes back to the store its queries read, as with a Querier that
                 # lists the ruler's Store API; the chained recording rules read each other there
                 "--remote-write.config=" + json.dumps({"remote_write": [{
                     "url": f"{prom.url}/api/v1/write", "queue_config": {"batch_send_deadline": "1s"}}]})],
                stdout=log, stderr=subprocess.STDOUT)
            try:
                deadline, firing = time.monotonic() + args.timeout, []
                while time.monotonic() < deadline:
                    try:
                        firing = [a for a in _alerts(f"http://127.0.0.1:{http}") if a["state"] == "firing"]
                    except OSError:
                        firing = []
                    if any(a["labels"]["alertname"] == "ErrorBudgetBurn" for a in firing):
                        time.sleep(5)  # a few more evaluations: nothing else may fire
                        firing = [a for a in _alerts(f"http://127.0.0.1:{http}") if a["state"] == "firing"]
                        break
                    time.sleep(1)
            finally:
                stop_process(ruler)
                server.shutdown()
        pages = sorted((a["labels"]["alertname"], a["labels"].get("model", ""), a["labels"].get("long_window", ""))
                       for a in firing)
        print("firing on Thanos Ruler:", pages)
        burn = [a for a in firing if a["labels"]["alertname"] == "ErrorBudgetBurn"]
        text = burn[0]["annotations"]["description"] if burn else ""
        print("description:", text)
        ok = bool(burn) and {a["labels"]["model"] for a in firing} == {"chat"} and "east (30%)" in text \
            and "west" not in text
        print("thanos ruler:", "ok" if ok else "FAILED\n" + (folder / "thanos.log").read_text(errors="replace")[-3000:])
        return 0 if ok and check.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
