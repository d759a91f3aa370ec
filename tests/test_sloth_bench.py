"""The Sloth side of the head-to-head benchmark (bench/sloth.py): the real sloth turns llmmon's objectives into
rules that every supported promtool accepts, an SLO for each model's availability and latency objective."""

from __future__ import annotations

from pathlib import Path

import versions
import yaml

from bench import scenarios, sloth
from helpers import promtool


def test_sloth_generates_checked_rules_for_each_availability_and_latency_objective(
        tmp_path: Path, prometheus_release: versions.PrometheusRelease) -> None:
    plan = scenarios.plan()
    rules = sloth.generate(plan, tmp_path)
    slos = sloth.spec(plan)["slos"]
    assert [s["name"] for s in slos] == ["llama-3-70b-availability", "llama-3-70b-latency",
                                         "qwen2-7b-availability", "qwen2-7b-latency"]
    assert [s["objective"] for s in slos] == [99.9, 99.0, 99.5, 99.0]
    count, groups = sloth.counts(rules)
    assert (count, groups) == (17 * 4, 3 * 4)
    done = promtool("check", "rules", str(rules), binary=prometheus_release.promtool)
    assert done.returncode == 0, done.stdout + done.stderr
    alerts = [r for g in yaml.safe_load(rules.read_text(encoding="utf-8"))["groups"] for r in g["rules"]
              if "alert" in r]
    assert {(a["labels"]["model"], a["labels"]["slo"], a["labels"]["severity"]) for a in alerts} == {
        (m, k, s) for m in ("llama-3-70b", "qwen2-7b") for k in ("availability", "latency")
        for s in ("critical", "warning")}


def test_the_latency_sli_counts_requests_over_the_threshold_bucket_in_both_le_spellings() -> None:
    latency = next(s for s in sloth.spec(scenarios.plan())["slos"] if s["name"] == "llama-3-70b-latency")
    error = latency["sli"]["events"]["error_query"]
    assert 'vllm:e2e_request_latency_seconds_bucket{' in error and 'le=~"2|2\\\\.0"' in error
    assert 'model_name="meta-llama/Meta-Llama-3-70B-Instruct"' in error
