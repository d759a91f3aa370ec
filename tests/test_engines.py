"""Engine presets: their rules are fed each engine's own metric names, and check-metrics reads real scrapes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from helpers import ROOT, generate, plan_from_text, plan_of, promtool
from llmmon import metrics_check
from llmmon.cli import app
from llmmon.compiler import load
from llmmon.diagnostics import Severity
from llmmon.engines import PRESETS
from llmmon.generate import build

EXPOSITIONS = ROOT / "tests" / "expositions"
ENGINES = sorted(PRESETS)
# Series the generated tests add that do not come from the serving engine.
FOREIGN = ("DCGM_", "nvidia_smi_", "kube_pod_info", "container_cpu_usage_seconds_total", "kube_pod_status_phase",
           "kube_pod_status_ready", "kube_pod_container_status_restarts_total")
SCRAPE_LABELS = {"namespace", "pod"}  # added by Prometheus' Kubernetes discovery, not by the engine
_SERIES = re.compile(r"^(?P<name>[^{]+)\{(?P<labels>.*)\}$")


def _generated_series(engine: str) -> dict[str, set[str]]:
    bundle = build(plan_of(ROOT / "specs" / f"{engine}.yaml"))
    seen: dict[str, set[str]] = {}
    for path, text in bundle.files.items():
        if path.startswith("prometheus/tests/"):
            for group in yaml.safe_load(text)["tests"]:
                for item in group["input_series"]:
                    match = _SERIES.match(item["series"])
                    assert match, item["series"]
                    labels = set(re.findall(r'(\w+)="', match["labels"]))
                    seen.setdefault(match["name"], set()).update(labels)
    return {name: labels for name, labels in seen.items() if not name.startswith(FOREIGN)}


@pytest.mark.parametrize("engine", ENGINES)
def test_every_engine_has_a_spec_and_a_scrape_sample(engine: str) -> None:
    assert (ROOT / "specs" / f"{engine}.yaml").is_file()
    assert (EXPOSITIONS / f"{engine}.txt").is_file()


@pytest.mark.parametrize("engine", ENGINES)
def test_generated_tests_feed_exactly_the_names_and_labels_the_engine_exposes(engine: str) -> None:
    samples, _ = metrics_check.parse((EXPOSITIONS / f"{engine}.txt").read_text())
    unverified = PRESETS[engine].unverified_metrics()
    for name, labels in _generated_series(engine).items():
        if re.sub(r"_(bucket|count|sum)$", "", name) in unverified:  # `llmmon engines` marks them "yes?"
            continue
        exposed = metrics_check._series(samples, name)
        assert exposed, f"{engine}: the generated tests feed {name}, which the engine does not expose"
        known = set().union(*(s.keys() for s in exposed)) | SCRAPE_LABELS
        assert labels <= known, f"{engine}: {name} carries {labels - known}, which the engine does not set"


@pytest.mark.parametrize("engine", ENGINES)
def test_a_signal_marked_unverified_is_absent_from_the_engines_scrape_sample(engine: str) -> None:
    """Once a sample shows the series, the mark must go: `llmmon engines` would understate what is known."""
    samples, _ = metrics_check.parse((EXPOSITIONS / f"{engine}.txt").read_text())
    for name in PRESETS[engine].unverified_metrics():
        found = [n for n in (name, name + "_count", name + "_total") if metrics_check._series(samples, n)]
        assert not found, f"{engine}: {name} is in the scrape sample: drop its signal from `unverified`"


@pytest.mark.parametrize("engine", ENGINES)
def test_check_metrics_passes_on_the_engines_own_scrape(engine: str) -> None:
    plan = plan_of(ROOT / "specs" / f"{engine}.yaml")
    first = plan.models[0].name
    rows = metrics_check.check(plan, (EXPOSITIONS / f"{engine}.txt").read_text(), first)
    assert rows and not [r for r in rows if r.status in metrics_check.FAILING], metrics_check.render(rows)


def _vllm(tmp_path: Path, text: str) -> tuple[int, str]:
    scrape = tmp_path / "scrape.txt"
    scrape.write_text(text)
    result = CliRunner().invoke(app, ["check-metrics", str(ROOT / "specs/vllm.yaml"), "--metrics-file", str(scrape),
                                      "--model", "llama-3-70b"])
    return result.exit_code, result.stdout


def test_check_metrics_flags_a_missing_metric(tmp_path: Path) -> None:
    text = "\n".join(line for line in (EXPOSITIONS / "vllm.txt").read_text().splitlines()
                     if "vllm:prompt_tokens" not in line) + "\n"
    code, out = _vllm(tmp_path, text)
    assert code == 1
    assert re.search(r"llama-3-70b\s+input tokens\s+vllm:prompt_tokens_total\s+missing\s+not exposed", out)


def test_check_metrics_flags_a_deprecated_vllm_metric(tmp_path: Path) -> None:
    text = (EXPOSITIONS / "vllm.txt").read_text() + (
        "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage.\n# TYPE vllm:gpu_cache_usage_perc gauge\n"
        'vllm:gpu_cache_usage_perc{engine="0",model_name="meta-llama/Meta-Llama-3-70B-Instruct"} 0.4\n')
    code, out = _vllm(tmp_path, text)
    assert code == 0  # llmmon relies on the new name, which is there too
    assert re.search(r"vllm:gpu_cache_usage_perc\s+deprecated\s+the V0-era name",
                     out)


def test_check_metrics_flags_a_threshold_that_is_not_a_scraped_bucket(tmp_path: Path) -> None:
    text = "\n".join(line for line in (EXPOSITIONS / "vllm.txt").read_text().splitlines()
                     if 'e2e_request_latency_seconds_bucket' not in line or 'le="5.0"' not in line) + "\n"
    code, out = _vllm(tmp_path, text)
    assert code == 1
    assert "threshold 5s is not a bucket of the scraped histogram (nearest: 2.5s, 10s)" in out


def test_check_metrics_refuses_text_that_is_not_an_exposition(tmp_path: Path) -> None:
    code, _ = _vllm(tmp_path, "this is { not metrics\n")
    assert code == 2


SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {{name: engines, runbook_base_url: "https://runbooks.example.com"}}
defaults: {{namespace: serving}}
models:
  - {{name: m, engine: {engine}, {extra}}}
alert_tiers:
  critical: {{for: 5m, receiver: p}}
  warning: {{for: 5m, receiver: p}}
  info: {{for: 5m, receiver: p}}
receivers: {{p: {{webhook: {{url: "http://hook.example/alerts"}}}}}}
gpu_exporter: {{kind: none}}
"""


@pytest.mark.parametrize(("engine", "extra", "expected"), [
    ("tgi", "slo: {ttft: {threshold: 1s, target: 95}}", "engine tgi has no time-to-first-token histogram"),
    ("triton", "slo: {latency: {threshold: 2s, target: 99}}",
     "engine triton has no end-to-end latency histogram, so a latency SLO cannot be measured"),
    ("tgi", "alerts: {ttft_p95: {threshold: 1s}}",
     "engine tgi has no time-to-first-token histogram, so alert ttft_p95"),
    ("tgi", "slo: {latency: {threshold: 2s, target: 99}}",
     "2s is not a bucket of tgi_request_duration (nearest: 1.68341, 2.52512)"),
])
def test_asking_an_engine_for_a_signal_it_lacks_is_a_spec_error(tmp_path: Path, engine: str, extra: str,
                                                                 expected: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(engine=engine, extra=extra))
    plan, diagnostics = load(path, "spec.yaml")
    assert plan is None
    assert any(expected in d.render() and d.severity is Severity.ERROR for d in diagnostics), \
        [d.render() for d in diagnostics]


def test_the_triton_latency_alert_compares_the_mean_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(engine="triton", extra="alerts: {latency_p99: {threshold: 3s}}"))
    plan, diagnostics = load(path, "spec.yaml")
    assert plan is not None
    assert any("compares the mean latency" in d.message and d.severity is Severity.WARNING for d in diagnostics)
    alert = next(r for r in build(plan).ruleset.rules if r.get("alert") == "HighInferenceLatency")
    assert "model:llm_request_duration_seconds:mean" in alert["expr"]


def test_tgi_selects_series_by_pod_because_it_has_no_model_label(tmp_path: Path) -> None:
    plan = plan_from_text(tmp_path, SPEC.format(engine="tgi", extra="pods: 'tgi-m-[0-9]+'"))
    rules = {r["record"]: r["expr"] for r in build(plan).ruleset.rules if "record" in r}
    # the pod regex runs once, in the pods' map to models, and every series without a model label joins to it
    selected = ('{__name__=~"tgi_batch_current_size|tgi_queue_size|tgi_request_count", namespace="serving", '
                'pod=~"tgi-m-[0-9]+"}')
    assert selected in rules["llmmon:engine_pod_model_present"]
    assert '"model", "m"' in rules["llmmon:engine_pod_model_present"]
    assert "tgi_request_count{namespace=~\"serving\"}" in rules["model:llm_requests:rate5m"]
    assert 'group_left (model)\n  llmmon:engine_pod_model_info{' in rules["model:llm_requests:rate5m"]
    reading = [expr for name, expr in rules.items() if "tgi_" in expr and name != "llmmon:engine_pod_model_present"]
    assert len(reading) > 10 and not [expr for expr in reading if "pod=~" in expr]


def test_an_alert_left_out_for_every_model_of_an_engine_is_one_warning_naming_them(tmp_path: Path) -> None:
    """Only llmmon's defaults asked for a TTFT alert TGI cannot evaluate: one warning, at the first model, not one
    a model (a fleet of 100 TGI models printed 100 identical lines at every validate)."""
    path = tmp_path / "spec.yaml"
    fleet = "\n".join(f"  - {{name: m{i}, engine: tgi}}" for i in range(5))
    path.write_text(SPEC.format(engine="tgi", extra="namespace: serving").replace(
        "  - {name: m, engine: tgi, namespace: serving}", fleet), encoding="utf-8")
    plan, diagnostics = load(path, "spec.yaml")
    assert plan is not None and len(plan.models) == 5
    [warning] = [d for d in diagnostics if "ttft_p95" in d.message]
    assert warning.severity is Severity.WARNING and (warning.line, warning.path) == (6, "models.0")
    assert warning.message == ("models 'm0', 'm1', 'm2' and 2 more: engine tgi has no time-to-first-token "
                               "histogram: alert ttft_p95 is left out")
    path.write_text(SPEC.format(engine="tgi", extra="namespace: serving"), encoding="utf-8")
    assert [d.message for d in load(path, "spec.yaml")[1] if "ttft_p95" in d.message] == [
        "model 'm': engine tgi has no time-to-first-token histogram: alert ttft_p95 is left out"]


@pytest.mark.parametrize("spec", sorted(p.name for p in (ROOT / "specs").glob("*.yaml")))
def test_the_shipped_specs_warn_only_about_what_their_engine_cannot_measure(spec: str) -> None:
    """A newcomer's first `validate` of a spec we ship is clean: secrets where the Prometheus Operator mounts them,
    and a warning only where the engine lacks a signal the defaults ask for (TGI's TTFT, Triton's p99)."""
    plan, diagnostics = load(ROOT / "specs" / spec, spec)
    assert plan is not None
    assert [d.render() for d in diagnostics if "engine " not in d.message] == []


def test_the_engines_command_lists_every_preset_and_signal() -> None:
    result = CliRunner().invoke(app, ["engines"])
    assert result.exit_code == 0
    header = result.stdout.splitlines()[0].split()
    assert header == ["signal", *PRESETS]
    assert re.search(r"^ttft\s+yes\s+yes\s+-\s+yes\s+yes\s+yes$", result.stdout, re.M)


# -- issue 14: versions, validate on bucket sets, matchers -------------------------------------------------------

def _write(tmp_path: Path, engine: str, extra: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(engine=engine, extra=extra))
    return path


def test_two_versions_of_one_engine_in_one_namespace_record_apart(tmp_path: Path) -> None:
    """A rolling upgrade: one model pinned to vLLM 0.8, one on the current preset, both in one namespace. Each
    version's groups label what they record with the version (`vllm-0.8`), as the engine group always did: with
    the bare engine name, 20 rules of the two versions shared a name and labels (promtool's duplicate-rules lint
    refused the file), and the LoRA split of the namespace was recorded twice, as one series from two rules."""
    text = SPEC.format(engine="vllm", extra='engine_version: "0.8"').replace(
        "  - {name: m, engine: vllm, engine_version: \"0.8\"}",
        "  - {name: m, engine: vllm, engine_version: \"0.8\"}\n  - {name: n, engine: vllm}")
    plan = plan_from_text(tmp_path, text)
    assert [m.engine.key for m in plan.models] == ["vllm-0.8", "vllm"]
    generate(plan, tmp_path / "out")
    done = promtool("check", "rules", "--lint=duplicate-rules", "--lint-fatal",
                    str(tmp_path / "out/prometheus/rules/engines.rules.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_validate_refuses_a_ttft_alert_past_the_last_bucket_of_the_declared_vllm_version(tmp_path: Path) -> None:
    spec = _write(tmp_path, "vllm", 'engine_version: "0.5", alerts: {ttft_p95: {threshold: 15s}}')
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", str(spec), "-o", str(out)])
    assert result.exit_code == 2
    assert not out.exists()
    assert ("ttft_p95 threshold 15s can never be exceeded: the largest bucket of vllm:time_to_first_token_seconds in "
            "vllm 0.5 is 10s, and histogram_quantile never returns more (nearest buckets: 7.5, 10)") in result.stderr


def test_the_same_ttft_alert_is_fine_for_a_vllm_version_with_longer_buckets(tmp_path: Path) -> None:
    plan, diagnostics = load(_write(tmp_path, "vllm", 'engine_version: "0.10", alerts: {ttft_p95: {threshold: 15s}}'),
                             "spec.yaml")
    assert plan is not None, [d.render() for d in diagnostics]


def test_a_latency_slo_off_the_buckets_of_vllm_0_5_is_refused_with_the_nearest(tmp_path: Path) -> None:
    plan, diagnostics = load(_write(tmp_path, "vllm", 'engine_version: "0.5", slo: {latency: {threshold: 2s, '
                                                      'target: 99}}'), "spec.yaml")
    assert plan is None
    assert any("2s is not a bucket of vllm:e2e_request_latency_seconds (nearest: 1, 2.5)" in d.render()
               for d in diagnostics)


@pytest.mark.parametrize(("extra", "expected"), [
    ('engine_version: "0.3"', "engine vllm has no preset for version '0.3' (known versions: 0.5, 0.8, 0.10)"),
    ("engine_version: 0.10", 'quote the version, e.g. "0.10": YAML reads 0.1 as a number'),
])
def test_an_unknown_or_unquoted_engine_version_is_a_spec_error(tmp_path: Path, extra: str, expected: str) -> None:
    plan, diagnostics = load(_write(tmp_path, "vllm", extra), "spec.yaml")
    assert plan is None
    assert any(expected in d.render() for d in diagnostics), [d.render() for d in diagnostics]


def test_models_of_two_vllm_versions_get_rule_sets_of_their_own(tmp_path: Path) -> None:
    spec = _write(tmp_path, "vllm", 'engine_version: "0.5"')
    spec.write_text(spec.read_text().replace('engine_version: "0.5"}\n',
                                             'engine_version: "0.5"}\n  - {name: n, engine: vllm}\n'))
    plan, diagnostics = load(spec, "spec.yaml")
    assert plan is not None, [d.render() for d in diagnostics]
    rules = build(plan).files["prometheus/rules/engines.rules.yaml"]
    groups = [g["name"] for g in yaml.safe_load(rules)["groups"]]
    assert "llmmon-engines-engine-vllm-0.5" in groups and "llmmon-engines-engine-vllm" in groups


def test_check_metrics_honours_negative_matchers_on_a_tgi_page(tmp_path: Path) -> None:
    """Mismatch 6 of issue 14: the only failure series is err="validation", which the rules exclude."""
    page = tmp_path / "tgi.txt"
    page.write_text("# TYPE tgi_request_count counter\ntgi_request_count 40\n"
                    '# TYPE tgi_request_failure counter\ntgi_request_failure{err="validation"} 2\n')
    result = CliRunner().invoke(app, ["check-metrics", str(ROOT / "specs/tgi.yaml"), "--metrics-file", str(page),
                                      "--format", "json"])
    rows = [r for r in json.loads(result.stdout)["rows"] if r["signal"] == "errors"]
    assert [r["status"] for r in rows] == ["none yet (read as 0)"]
    assert "exposed only as err='validation', which the rules do not count" in rows[0]["detail"]


@pytest.mark.parametrize(("labels", "matchers", "expected"), [
    ({"err": "validation"}, [("err", "!=", "validation")], False),
    ({"err": "generation"}, [("err", "!=", "validation")], True),
    ({}, [("err", "!=", "validation")], True),
    ({"handler": "/v1/completions"}, [("handler", "=~", "/v1/.*")], True),
    ({"handler": "/metrics"}, [("handler", "=~", "/v1/.*")], False),
    ({"error_type": ""}, [("error_type", "=~", ".+")], False),
    ({"status": "5xx"}, [("status", "!~", "5..")], False),
    ({"status": "2xx"}, [("status", "!~", "5..")], True),
    ({"status": "2xx"}, [("status", "=", "5xx")], False),
])
def test_check_metrics_applies_matchers_as_prometheus_does(labels: dict[str, str], matchers: list[tuple[str, str, str]],
                                                          expected: bool) -> None:
    assert metrics_check.matches(labels, matchers) is expected


def test_llmmon_engines_shows_every_version_and_what_counts_as_an_error() -> None:
    result = CliRunner().invoke(app, ["engines"])
    assert result.exit_code == 0
    out = result.stdout
    for text in ('vllm 0.5: vLLM 0.4-0.6 (V0 engine)', 'vllm 0.10 (default)', 'sglang 0.4: SGLang 0.4',
                 'errors         http_requests_total{method="POST", status="5xx", handler=~"/v1/.*"} (by pod)',
                 "verified       tests/expositions/real/vllm-0.5.txt",
                 "kv_cache       vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc"):
        assert text in out, text
    for real in re.findall(r"tests/expositions/real/([\w.-]+\.txt)", out):
        assert (EXPOSITIONS / "real" / real).is_file(), real


def test_llmmon_engines_says_which_real_pages_are_fragments() -> None:
    """A variant's "verified" line names each real page with what it shows; a fragment is called one, and only a
    page whose provenance header says FRAGMENT is."""
    from llmmon.engines import variants

    seen = set()
    for engine in ENGINES:
        for variant in variants(engine):
            for entry in variant.verified:
                match = re.fullmatch(r"([\w.-]+\.txt) \((.+)\)", entry)
                assert match, f"{engine} {variant.version}: {entry!r} is not '<file> (<what it shows>)'"
                page, scope = match.groups()
                header = [line for line in (EXPOSITIONS / "real" / page).read_text().splitlines()
                          if line.startswith("#")][:8]
                fragment = any(line.startswith("# FRAGMENT") for line in header)
                assert scope.startswith("fragment") is fragment, (page, scope)
                seen.add(page)
    assert seen == {p.name for p in (EXPOSITIONS / "real").glob("*.txt")}, "a real page no preset cites"


def test_check_metrics_sends_an_edge_counted_model_to_the_proxys_page(tmp_path: Path) -> None:
    spec = _write(tmp_path, "vllm", "errors: {source: istio}")
    result = CliRunner().invoke(app, ["check-metrics", str(spec), "--metrics-file",
                                      str(EXPOSITIONS / "real" / "vllm-0.10-v1.txt"), "--format", "json"])
    rows = {r["signal"]: r for r in json.loads(result.stdout)["rows"]}
    assert "errors" not in rows
    assert rows["requests (edge)"]["status"] == "on another page"
    assert "counted by istio" in rows["requests (edge)"]["detail"]


def test_the_version_is_read_only_from_the_models_own_series(tmp_path: Path) -> None:
    """A page of another model says nothing about this model's engine version."""
    result = CliRunner().invoke(app, ["check-metrics", str(ROOT / "specs/vllm.yaml"), "--metrics-file",
                                      str(EXPOSITIONS / "real" / "vllm-0.5.txt"), "--model", "llama-3-70b",
                                      "--format", "json"])
    rows = {r["signal"]: r for r in json.loads(result.stdout)["rows"]}
    assert rows["version"]["status"] == "unknown"
