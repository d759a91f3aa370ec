"""Routing end to end: the generated rules on a real Prometheus send their alerts to a real Alertmanager running the
generated (standalone) config, whose webhook receivers post to a sink in this process.

Three models are scraped live from the reference exporter: `chat` is in a total outage (its availability page and
HighErrorRate fire), `embed` is slightly slow (HighInferenceLatency, a warning, no page) and `summarize` leaves its
GPUs idle (LowGPUUtilization, info). The rest of a kube-prometheus-stack cluster is posted to the Alertmanager's
API as its Prometheus would: the always-firing Watchdog and other teams' critical alerts. The pager must get
exactly one notification (the availability page, with model, summary, runbook and dashboard links), chat the
warning, the ticket queue the info; HighErrorRate is inhibited by the page; the foreign alerts reach none of the
spec's receivers.

The binaries come from bench.promserver.binaries() and bench.amserver.binaries() ($LLMMON_PROMETHEUS and
$LLMMON_ALERTMANAGER may each list several, separated by the path separator): the test runs once per pair,
the pairs' incidents side by side.
Only `group_wait` is shortened in the copy of the config the Alertmanager loads (1s instead of 10s-1m); routes,
receivers, inhibit rules, group_interval and repeat_interval are the generated ones.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import amserver, promserver
from bench.exporter import Exporter
from bench.promserver import Prometheus, backfill, flattened
from bench.render import openmetrics
from bench.traffic import Behaviour, Target, Timeline, series
from helpers import generate, plan_from_text
from llmmon.model import Plan

pytestmark = pytest.mark.waits(110)  # every version pair's incident, side by side, on real `for:` durations

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata:
  name: live
  namespace: monitoring
  runbook_base_url: https://runbooks.example.com/llm
  grafana_url: https://grafana.example.com
cluster: live-1
defaults:
  engine: openai-compatible
  namespace: llm-serving
  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, min_request_rate: 0.1}
  alerts:
    latency_p99: {threshold: 2s, tier: warning, for: 0s}
    error_rate: {threshold: 1%, tier: critical, for: 90s}  # after the page (even a resent one), as 10m: inhibited
    gpu_utilization_low: {threshold: 30%, tier: info, for: 0s}
    ttft_p95: {enabled: false}
    metrics_absent: {enabled: false}
models:
  - {name: chat, gpus: {type: H100, count: 2}}
  - {name: embed, gpus: {type: H100, count: 2}}
  - {name: summarize, gpus: {type: H100, count: 2}}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: chat}
  info: {for: 30m, receiver: ticket}
receivers:
  pager: {webhook: {url: "SINK/pager"}}
  chat: {webhook: {url: "SINK/chat"}}
  ticket: {webhook: {url: "SINK/ticket"}}
alertmanager: {mode: standalone}
costs: {gpu_hourly: {H100: 2.50}}
"""
HEALTHY = Behaviour(rps=10, error_ratio=0.0, latency_p50=0.4, latency_p99=1.2, gpu_percent=70)
NOW = {"chat": replace(HEALTHY, error_ratio=1.0),
       "embed": replace(HEALTHY, latency_p50=0.8, latency_p99=2.4),  # p99 over 2s, ~2% slow: a warning, no page
       "summarize": replace(HEALTHY, gpu_percent=10)}
# The rest of a kube-prometheus-stack cluster, posted to the Alertmanager as its Prometheus would: the always-firing
# Watchdog and another team's alerts, one of them with an alert name and model the spec also uses.
CLUSTER_ALERTS = [{"labels": labels} for labels in (
    {"alertname": "Watchdog", "severity": "none"}, {"alertname": "KubeNodeNotReady", "severity": "critical"},
    {"alertname": "HighErrorRate", "severity": "critical", "model": "chat", "cluster": "live-1"})]
TIMEOUT_S = 180
HISTORY_S, STEP_S = 1800, 5  # backfilled history and scrape interval; rules are evaluated every second


@dataclass
class Sink:
    """A webhook receiver in this process: every notification posted, by path."""

    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, body: dict[str, Any]) -> None:
        with self.lock:
            self.received.setdefault(path, []).append(body)

    def at(self, path: str) -> list[dict[str, Any]]:
        """Notifications posted to a path so far."""
        with self.lock:
            return list(self.received.get(path, []))



@contextmanager
def sink_server() -> Iterator[tuple[str, Sink]]:
    """The sink on 127.0.0.1 and a free port, in a thread of this process; shut down when the block ends."""
    sink = Sink()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            sink.add(self.path, json.loads(body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", sink
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _quick(config: dict[str, Any]) -> dict[str, Any]:
    """The config with every group_wait at 1s (the test waits for first notifications, not for their timing)."""
    def walk(route: dict[str, Any]) -> None:
        if "group_wait" in route:
            route["group_wait"] = "1s"
        for child in route.get("routes", []):
            walk(child)

    walk(config["route"])
    return config


def _targets(plan: Plan, now: float) -> list[Target]:
    start = now - HISTORY_S
    return [Target(m, Timeline(start, ((start, NOW[m.name]),)), replicas=2) for m in plan.models]


def _backfill(targets: list[Target], address: str, now: float, tmp: Path) -> Path:
    """The targets' last HISTORY_S as TSDB blocks, so every rate has whole windows from the first evaluation."""
    extra = (("instance", address), ("job", "llm"))
    first = math.ceil((now - HISTORY_S) / STEP_S) * STEP_S
    times = list(range(first, int(now) - STEP_S, STEP_S))
    history = tmp / "history.om"
    with history.open("w", encoding="utf-8") as out:
        openmetrics(((s, t.timeline, extra) for t in targets for s in series(t)), times, out)
        out.write("# EOF\n")
    backfill(history, tmp / "data")
    return tmp / "data"


def _firing(prom: Prometheus, alertname: str) -> set[str]:
    return {s["metric"].get("model", "") for s in
            prom.query(f'ALERTS{{alertname="{alertname}", alertstate="firing"}}')}


def _wait(what: str, ready: Any, logs: list[Path]) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not ready():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}" for p in logs if p.exists())
            raise AssertionError(f"{what} did not happen within {TIMEOUT_S} s\n{tails}")
        time.sleep(0.25)


@dataclass
class Outcome:
    """What the sink received and the Alertmanager held once the incident settled."""

    sink: Sink
    alerts: list[dict[str, Any]]  # GET /api/v2/alerts
    groups: list[dict[str, Any]]  # GET /api/v2/alerts/groups


def _pairs() -> list[Any]:
    proms, ams = promserver.binaries(), amserver.binaries()
    return [(p, a) for p in proms for a in ams]


def _pair_id(pair: tuple[str, str]) -> str:
    return f"{Path(pair[0]).name}+{Path(pair[1]).name}"


def _params() -> list[Any]:
    if not _pairs():
        return [pytest.param("", marks=pytest.mark.skip(
            reason="prometheus or alertmanager is not installed (`make tools` installs Debian's)"))]
    return [pytest.param(i, id=_pair_id(pair)) for i, pair in enumerate(_pairs())]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Future[Outcome]]]:
    """Every Prometheus x Alertmanager pair's incident, all at once: each waits ~100 s on real `for:` durations
    and group waits, on its own servers, ports, sink and folder, so they run side by side rather than in turn."""
    pairs = _pairs()
    with ThreadPoolExecutor(max_workers=max(1, len(pairs))) as pool:
        yield [pool.submit(_incident, prometheus_exe, alertmanager_exe, tmp_path_factory.mktemp("routing"))
               for prometheus_exe, alertmanager_exe in pairs]


@pytest.fixture(scope="module", params=_params())
def outcome(request: pytest.FixtureRequest, outcomes: list[Future[Outcome]]) -> Outcome:
    """One pair's incident (its failure fails that pair's tests only)."""
    return outcomes[request.param].result()


def _incident(prometheus_exe: str, alertmanager_exe: str, tmp: Path) -> Outcome:
    with sink_server() as (sink_url, sink):
        plan = plan_from_text(tmp, SPEC.replace("SINK", sink_url))
        bundle = generate(plan, tmp / "out")
        config = _quick(yaml.safe_load((tmp / "out/alertmanager/alertmanager.yaml").read_text(encoding="utf-8")))
        am_config = tmp / "alertmanager.yaml"
        am_config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        rules = flattened(tmp / "out" / bundle.rules_file, tmp / "rules")  # every group at the 1s interval
        now = time.time()
        targets = _targets(plan, now)
        with amserver.Alertmanager(tmp / "am", am_config, alertmanager_exe) as am, Exporter(targets) as exporter, \
                Prometheus(tmp / "prom", [rules], [exporter.address], alertmanagers=[am.address],
                           exe=prometheus_exe, scrape_interval=f"{STEP_S}s",
                           data_dir=_backfill(targets, exporter.address, now, tmp)) as prom:
            logs = [prom.log, am.log]
            am.api("alerts", CLUSTER_ALERTS)
            _wait(f"the page, the warning and the info (sink: {sink.received})", lambda: sink.at("/pager")
                  and sink.at("/chat") and sink.at("/ticket"), logs)
            _wait("HighErrorRate firing in Prometheus", lambda: "chat" in _firing(prom, "HighErrorRate"), logs)
            _wait("HighErrorRate held back by the Alertmanager", lambda: any(
                a["labels"]["alertname"] == "HighErrorRate" and a["labels"].get("llmmon_spec") == "live"
                and a["status"]["state"] == "suppressed" for a in am.api("alerts")), logs)
            # every group has flushed once (group_wait 1s) after HighErrorRate arrived: a delivery would be here
            settled = time.monotonic() + 5
            _wait("a few group_wait periods", lambda: time.monotonic() > settled, logs)
            return Outcome(sink, am.api("alerts"), am.api("alerts/groups"))


def _alertnames(notification: dict[str, Any]) -> set[str]:
    return {a["labels"]["alertname"] for a in notification["alerts"]}


def test_an_outage_pages_exactly_once_with_model_summary_runbook_and_dashboard(outcome: Outcome) -> None:
    pages = outcome.sink.at("/pager")
    assert len(pages) == 1, [_alertnames(p) for p in pages]
    page = pages[0]
    assert _alertnames(page) == {"ErrorBudgetBurn"}
    assert page["commonLabels"]["model"] == "chat"
    assert page["commonLabels"]["slo"] == "availability"
    first = page["alerts"][0]["annotations"]
    assert first["summary"].startswith("chat availability: error budget burning over ")
    assert "objective 99.9%" in first["description"] and "budget left over 30d: " in first["description"]
    assert first["runbook_url"] == "https://runbooks.example.com/llm/errorbudgetburn#availability"
    assert first["dashboard_url"] == "https://grafana.example.com/d/live-sre?var-model=chat&var-cluster=live-1"


def test_a_warning_reaches_chat_and_an_info_the_ticket_queue(outcome: Outcome) -> None:
    assert [_alertnames(n) for n in outcome.sink.at("/chat")] == [{"HighInferenceLatency"}]
    assert outcome.sink.at("/chat")[0]["commonLabels"]["model"] == "embed"
    assert [_alertnames(n) for n in outcome.sink.at("/ticket")] == [{"LowGPUUtilization"}]
    assert outcome.sink.at("/ticket")[0]["commonLabels"]["model"] == "summarize"


def test_the_inhibited_alert_fires_but_is_not_delivered(outcome: Outcome) -> None:
    inhibited = [a for a in outcome.alerts if a["labels"]["alertname"] == "HighErrorRate"
                 and a["labels"].get("llmmon_spec") == "live"]
    assert [a["status"]["state"] for a in inhibited] == ["suppressed"]
    assert inhibited[0]["status"]["inhibitedBy"]
    delivered = {name for path in ("/pager", "/chat", "/ticket") for n in outcome.sink.at(path)
                 for name in _alertnames(n)}
    assert "HighErrorRate" not in delivered


def test_other_teams_alerts_and_the_watchdog_reach_none_of_the_specs_receivers(outcome: Outcome) -> None:
    foreign = {"Watchdog", "KubeNodeNotReady"}
    assert foreign <= {a["labels"]["alertname"] for a in outcome.alerts}  # they did reach the Alertmanager
    for path in ("/pager", "/chat", "/ticket"):
        for notification in outcome.sink.at(path):
            assert not foreign & _alertnames(notification)
            assert all(a["labels"].get("llmmon_spec") == "live" for a in notification["alerts"])
    receivers = {g["labels"].get("alertname"): g["receiver"]["name"] for g in outcome.groups
                 if "llmmon_spec" not in g["labels"]}
    assert receivers == {"Watchdog": "null", "KubeNodeNotReady": "null", "HighErrorRate": "null"}
