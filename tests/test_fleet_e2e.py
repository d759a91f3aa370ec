"""A fleet on real servers: two cluster Prometheus servers (`cluster` external labels, the per-cluster rule files)
remote-write what the global tier reads to a central Prometheus (remote-write receiver, the global rule file),
for the oldest supported and the current Prometheus (tests/versions.py). East's Prometheus scrapes its cluster;
west's is fed by a Prometheus agent scraping west (agent mode: no rules of its own) through remote write.

`chat` and `code` are served by both clusters; in `east`, 30% of chat's requests fail, `west` is healthy. The
global burn-rate page must fire for chat naming east, east's own HighErrorRate page must fire and west must stay
silent; with the central server stopped, east's page keeps firing; with it back on the same storage, remote
write resumes and there is still exactly one global page and none for `code`; with west stopped, the central
server says west's data is missing and pages nothing else.

Groups run at the servers' 1s interval (bench/promserver.flattened), and the data-missing alert's 3m window and
2m `for` are shortened to seconds (their durations are checked by the generated promtool tests).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import versions

from bench.exporter import Exporter
from bench.fleetserver import FleetPrometheus
from bench.promserver import backfill, flattened
from bench.render import openmetrics
from bench.traffic import Behaviour, Target, Timeline, series
from helpers import generate, plan_from_text
from llmmon import fleet
from llmmon.emit import fleet_rules
from llmmon.model import Plan

pytestmark = pytest.mark.waits(70)  # clusters, remote write and a central outage, in real time

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: fleet, namespace: monitoring, runbook_base_url: "https://runbooks.example.com/llm"}
clusters:
  - {name: east}
  - {name: west, gpu_hourly: {H100: 3.0}}
defaults:
  engine: openai-compatible
  namespace: llm-serving
  slo: {availability: 99.9, min_request_rate: 0.1}
  alerts:
    error_rate: {threshold: 1%, tier: critical, for: 0s}
models:
  - {name: chat, gpus: {type: H100, count: 8}}
  - {name: code, gpus: {type: H100, count: 2}}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/alertmanager/secrets/llm/pagerduty}}
costs: {currency: USD, gpu_hourly: {H100: 2.50}}
"""
HEALTHY = Behaviour(rps=10, error_ratio=0.0, latency_p50=0.4, latency_p99=1.2, ttft_p50=0.1, ttft_p95=0.4,
                    gpu_percent=70)
FAILING = replace(HEALTHY, error_ratio=0.3)
TIMEOUT = 90.0
AGENT = {False: "--enable-feature=agent", True: "--agent"}  # agent mode: Prometheus 2.x, 3.x
QUEUE = {"batch_send_deadline": "1s", "min_backoff": "100ms", "max_backoff": "1s"}
HISTORY_S, STEP_S = 600, 1  # backfilled history at the scrape interval: rate() extrapolates evenly


def _wait(what: str, ready: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.5)


def _firing(prom: FleetPrometheus) -> set[tuple[str, str, str]]:
    """(alertname, model, cluster) of the firing alerts of a server."""
    return {(a["labels"]["alertname"], a["labels"].get("model", ""), a["labels"].get("cluster", ""))
            for a in prom.alerts() if a["state"] == "firing"}


def _shortened(rules: Path) -> Path:
    """The global rules with the data-missing alert's window and `for` in seconds."""
    text = rules.read_text(encoding="utf-8")
    text = text.replace(f"[{fleet_rules.MISSING_AFTER}])", "[8s])")
    text = re.sub(rf"(- alert: {fleet_rules.MISSING}\n(?:.*\n)*?\s+for: ){fleet_rules.MISSING_FOR}", r"\g<1>2s", text)
    assert "[8s])" in text and "for: 2s" in text
    rules.write_text(text, encoding="utf-8")
    return rules


@pytest.fixture(params=versions.PROMETHEUS_IDS)
def release(request: pytest.FixtureRequest) -> versions.PrometheusRelease:
    """One Prometheus release (its server and promtool)."""
    return versions.prometheus(request.param)


def _targets(plan: Plan, declared: fleet.Fleet, cluster: str, failing: set[str], now: float) -> list[Target]:
    local = fleet.cluster_plan(plan, declared, cluster)
    start = now - HISTORY_S
    return [Target(m, Timeline(start, ((start, FAILING if m.name in failing else HEALTHY),)), replicas=2)
            for m in local.models]


def _backfill(targets: list[Target], address: str, now: float, data: Path, promtool: str) -> None:
    """Ten minutes of the exporter's series before the server starts: its 5m rates are steady from the start."""
    extra = (("instance", address), ("job", "llm"))
    first = math.ceil((now - HISTORY_S) / STEP_S) * STEP_S
    history = data.parent / f"{data.name}.om"
    with history.open("w", encoding="utf-8") as out:
        openmetrics(((s, t.timeline, extra) for t in targets for s in series(t)),
                    list(range(first, int(now) - STEP_S, STEP_S)), out)
        out.write("# EOF\n")
    backfill(history, data, promtool=promtool)


@pytest.fixture
def servers(release: versions.PrometheusRelease, tmp_path: Path) -> Iterator[dict[str, FleetPrometheus]]:
    """central, east and west, running; every server and exporter is stopped at the end."""
    plan = plan_from_text(tmp_path, SPEC)
    declared = fleet.of(plan.spec)
    assert declared is not None
    bundle = generate(plan, tmp_path / "out")
    out = tmp_path / "out"
    central_rules = _shortened(flattened(out / bundle.rules_file, tmp_path / "rules-global"))
    central = FleetPrometheus(tmp_path / "central", [central_rules], [], exe=release.prometheus,
                              flags=["--web.enable-remote-write-receiver"])
    started: list[FleetPrometheus] = []
    now = time.time()
    targets = {"east": _targets(plan, declared, "east", {"chat"}, now), "west": _targets(plan, declared, "west",
                                                                                         set(), now)}
    with Exporter(targets["east"]) as east_exporter, Exporter(targets["west"]) as west_exporter:
        try:
            central.start(with_rules=False)
            started.append(central)
            central.load_rules()
            servers = {"central": central}
            for name, exporter in (("east", east_exporter), ("west", west_exporter)):
                rules = flattened(out / f"prometheus/clusters/{name}/rules/{plan.name}.rules.yaml",
                                  tmp_path / f"rules-{name}")
                extra = fleet_rules.remote_write(plan, name, f"{central.url}/api/v1/write")
                extra["remote_write"][0]["queue_config"] = QUEUE
                _backfill(targets[name], exporter.address, now, tmp_path / f"data-{name}", release.promtool)
                # east: a Prometheus scraping its cluster; west: an agent scraping its cluster and remote-writing
                # everything to west's rule-evaluating Prometheus (receiver on), which forwards to the centre
                prom = FleetPrometheus(tmp_path / name, [rules], [] if name == "west" else [exporter.address],
                                       extra=extra, exe=release.prometheus, scrape_interval=f"{STEP_S}s",
                                       data_dir=tmp_path / f"data-{name}",
                                       flags=["--web.enable-remote-write-receiver"] if name == "west" else [])
                prom.start(with_rules=False)
                started.append(prom)
                if name == "west":
                    agent = FleetPrometheus(tmp_path / "west-agent", [], [exporter.address], exe=release.prometheus,
                                            scrape_interval=f"{STEP_S}s", agent=True, flags=[AGENT[release.major >= 3]],
                                            extra={"remote_write": [{"url": f"{prom.url}/api/v1/write",
                                                                     "queue_config": QUEUE}]})
                    agent.start()
                    started.append(agent)
                prom.load_rules_after_first_scrape()
                servers[name] = prom
            yield servers
        finally:  # senders before their receivers: nothing is left with a queue to flush to a stopped server
            for prom in reversed(started):
                prom.stop()


def test_one_failing_cluster_pages_globally_and_locally_and_survives_a_central_outage(
        servers: dict[str, FleetPrometheus]) -> None:
    central, east, west = servers["central"], servers["east"], servers["west"]
    page = ("ErrorBudgetBurn", "chat", "")

    # 1. everything up: the global page for chat names east; east's own page fires; west is silent
    _wait("both clusters' SLO rates at the central server", lambda: len(central.query(
        '{__name__=~"model:slo_(requests|errors):rate5m", llmmon_spec="fleet"}')) == 8)
    central.settle(rounds=3)
    _wait("global page for chat", lambda: page in _firing(central))
    _wait("east's HighErrorRate", lambda: ("HighErrorRate", "chat", "") in _firing(east))
    burns = [a for a in central.alerts() if a["labels"]["alertname"] == "ErrorBudgetBurn"
             and a["labels"]["long_window"] == "1h"]
    assert len(burns) == 1 and burns[0]["labels"]["model"] == "chat", burns
    description = burns[0]["annotations"]["description"]
    named = re.search(r"Clusters burning over the last 5m: east \(([0-9.]+)%\)\.$", description)
    assert named and float(named.group(1)) == pytest.approx(30, abs=3), description
    assert "west" not in description
    assert {a for a in _firing(central) if a[1] == "code"} == set()
    assert not _firing(west), west.alerts()
    # west scrapes nothing itself (no scrape job): its live series are the agent's, `up` included
    # the agent replays its WAL for some seconds before its first send: wait for it, do not race it
    _wait("the agent's samples at west", lambda: bool(west.query('last_over_time(up{job="llm"}[1m]) == 1')))
    assert not [a for a in _firing(east) if a[0] == "ErrorBudgetBurn"]  # pages on SLOs come from the global tier
    # the fleet-wide ratio is the clusters' errors over their requests (not the mean of their ratios)
    at = time.time() - 2
    ratio = central.query('fleet:slo_errors:ratio_rate5m{llmmon_spec="fleet", model="chat", slo="availability"}', at)
    per_cluster = {(s["metric"]["__name__"], s["metric"]["cluster"]): float(s["value"][1]) for s in central.query(
        '{__name__=~"model:slo_(requests|errors):rate5m", llmmon_spec="fleet", model="chat"}', at)}
    errors = sum(v for (name, _), v in per_cluster.items() if "errors" in name)
    requests = sum(v for (name, _), v in per_cluster.items() if "requests" in name)
    assert len(per_cluster) == 4 and per_cluster[("model:slo_errors:rate5m", "west")] == 0, per_cluster
    # both clusters serve 10 req/s: the traffic-weighted ratio is 15%, half of east's (remote write and the
    # central evaluation see the clusters' latest values a second or two apart)
    assert errors / requests == pytest.approx(0.15, abs=0.01)
    assert float(ratio[0]["value"][1]) == pytest.approx(errors / requests, abs=0.01)

    # 2. central stopped: east keeps evaluating and its page keeps firing, west stays silent
    central.stop()
    mark = time.time()
    _wait("east evaluating after the central server stopped", lambda: all(
        _stamp(g["lastEvaluation"]) > mark + 2 for g in east.get("/api/v1/rules")["groups"]))
    assert ("HighErrorRate", "chat", "") in _firing(east)
    assert not _firing(west)

    # 3. central back on the same port and storage: remote write resumes; one global page, none for code,
    # no cluster reported missing
    central.start(with_rules=True)
    _wait("remote write resumed", lambda: _fresh(central, "east") and _fresh(central, "west"))
    central.settle(rounds=3)
    burns = [a for a in central.alerts() if a["labels"]["alertname"] == "ErrorBudgetBurn"
             and a["labels"]["long_window"] == "1h"]
    assert [(a["labels"]["model"], a["state"]) for a in burns] == [("chat", "firing")], burns
    firing = _firing(central)
    assert not {a for a in firing if a[1] == "code"}
    assert not {a for a in firing if a[0] == fleet_rules.MISSING}

    # 4. west stopped: the central server reports west missing, and pages nothing else new
    west.stop()
    _wait("west reported missing", lambda: (fleet_rules.MISSING, "", "west") in _firing(central))
    firing = _firing(central)
    assert {a for a in firing if a[0] == fleet_rules.MISSING} == {(fleet_rules.MISSING, "", "west")}
    assert not {a for a in firing if a[1] == "code"}
    assert ("HighErrorRate", "chat", "") in _firing(east)


def _fresh(prom: FleetPrometheus, cluster: str) -> bool:
    """Whether a cluster's heartbeat reached the server within the last 3 s."""
    found = prom.query(f'time() - timestamp({fleet_rules.HEARTBEAT}{{cluster="{cluster}"}}) < 3')
    return bool(found)


def _stamp(text: str) -> float:
    from bench.promserver import _instant

    return _instant(text) if not text.startswith("0001-") else 0.0
