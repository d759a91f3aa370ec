"""The incident library (bench/incidents) and its synthetic traffic, and smoke runs of both benchmarks.

Every incident file loads and names the right response; mistakes in a file are reported with its name and
key path; the series behave like a real exporter's (counters never fall, buckets are cumulative); the live
exporter serves exactly what the backfill writes for the same instant; promtool reads the rendered input
series as the traffic defines them; and short runs of bench/alerting.py and bench/rule_cost.py still work.
"""

from __future__ import annotations

import io
import math
import re
import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench import alerting, rule_cost, scenarios
from bench.exporter import Exporter
from bench.render import encoded, openmetrics, promtool_series, promtool_values
from bench.traffic import Behaviour, Target, Timeline, sampled, series
from helpers import promtool

REQUIRED = {"total-outage", "errors-10-percent", "slow-burn", "latency-regression", "ttft-regression", "error-spike",
            "background-errors", "traffic-to-zero", "gpu-idle", "low-traffic", "kv-cache-climb", "replica-gone",
            "restart-loop", "gpu-xid"}


def test_the_library_holds_every_incident_asked_for_and_each_one_loads() -> None:
    fleet = scenarios.load_fleet()
    assert set(scenarios.names()) >= REQUIRED
    for name in scenarios.names():
        incident = scenarios.load(name, fleet)
        assert incident.title and incident.description and incident.observe > 0
        for model in incident.changes:  # a model the incident hits has its right response written down
            assert model in incident.expect, (name, model)


def test_every_model_of_the_example_spec_has_a_healthy_behaviour() -> None:
    fleet = scenarios.load_fleet()
    plan = scenarios.plan(fleet.spec)
    assert {m.name for m in plan.models} == set(fleet.behaviour)
    assert fleet.lead_in >= 3 * 86400  # every alert window is full when the incident starts


def test_an_incident_a_ticket_pair_can_answer_keeps_three_days_of_history() -> None:
    """A shorter lead-in is for incidents answered by a page (windows up to 6h) or by alerts that read no SLO
    window. Where errors or slow requests meet a ticket pair, its 1d or 3d window must be full: a short one
    holds the incident's errors against hours instead of days and opens a ticket for nothing (a 2-minute spike
    after 7h of history did, with llmmon's rules and Sloth's), or opens the right ticket too soon."""
    fleet = scenarios.load_fleet()
    slo_signals = {"error_ratio", "latency", "ttft"}
    for name in scenarios.names():
        incident = scenarios.load(name, fleet)
        if incident.lead_in is None or incident.lead_in >= 3 * 86400:
            continue
        hit = {m for m, changes in incident.changes.items() if slo_signals & set(changes)} | set(incident.arrivals)
        for model in hit:
            want = incident.expectation(model)
            # a page answers it, or a ticket is acceptable anyway
            assert want.detect == "critical" or want.allow in ("warning", "critical"), (name, model)


@pytest.mark.parametrize(("text", "message"), [
    ("incident: {duration: 5m, models: {llama-3-70b: {latency: {p90: 3}}}}",
     "bad.yaml: incident.models.llama-3-70b.latency: unknown key 'p90'"),
    ("incident: {duration: 5m}\nexpect: {gpt-5: {detect: critical}}", "bad.yaml: expect: unknown key 'gpt-5'"),
    ("incident: {duration: 5m}\nexpect: {qwen2-7b: {detect: page}}",
     "bad.yaml: expect.qwen2-7b.detect: 'page' is not one of none, info, warning, critical"),
    ("incident: {duration: 5m}\nexpect: {qwen2-7b: {detect: critical, allow: info}}",
     "bad.yaml: expect.qwen2-7b: allow (info) is below detect (critical)"),
    ("incident: {duration: 5 minutes}", "bad.yaml: incident.duration: '5 minutes' is not a duration"),
    ("incident: {duration: 5m}\nlead_in: 2h", "bad.yaml: lead_in: at least 6h"),
    ("incident: {duration: 5m, models: {qwen2-7b: {error_ratio: 2}}}",
     "bad.yaml: incident.models.qwen2-7b.error_ratio: must be between 0 and 1"),
    ("incident: {duration: 5m, models: {qwen2-7b: {up: 'no'}}}",
     "bad.yaml: incident.models.qwen2-7b.up: expected true or false"),
])
def test_a_mistake_in_an_incident_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    head = "title: t\ndescription: d\nobserve: 10m\n"
    body = text if "expect" in text else text + "\nexpect: {}"
    (tmp_path / "bad.yaml").write_text(head + body + "\n", encoding="utf-8")
    with pytest.raises(scenarios.IncidentError) as error:
        scenarios.load("bad", folder=tmp_path)
    assert str(error.value).startswith(message)


def _phased_target() -> Target:
    plan = scenarios.plan()
    llama = next(m for m in plan.models if m.engine.name == "vllm")
    healthy = Behaviour(rps=0.05, error_ratio=0.1)
    phases = ((0.0, healthy), (1800.0, Behaviour(rps=12, error_ratio=1.0, latency_p50=1.3, latency_p99=3.0)),
              (3600.0, Behaviour(up=False)), (4200.0, healthy))
    return Target(llama, Timeline(0.0, phases), replicas=2)


def test_counters_never_fall_and_histogram_buckets_are_cumulative() -> None:
    target = _phased_target()
    times = [float(t) for t in range(0, 7200, 30)]
    values = {(s.name, s.labels): sampled(s, target.timeline, times) for s in series(target)}
    for s in series(target):
        got = values[(s.name, s.labels)]
        assert got[130] is None  # minute 65: the pods are gone
        if s.kind != "gauge":
            present = [v for v in got if v is not None]
            assert present == sorted(present), s.text()
    buckets = [s for s in series(target) if s.name == "vllm:e2e_request_latency_seconds_bucket"
               and dict(s.labels)["pod"].endswith("-0")]
    count = next(s for s in series(target) if s.name == "vllm:e2e_request_latency_seconds_count"
                 and dict(s.labels)["pod"].endswith("-0"))
    ordered = sorted(buckets, key=lambda s: float(dict(s.labels)["le"]))
    for i in range(len(times)):
        column = [values[(s.name, s.labels)][i] for s in ordered]
        if column[0] is None:
            continue
        assert column == sorted(column)  # type: ignore[type-var]
        assert column[-1] == values[(count.name, count.labels)][i]  # +Inf bucket = count


def test_the_exporter_serves_what_the_backfill_writes_for_the_same_instant() -> None:
    target = _phased_target()
    at = 2400.0
    with Exporter([target], clock=lambda: at) as exporter, \
            urllib.request.urlopen(f"http://{exporter.address}/metrics", timeout=10) as response:
        served = {(s.name, tuple(sorted(s.labels.items()))): s.value
                  for family in text_string_to_metric_families(response.read().decode())
                  for s in family.samples}
    out = io.StringIO()
    openmetrics(((s, target.timeline, ()) for s in series(target)), [int(at)], out)
    written = {}
    for line in out.getvalue().splitlines():
        head, value, _ = line.rsplit(" ", 2)
        name, _, labels = head.partition("{")
        # label values may hold commas (vLLM's LoRA gauge lists adapters "a,b"): read them as quoted strings
        pairs = tuple(sorted(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels)))
        written[(name, pairs)] = float(value)
    assert len(served) == len(series(target)) > 100
    assert served == pytest.approx(written)


def test_promtool_reads_the_rendered_series_as_the_traffic_defines_them(tmp_path: Path) -> None:
    target = _phased_target()
    picked = [s for s in series(target) if dict(s.labels)["pod"].endswith("-0") and s.name in (
        "vllm:request_success_total", "vllm:e2e_request_latency_seconds_sum", "DCGM_FI_DEV_GPU_UTIL",
        "llm_requests_total")]
    steps, interval = 120, 60.0
    checks = []
    for s in picked:
        values = encoded(s, target.timeline, steps, interval)
        exact = sampled(s, target.timeline, [k * interval for k in range(steps + 1)], floor=False)
        for minute in (10, 29, 31, 59, 61, 62, 75, 119):
            value, truth = values[minute], exact[minute]
            if value is not None and truth is not None:  # whole counts stay within one event of the integral
                assert abs(value - truth) < 1, (s.text(), minute)
            expected = [] if value is None else [{"labels": "{}", "value": round(value * 1000)}]
            checks.append({"expr": f"round(sum({promtool_series(s)}) * 1000)", "eval_time": f"{minute}m",
                           "exp_samples": expected})
    rules = tmp_path / "none.rules.yaml"
    rules.write_text("groups: []\n", encoding="utf-8")
    test = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{"interval": "1m", "input_series": [
        {"series": promtool_series(s), "values": promtool_values(s, target.timeline, steps, interval)}
        for s in picked], "promql_expr_test": checks}]}
    (tmp_path / "series.test.yaml").write_text(yaml.safe_dump(test, width=1 << 20), encoding="utf-8")
    done = promtool("test", "rules", "series.test.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_design_rules_load_in_promtool() -> None:
    done = promtool("check", "rules", str(alerting.DESIGN_RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    groups = yaml.safe_load(alerting.DESIGN_RULES.read_text(encoding="utf-8"))["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert {a: (r["for"], r["labels"]["severity"]) for a, r in alerts.items()} == {
        "HighInferenceLatency": ("5m", "warning"), "HighErrorRate": ("10m", "critical"),
        "LowGPUUtilization": ("30m", "info")}
    assert any("[30d]" in r["expr"] for g in groups for r in g["rules"])


def test_a_total_outage_pages_sooner_with_llmmon_than_with_the_design_rules() -> None:
    outcomes = alerting.run(["total-outage"], lead_in=3 * 3600.0, jobs=2)
    incident = scenarios.load("total-outage")
    mine, design = (next(o for o in outcomes if o.ruleset == r) for r in ("llmmon", "design"))
    page, late = mine.detection(incident, "llama-3-70b"), design.detection(incident, "llama-3-70b")
    assert page is not None and late is not None
    assert page.alertname == "ErrorBudgetBurn" and page.severity == "critical"
    assert page.first <= 2 * 60 < 10 * 60 < late.first  # within 2 minutes: the windows' edge term (llmmon.slo.EDGE)
    assert not mine.false_alerts(incident) and not design.false_alerts(incident)
    theirs = next(o for o in outcomes if o.ruleset == "sloth")  # the real sloth's rules for the same SLOs
    sloth_page = theirs.detection(incident, "llama-3-70b")
    assert sloth_page is not None and sloth_page.alertname == "SlothErrorBudgetBurn"
    assert not theirs.false_alerts(incident)
    assert "| Total outage |" in alerting.table(outcomes, ["llama-3-70b", "qwen2-7b"])


def test_the_same_outage_fires_at_the_same_times_in_two_promtool_runs(tmp_path: Path) -> None:
    fleet = scenarios.load_fleet()
    incident, plan = scenarios.load("total-outage", fleet), scenarios.plan(fleet.spec)
    rules = alerting.rule_files(plan, tmp_path)["llmmon"]
    runs = []
    for attempt in ("first", "second"):
        (tmp_path / attempt).mkdir()
        runs.append(alerting.run_one(incident, "llmmon", fleet, plan, rules, 3 * 3600.0, tmp_path / attempt))
    assert runs[0].firings, "the outage fired nothing"
    assert runs[0].firings == runs[1].firings  # group_eval_order: no run-to-run difference in when alerts fire


def test_low_traffic_in_whole_requests_pages_nobody(tmp_path: Path) -> None:
    fleet = scenarios.load_fleet()
    plan = scenarios.plan(fleet.spec)
    rules = alerting.rule_files(plan, tmp_path)["llmmon"]
    for name in ("low-traffic-poisson", "low-traffic-single-failure"):
        incident = scenarios.load(name, fleet)
        outcome = alerting.run_one(incident, "llmmon", fleet, plan, rules, 3 * 3600.0, tmp_path)
        assert outcome.false_alerts(incident) == [], name


def test_arrivals_are_whole_requests_with_every_tenth_failing() -> None:
    incident = scenarios.load("low-traffic-poisson")
    arrivals = incident.arrivals["llama-3-70b"]
    counts = arrivals.counts(round(incident.duration / 60))
    assert set(counts) <= set(range(1, 7)) and len(set(counts)) > 3
    phases = arrivals.phases(0.0, incident.duration, Behaviour())
    requests = [round(b.rps * 60, 9) for _, b in phases]
    failures = [round(b.rps * 60 * b.error_ratio, 9) for _, b in phases]
    assert requests == counts and all(f == int(f) for f in failures)
    assert sum(failures) == sum(counts) // 10


@pytest.mark.slow
@pytest.mark.waits(75)  # a Prometheus evaluates both rule sets for a dozen cycles
def test_a_rule_change_is_measured_side_by_side_with_the_revision_it_changes(tmp_path: Path) -> None:
    """`--against REV`: this tree's rules and those REV generates, in one server (here REV is HEAD itself, which
    every clone has: the same groups on both sides, each measured)."""
    settings = rule_cost.Settings(replicas=2, history=3600.0, scrape="2s", evaluation="1s", cycles=2, warmup=1,
                                  settle=0.0, engine="tgi")
    result = rule_cost.compare(3, settings, tmp_path, "HEAD")
    assert set(result["this"]) == set(result["base"]) and "engine-tgi" in result["this"]
    for side in ("this", "base"):
        assert all(v > 0 and not math.isnan(v) for v in result[side].values()), side
    assert "| engine-tgi | 1s |" in rule_cost.comparison_table(result, "HEAD")
    assert not (tmp_path / "compare-3" / "blocks").exists()
    shutil.rmtree(tmp_path / "compare-3", ignore_errors=True)


@pytest.mark.waits(80)  # each rule set its own Prometheus, a dozen cycles each
def test_a_small_rule_cost_run_measures_both_rule_sets(tmp_path: Path) -> None:
    settings = rule_cost.Settings(replicas=2, history=3600.0, scrape="2s", evaluation="1s", cycles=2, warmup=1,
                                  settle=0.0)  # no wait for 5m ranges to leave the backfilled blocks
    row = rule_cost.run_size(3, settings, tmp_path)
    assert row.raw_series > 200
    assert row.history_samples > row.raw_series
    for name, cost in row.costs.items():
        assert cost.seconds > 0 and not math.isnan(cost.seconds), name
        assert cost.recorded_series > 0 and cost.samples > 0, name
        assert len(cost.cycles) == 2
    assert row.costs["llmmon"].rules > row.costs["design"].rules
    assert "| 3 × 2 |" in rule_cost.table([row])
    assert not (tmp_path / "models-3" / "blocks").exists()
    shutil.rmtree(tmp_path / "models-3", ignore_errors=True)
