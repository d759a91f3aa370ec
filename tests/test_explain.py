"""`llmmon explain`: the plan in words, and the outage-to-page times checked against the real promtool."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from helpers import EXAMPLE, ROOT, generate, plan_from_text, plan_of, promtool
from llmmon import explain
from llmmon.cli import app
from llmmon.diagnostics import ExitCode
from llmmon.slo import BURN_WINDOWS
from llmmon.units import Duration

PAGES = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {name: pages, runbook_base_url: "https://runbooks.example.com"}
defaults: {engine: vllm, namespace: serving}
models:
  - {name: strict, slo: {availability: 99.9}, gpus: {type: H100, count: 1}}
  - {name: loose, slo: {availability: 99.5}, gpus: {type: H100, count: 1}}
  - {name: lax, slo: {availability: 93}, gpus: {type: H100, count: 1}}
alert_tiers:
  critical: {for: 10m, receiver: pager}
  warning: {for: 5m, receiver: pager}
  info: {for: 30m, receiver: pager}
receivers:
  pager: {pagerduty: {routing_key_file: /etc/am/pd}}
costs: {gpu_hourly: {H100: 2.50}}
"""
PAGE_PAIRS = [p for p in BURN_WINDOWS if p.tier == "critical"]


@pytest.fixture(autouse=True)
def _in_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _counter(per_step: int, healthy: int, total: int, failing: bool) -> str:
    """A counter that grows for `healthy` steps (ok requests) or from then on (failed requests)."""
    values, value = [], 0
    for i in range(total + 1):
        values.append(value)
        if (i >= healthy) == failing:
            value += per_step
    return " ".join(map(str, values))


@pytest.mark.parametrize(("step", "alerts_first"), [("1m", True), ("1m", False), ("30s", True)],
                         ids=["1m-alerts-group-first", "1m-file-order", "30s-alerts-group-first"])
def test_the_time_a_total_outage_takes_to_page_is_what_promtool_measures(
    tmp_path: Path, step: str, alerts_first: bool
) -> None:
    """Explain gives the latest time: when the alerts group is evaluated before the SLO group, so it reads
    the SLO ratios one evaluation late. In file order it fires one evaluation sooner, never earlier."""
    plan = plan_from_text(tmp_path, PAGES)
    generate(plan, tmp_path / "out")
    rules_file = tmp_path / "out/prometheus/rules/pages.rules.yaml"
    groups = [g["name"] for g in yaml.safe_load(rules_file.read_text(encoding="utf-8"))["groups"]]
    order = sorted(groups, key=lambda g: "-alerts" not in g) if alerts_first else groups
    interval = Duration.parse(step)
    per_min = 60_000 // interval.ms
    healthy = (6 * 60 + 10) * per_min  # a full 6h window of good traffic first
    total = healthy + 40 * per_min
    series = []
    for m in plan.models:
        # vLLM's API-server counter: no model label, the pod says which model; errors are its 5xx answers
        labels = f'handler="/v1/chat/completions", method="POST", namespace="serving", pod="{m.name}-0"'
        for status, failing in (("2xx", False), ("5xx", True)):
            series.append({"series": f'http_requests_total{{status="{status}", {labels}}}',
                           "values": _counter(600 // per_min, healthy, total, failing)})
    tests: list[dict[str, object]] = []
    never, checked = [], 0
    for m in plan.models:
        budget = m.objective("availability").budget  # type: ignore[union-attr]
        for pair in PAGE_PAIRS:
            expr = (f'count(ALERTS{{alertname="ErrorBudgetBurn", alertstate="firing", model="{m.name}", '
                    f'long_window="{pair.long}"}})')
            after = explain.outage_time(pair, budget, plan.slo_window, interval)
            if after is None:
                never.append((m.name, str(pair.long)))
                tests.append({"expr": expr, "eval_time": f"{total * interval.ms // 1000}s", "exp_samples": []})
                continue
            fires = healthy * interval.ms + after.ms - (0 if alerts_first else interval.ms)
            if fires > total * interval.ms:
                continue  # lax's 6h pair takes hours: beyond the series
            checked += 1
            tests.append({"expr": expr, "eval_time": f"{(fires - interval.ms) // 1000}s", "exp_samples": []})
            tests.append({"expr": expr, "eval_time": f"{fires // 1000}s",
                          "exp_samples": [{"labels": "{}", "value": 1}]})
    assert never == [("lax", "1h")], "14.4 × a 7% budget is above 100%: that pair can never fire"
    assert checked == 4
    test_file = tmp_path / "outage.test.yaml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(rules_file.relative_to(tmp_path))], "evaluation_interval": step,
        "group_eval_order": order,
        "tests": [{"interval": step, "input_series": series, "promql_expr_test": tests}]}), encoding="utf-8")

    done = promtool("test", "rules", str(test_file), cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr


def test_outage_times_of_the_example_at_one_minute() -> None:
    e = explain.explain(plan_of(EXAMPLE), "specs/example.yaml")
    burns = {s.title: next(t for t in s.tables if t.title.startswith("Burn-rate")) for s in e.sections
             if s.title.startswith("Model")}

    rows = {(r[0], r[1]): r[-1] for r in burns["Model llama-3-70b"].rows}
    assert rows[("availability", "1h and 5m")] == "3m"  # with the windows' edge term (llmmon.slo.edge_weight)
    assert rows[("availability", "6h and 30m")] == "4m"  # the page pair (was 6m): listed after the 6h/30m ticket
    qwen = {(r[0], r[1]): r[-1] for r in burns["Model qwen2-7b"].rows}
    assert qwen[("availability", "1h and 5m")] == "6m"  # 99.5%: was 8m without the edge term


def test_a_pair_that_can_never_fire_is_shown_as_never_with_a_warning(tmp_path: Path) -> None:
    e = explain.explain(plan_from_text(tmp_path, PAGES), "spec.yaml")

    assert any("lax: the availability 1h/5m pair can never fire" in w for w in e.warnings)
    text = explain.markdown(e)
    assert "| availability | 1h and 5m | 14.4× | 100% | 2% | 0s | critical → pager | never |" in text
    assert "> **Warning:** lax: the availability 1h/5m pair can never fire" in text


def test_the_markdown_plan_of_the_example_has_budgets_alerts_receivers_and_page_times() -> None:
    text = explain.markdown(explain.explain(plan_of(EXAMPLE), "specs/example.yaml"))

    assert text.startswith("## llmmon plan of llm-platform\n\n- spec file: specs/example.yaml\n")
    assert "| critical | 10m | oncall-pager | PagerDuty |" in text
    assert "| warning | 5m | team-chat | Slack #llm-alerts |" in text
    assert "| availability | 99.9% of requests succeed | 0.1% of requests | 43.2 min |" in text
    assert "| latency | 99% of requests finish within 2s | 1% of requests | 432 min (7.2 h) |" in text
    assert "| HighErrorRate | more than 1% of requests failed over 5m | 1% | 10m | critical | oncall-pager |" in text
    assert ("| LowThroughput | fewer than 5 requests/s over 5m, after traffic in the last hour | 5 req/s | 5m | "
            "warning | team-chat |") in text
    assert "| availability | 1h and 5m | 14.4× | 1.44% | 2% | 0s | critical → oncall-pager | 3m |" in text
    assert "| availability | 3d and 6h | 1× | 0.5% | 10% | 15m | warning → team-chat | 40m |" in text
    assert text.count("### Model ") == 2
    assert text.endswith("_\n")


def test_markdown_cells_escape_pipes_and_keep_one_line(tmp_path: Path) -> None:
    spec = PAGES.replace("{name: strict,", '{name: strict, served_name: "org/a|b",')
    text = explain.markdown(explain.explain(plan_from_text(tmp_path, spec), "spec.yaml"))

    assert "model_name=org/a\\|b" in text
    assert "a|b" not in text


def test_explain_prints_tables_in_a_terminal_and_markup_in_names_stays_text(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(PAGES.replace("{name: strict,", '{name: strict, served_name: "[bold]x[/bold]",'),
                    encoding="utf-8")
    result = invoke("explain", str(spec))

    assert result.exit_code == ExitCode.OK, result.stderr
    assert "llmmon plan of pages" in result.stdout
    assert "ErrorBudgetBurn" in result.stdout
    assert "[bold]x[/bold]" in result.stdout
    assert "never" in result.stdout
    assert "─" * 20 in result.stdout  # the rule under a table's header


def test_explain_markdown_is_what_the_library_renders_and_byte_stable() -> None:
    runs = {invoke("explain", "specs/example.yaml", "--format", "markdown").stdout for _ in range(2)}

    assert runs == {explain.markdown(explain.explain(plan_of(EXAMPLE), "specs/example.yaml"))}


def test_explain_with_a_30s_interval_gives_the_shorter_times() -> None:
    result = invoke("explain", "specs/example.yaml", "--format", "markdown", "--interval", "30s")

    assert result.exit_code == ExitCode.OK
    assert "| availability | 1h and 5m | 14.4× | 1.44% | 2% | 0s | critical → oncall-pager | 2m |" in result.stdout
    assert "every 30s" in result.stdout


@pytest.mark.parametrize("interval", ["45s", "7m", "4", "0s"])
def test_an_interval_that_does_not_divide_five_minutes_exits_two(interval: str) -> None:
    result = invoke("explain", "specs/example.yaml", "--interval", interval)

    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("llmmon explain: --interval: ")


def test_explain_of_a_bad_spec_exits_two_with_file_line_col(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace("engine: vllm", "engine: vlm", 1), encoding="utf-8")
    result = invoke("explain", str(bad))

    assert result.exit_code == ExitCode.USAGE
    assert f"{bad}:" in result.stderr
    assert "did you mean 'vllm'?" in result.stderr
    assert result.stdout == ""


# --- a terminal of 80 columns ------------------------------------------------------------------------------------


def _terminal(spec: Path, columns: int) -> str:
    import subprocess
    import sys

    env = {"COLUMNS": str(columns), "PATH": "/usr/bin:/bin", "TERM": "dumb"}
    done = subprocess.run([sys.executable, "-m", "llmmon", "explain", str(spec)], env=env, capture_output=True,
                          text=True, check=True, timeout=120)
    return done.stdout


def _whole_words(text: str, markdown: str) -> list[str]:
    """Words of the terminal output that are not words of the Markdown plan: a split word leaves pieces."""
    words = markdown.replace("|", " ").split()
    allowed = {*words, *(w.strip("_*") for w in words)}
    allowed |= {w.rstrip(":") for w in allowed} | {"-", "Models", "The", "same", "objectives", "and", "alerts",
                                                    "for", "these", "models:"}
    return [w for w in text.split() if w not in allowed and w.rstrip(":,") not in allowed and set(w) != {"─"}]


@pytest.mark.parametrize("columns", [80, 60, 120])
def test_explain_fits_the_terminal_width_and_never_splits_a_word(columns: int) -> None:
    text = _terminal(EXAMPLE, columns)
    markdown = explain.markdown(explain.explain(plan_of(EXAMPLE), str(EXAMPLE)))

    assert max(len(line) for line in text.splitlines()) <= columns
    assert _whole_words(text, markdown) == []
    for word in ("critical", "availability", "HighInferenceLatency", "oncall-pager", "ErrorBudgetBurn"):
        assert word in re.findall(r"[\w-]+", text), word


def test_models_with_the_same_plan_share_one_set_of_tables(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    first = data["models"][0]
    data["models"] = [first, {**first, "name": "llama-3-70b-b", "pods": "llama-3-70b-b-.*"},
                      {**first, "name": "llama-3-70b-c", "pods": "llama-3-70b-c-.*"}]
    first["pods"] = "llama-3-70b-[0-9]+"
    for i, model in enumerate(data["models"]):
        model["served_name"] = f"org/model-{i}"
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    text = _terminal(spec, 80)

    assert "Models llama-3-70b, llama-3-70b-b, llama-3-70b-c ─" in text
    assert "The same objectives and alerts for these 3 models:" in text
    assert text.count("Burn-rate alerts (ErrorBudgetBurn)") == 1
    assert all(f"model_name=org/model-{i}" in text for i in range(3))  # each model's own facts stay
    assert max(len(line) for line in text.splitlines()) <= 80
