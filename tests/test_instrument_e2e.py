"""The example app under uvicorn, scraped by a real Prometheus (Debian's) that loads the generated rules.

Two fake models of the seed contract: `chat` is healthy, one request in ten asks for a slow answer; `broken`
fails every fourth request (the injected failure). A bounded load loop drives both; the recorded error ratio,
p99 latency and TTFT quantiles must be those the load implies, HighErrorRate must fire for `broken` only, the
app's /metrics must pass `llmmon check-metrics`, and its log lines must be the contract's JSON.

The fake answers sleep just past a bucket bound (TTFT 0.26 s and 0.76 s, latency 0.28 s and 1.05 s), so
scheduling delays move no observation out of its bucket unless they exceed 0.22 s.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.promserver import Prometheus, flattened, free_port, stop_process
from bench.traffic import histogram_quantile
from examples.openai_server import FAST, SLOW
from helpers import ROOT, generate, invoke, plan_from_text
from llmmon import logrecord
from llmmon.instrument import buckets

pytestmark = pytest.mark.waits(20)  # a served model under load, scraped by a real Prometheus

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: inst-e2e}
defaults:
  namespace: llm
  # The load is 20 requests a model (0.07 req/s over 5m): HighErrorRate stays quiet below min_request_rate, so the
  # floor sits under the load's rate.
  slo: {availability: 99.9, latency: {threshold: 2s, target: 99}, ttft: {threshold: 1s, target: 95},
        min_request_rate: 0.01}
  alerts:
    latency_p99: {threshold: 2s, tier: warning}
    error_rate: {threshold: 1%, tier: critical, for: 2s}
    ttft_p95: {threshold: 1s, tier: warning}
    gpu_utilization_low: {enabled: false}
models:
  - {name: chat}
  - {name: broken}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {slack: {api_url_file: /etc/am/slack}}
costs: {gpu_hourly: {T4: 0.35}}
gpu_exporter: {kind: none}
"""
FAIL_EVERY = 4
# (model, streamed, slow) of every request the load sends
LOAD = ([("chat", True, i % 10 == 0) for i in range(20)] + [("chat", False, i % 10 == 0) for i in range(20)]
        + [("broken", False, False) for _ in range(20)])


class AppPrometheus(Prometheus):
    """Prometheus scraping the app as the Kubernetes service discovery would label it: with its namespace."""

    def config(self, with_rules: bool = True) -> dict[str, Any]:
        config = super().config(with_rules)
        for job in config["scrape_configs"]:
            for static in job["static_configs"]:
                static["labels"] = {"namespace": "llm"}
        return config


@dataclass
class App:
    """The example app under uvicorn, stopped by its PID."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return str(response.read().decode())

    def chat(self, model: str, stream: bool, slow: bool) -> int:
        body = {"model": model, "messages": [{"role": "user", "content": "please be slow" if slow else "hi there"}],
                "stream": stream, "stream_options": {"include_usage": True} if stream else None}
        request = urllib.request.Request(self.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def stop(self) -> None:
        stop_process(self.process)


def _start_app(spec: Path, folder: Path) -> App:
    env = {**os.environ, "LLMMON_SPEC": str(spec), "LLMMON_FAKE": json.dumps({"broken": {"fail_every": FAIL_EVERY}})}
    for _ in range(3):
        port = free_port()
        log = folder / f"app-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "examples.openai_server:create_app", "--host",
                 "127.0.0.1", "--port", str(port), "--no-access-log", "--log-level", "warning"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        app = App(process, f"http://127.0.0.1:{port}", log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                app.get("/metrics")
                return app
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        app.stop()
    raise RuntimeError(f"the example app did not start:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Live:
    prom: Prometheus
    app: App
    spec: Path
    statuses: list[int]

    def value(self, expr: str) -> dict[str, float]:
        return {s["metric"].get("model", ""): float(s["value"][1]) for s in self.prom.query(expr)}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("instrument-e2e")
    spec = tmp / "spec.yaml"
    spec.write_text(SPEC, encoding="utf-8")
    plan = plan_from_text(tmp, SPEC)
    bundle = generate(plan, tmp / "out")
    app = _start_app(spec, tmp)
    try:
        # groups with an interval of their own (2m, 30m) run at the server's 1s here, or the test would wait for them
        rules = flattened(tmp / "out" / bundle.rules_file, tmp / "rules")
        with AppPrometheus(tmp / "prom", [rules], [app.url.removeprefix("http://")],
                           scrape_interval="1s") as prom:
            # the first scrape (all series at 0) is behind us: rate() over 5m now counts every request
            with ThreadPoolExecutor(4) as pool:
                statuses = list(pool.map(lambda call: app.chat(*call), LOAD))
            deadline = time.monotonic() + 60
            while sum(float(s["value"][1]) for s in prom.query("llm_requests_total")) < len(LOAD):
                assert time.monotonic() < deadline, "the last requests were never scraped"
                time.sleep(0.2)
            prom.settle()
            yield Live(prom, app, spec, statuses)
    finally:
        app.stop()


def _bounds(spec: Path) -> buckets.Buckets:
    return buckets.from_spec(spec)


def test_the_load_got_the_answers_the_fake_models_give(live: Live) -> None:
    assert live.statuses.count(500) == 20 // FAIL_EVERY
    assert live.statuses.count(200) == len(LOAD) - 20 // FAIL_EVERY


def test_the_recorded_error_ratio_is_that_of_the_load(live: Live) -> None:
    ratio = live.value('model:llm_request_errors:ratio_rate5m{llmmon_spec="inst-e2e"}')
    assert ratio == {"chat": 0.0, "broken": pytest.approx(1 / FAIL_EVERY, abs=1e-9)}


def test_the_recorded_p99_latency_is_the_quantile_of_the_load(live: Live) -> None:
    chat = [call for call in LOAD if call[0] == "chat"]
    slow = sum(1 for call in chat if call[2]) / len(chat)
    assert FAST[1] < 0.5 and 1.0 < SLOW[1] < 1.5  # fast answers fall in (0.1, 0.5], slow ones in (1.0, 1.5]

    def share(bound: float) -> float:
        return 0.0 if bound < 0.5 else 1 - slow if bound < 1.5 else 1.0

    expected = histogram_quantile(0.99, _bounds(live.spec).latency, share)
    p99 = live.value('model:llm_request_duration_seconds:p99{llmmon_spec="inst-e2e"}')
    assert p99["chat"] == pytest.approx(expected, rel=1e-6)
    assert expected == pytest.approx(1.45)  # 10% in (1.0, 1.5]: the 99th percentile interpolates to 1.45


def test_the_recorded_ttft_quantiles_are_those_of_the_streams(live: Live) -> None:
    streams = [call for call in LOAD if call[0] == "chat" and call[1]]
    slow = sum(1 for call in streams if call[2]) / len(streams)
    assert 0.25 < FAST[0] < 0.5 and 0.75 < SLOW[0] < 1.0  # (0.25, 0.5] and (0.75, 1.0]

    def share(bound: float) -> float:
        return 0.0 if bound < 0.5 else 1 - slow if bound < 1.0 else 1.0

    for q in ("p95", "p99"):
        expected = histogram_quantile(int(q[1:]) / 100, _bounds(live.spec).ttft, share)
        recorded = live.value(f'model:llm_time_to_first_token_seconds:{q}{{llmmon_spec="inst-e2e"}}')
        assert recorded["chat"] == pytest.approx(expected, rel=1e-6), q
    assert live.value('model:llm_time_to_first_token_seconds:p95{llmmon_spec="inst-e2e"}')["chat"] == \
        pytest.approx(0.875)  # under the 1s alert threshold: the healthy model stays quiet


def test_the_injected_failure_fires_high_error_rate_for_that_model_only(live: Live) -> None:
    deadline = time.monotonic() + 60
    while True:
        alerts = live.prom.get("/api/v1/alerts")["alerts"]
        firing = {(a["labels"]["alertname"], a["labels"]["model"]) for a in alerts if a["state"] == "firing"}
        if ("HighErrorRate", "broken") in firing or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ("HighErrorRate", "broken") in firing
    assert not [a for a in alerts if a["labels"].get("model") == "chat"], "the healthy model has no alert"


def test_the_live_metrics_page_passes_check_metrics(live: Live, tmp_path: Path) -> None:
    scrape = tmp_path / "scrape.txt"
    scrape.write_text(live.app.get("/metrics"), encoding="utf-8")
    result = invoke("check-metrics", str(live.spec), "--metrics-file", str(scrape))
    assert result.exit_code == 0, result.stdout
    assert "missing" not in result.stdout.replace("missing (optional)", "")


def test_the_app_writes_contract_log_lines_one_per_request(live: Live) -> None:
    lines = [json.loads(line) for line in live.app.log.read_text(errors="replace").splitlines()
             if line.startswith("{")]
    finished = [line for line in lines if line["message"] == "request finished"]
    assert len(finished) == len(LOAD)
    assert sorted(line["status"] for line in finished).count("error") == 20 // FAIL_EVERY
    written = {f.name for f in logrecord.WRITTEN}
    for line in lines:
        assert set(line) <= written
        assert {"timestamp", "level", "message", "model"} <= set(line)
    # the app configures no TracerProvider: spans are the API's no-op ones and no made-up (zero) ids are written
    assert not [line for line in lines if "trace_id" in line or "span_id" in line]
