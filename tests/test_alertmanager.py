"""Alertmanager: the generated config checked by the real amtool, routed by the real amtool for each tier, and
run by the real Alertmanager to prove the inhibit rule and the grouping."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import versions
import yaml
from specvariants import diagnostics_with, files_with, plan_with

from bench.promserver import free_port
from helpers import ROOT, generate
from llmmon.checks import alertmanager, telemetry
from llmmon.emit.alertmanager import template_literal
from llmmon.generate import build

OUT = ROOT / "out"
CONFIG_FILE = OUT / "alertmanager/alertmanager.yaml"
CONFIG = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
AMTOOL = shutil.which("amtool")
DASHBOARD = "https://grafana.example.com/d/llm-platform-sre?var-model=qwen2-7b&var-cluster=prod-gpu-1"
SERVER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
needs_amtool = pytest.mark.skipif(AMTOOL is None, reason="amtool is not installed (`make tools` installs it)")


def amtool(*args: str, binary: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real amtool: Debian's on PATH, or `binary` (an alertmanager_release's: tests/versions.py)."""
    assert binary or AMTOOL
    return subprocess.run([binary or AMTOOL or "", *args], capture_output=True, text=True, timeout=60, check=False)


def routes(config: Path, binary: str | None = None, **labels: str) -> str:
    done = amtool("config", "routes", "test", f"--config.file={config}", *[f"{k}={v}" for k, v in labels.items()],
                  binary=binary)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _receiver(config: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in config["receivers"] if r["name"] == name)
    return found


# --- the golden config, by amtool --------------------------------------------------------------------------------


def test_amtool_accepts_the_golden_config(alertmanager_release: versions.AlertmanagerRelease) -> None:
    done = amtool("check-config", str(CONFIG_FILE), binary=alertmanager_release.amtool)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(("severity", "receiver"), [
    ("critical", "oncall-pager"), ("warning", "team-chat"), ("info", "ticket-queue")])
def test_amtool_routes_each_tier_to_its_receiver(severity: str, receiver: str,
                                                 alertmanager_release: versions.AlertmanagerRelease) -> None:
    labels = {"alertname": "HighErrorRate", "model": "qwen2-7b", "llmmon_spec": "llm-platform",
              "cluster": "prod-gpu-1", "severity": severity}
    assert routes(CONFIG_FILE, alertmanager_release.amtool, **labels) == receiver
    done = amtool("config", "routes", "test", f"--config.file={CONFIG_FILE}", f"--verify.receivers={receiver}",
                  *[f"{k}={v}" for k, v in labels.items()], binary=alertmanager_release.amtool)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_alert_of_the_spec_without_a_known_severity_reaches_chat_and_pages_nobody(
        alertmanager_release: versions.AlertmanagerRelease) -> None:
    assert routes(CONFIG_FILE, alertmanager_release.amtool, alertname="SomethingElse",
                  llmmon_spec="llm-platform") == "team-chat"


@pytest.mark.parametrize("labels", [
    {"alertname": "Watchdog", "severity": "none"}, {"alertname": "InfoInhibitor", "severity": "none"},
    {"alertname": "KubeNodeNotReady", "severity": "critical"}, {"alertname": "HighErrorRate", "severity": "critical"},
    {"alertname": "HighErrorRate", "severity": "critical", "llmmon_spec": "another-spec"},
    {"alertname": "Watchdog", "severity": "none", "llmmon_spec": "llm-platform"}])
def test_other_teams_alerts_and_the_watchdog_reach_none_of_the_specs_receivers(
        labels: dict[str, str], alertmanager_release: versions.AlertmanagerRelease) -> None:
    assert routes(CONFIG_FILE, alertmanager_release.amtool, **labels) == "null"


@needs_amtool
def test_catch_all_is_opt_in_and_still_leaves_the_watchdog_alone(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["alertmanager"] = {"mode": "standalone", "catch_all": "team-chat"}

    path = tmp_path / "am.yaml"
    path.write_text(files_with(tmp_path, change)["alertmanager/alertmanager.yaml"], encoding="utf-8")
    assert routes(path, alertname="KubeNodeNotReady", severity="critical") == "team-chat"
    assert routes(path, alertname="Watchdog", severity="none") == "null"
    assert routes(path, alertname="HighErrorRate", severity="critical", llmmon_spec="llm-platform") == "oncall-pager"


def test_tiers_repeat_at_intervals_fitting_their_urgency_and_group_by_alert_and_model() -> None:
    assert CONFIG["route"]["group_by"][:2] == ["alertname", "model"]
    route = CONFIG["route"]["routes"][1]
    assert route["matchers"] == ['llmmon_spec="llm-platform"']
    repeat = {r["matchers"][0]: r["repeat_interval"] for r in route["routes"]}
    assert repeat == {'severity="critical"': "1h", 'severity="warning"': "4h", 'severity="info"': "24h"}


def test_secrets_are_only_file_paths() -> None:
    assert _receiver(CONFIG, "oncall-pager")["pagerduty_configs"][0]["routing_key_file"] == \
        "/etc/alertmanager/secrets/llm-alerting/pagerduty-routing-key"
    slack = _receiver(CONFIG, "team-chat")["slack_configs"][0]
    assert slack["api_url_file"] == "/etc/alertmanager/secrets/llm-alerting/slack-webhook-url"
    assert alertmanager.own_rules(CONFIG) == []


def test_in_standalone_mode_a_secret_manifest_carries_the_same_config(tmp_path: Path) -> None:
    files = files_with(tmp_path, lambda d: d.update(alertmanager={"mode": "standalone"}))
    manifest = yaml.safe_load(files["kubernetes/llm-platform-alertmanager.yaml"])
    assert (manifest["kind"], manifest["type"]) == ("Secret", "Opaque")
    assert manifest["metadata"]["name"] == "llm-platform-alertmanager"
    assert manifest["stringData"]["alertmanager.yaml"] == files["alertmanager/alertmanager.yaml"]
    assert "kubernetes/llm-platform-alertmanagerconfig.yaml" not in files


def test_in_operator_mode_no_secret_replaces_the_charts_whole_config() -> None:
    assert not (OUT / "kubernetes/llm-platform-alertmanager.yaml").exists()
    assert (OUT / "kubernetes/llm-platform-alertmanagerconfig.yaml").is_file()


@needs_amtool
def test_every_receiver_kind_maps_to_fields_alertmanager_0_25_accepts(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["receivers"] = {"pager": {"pagerduty": {"service_key_file": "/run/secrets/pd-service-key"}},
                          "chat": {"slack": {"api_url_file": "/run/secrets/slack"}},
                          "hook": {"webhook": {"url": "https://hooks.example.com/alerts"}},
                          "spare": {"webhook": {"url": "https://spare.example.com/"}}}
        d["alert_tiers"] = {"critical": {"for": "2m", "receiver": "hook"},
                            "warning": {"for": "5m", "receiver": "pager"},
                            "info": {"for": "30m", "receiver": "chat"}}

    path = tmp_path / "am.yaml"
    path.write_text(files_with(tmp_path, change)["alertmanager/alertmanager.yaml"], encoding="utf-8")
    done = amtool("check-config", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert [r["name"] for r in config["receivers"]] == ["null", "chat", "hook", "pager"]  # the unused one is left out
    assert _receiver(config, "pager")["pagerduty_configs"][0]["service_key_file"] == "/run/secrets/pd-service-key"
    assert "channel" not in _receiver(config, "chat")["slack_configs"][0]
    own = {"llmmon_spec": "llm-platform"}
    assert (routes(path, severity="critical", **own), routes(path, severity="warning", **own),
            routes(path, severity="info", **own)) == ("hook", "pager", "chat")


# --- templates, rendered by amtool -------------------------------------------------------------------------------


def _render(tmp_path: Path, template: str, data: dict[str, Any] | None = None) -> str:
    glob = tmp_path / "none.tmpl"
    glob.write_text("")
    args = ["template", "render", f"--template.glob={glob}", f"--template.text={template}"]
    if data is not None:
        (tmp_path / "data.json").write_text(json.dumps(data))
        args.append(f"--template.data={tmp_path / 'data.json'}")
    done = amtool(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _data(severity: str) -> dict[str, Any]:
    labels = {"alertname": "HighErrorRate", "model": "qwen2-7b", "severity": severity, "llmmon_spec": "llm-platform"}
    annotations = {"summary": "qwen2-7b: requests failing above 1%", "description": "qwen2-7b fails 5% of requests",
                   "runbook_url": "https://runbooks.example.com/llm/higherrorrate", "dashboard_url": DASHBOARD}
    return {"receiver": "x", "status": "firing", "groupLabels": {}, "commonLabels": labels,
            "commonAnnotations": annotations, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": labels, "annotations": annotations,
                        "startsAt": "2030-01-01T00:00:00Z", "endsAt": "0001-01-01T00:00:00Z"}]}


@needs_amtool
def test_the_slack_message_shows_the_alert_its_description_and_runbook(tmp_path: Path) -> None:
    slack = _receiver(CONFIG, "team-chat")["slack_configs"][0]
    assert _render(tmp_path, slack["title"], _data("warning")) == "[FIRING] qwen2-7b: requests failing above 1%"
    assert _render(tmp_path, slack["title_link"], _data("warning")) == DASHBOARD
    assert _render(tmp_path, slack["text"], _data("warning")) == (
        "*qwen2-7b: requests failing above 1%*\nqwen2-7b fails 5% of requests\n"
        f"Runbook: https://runbooks.example.com/llm/higherrorrate\nDashboard: {DASHBOARD}\n")


@needs_amtool
def test_the_pagerduty_event_carries_the_summary_description_and_links(tmp_path: Path) -> None:
    pd = _receiver(CONFIG, "oncall-pager")["pagerduty_configs"][0]
    assert _render(tmp_path, pd["description"], _data("critical")) == "qwen2-7b: requests failing above 1%"
    assert _render(tmp_path, pd["details"]["description"], _data("critical")) == "qwen2-7b fails 5% of requests"
    assert [(_render(tmp_path, link["href"], _data("critical")), link["text"]) for link in pd["links"]] == [
        ("https://runbooks.example.com/llm/higherrorrate", "Runbook"), (DASHBOARD, "Dashboard")]


@needs_amtool
@pytest.mark.parametrize(("severity", "expected"), [
    ("critical", "critical"), ("warning", "warning"), ("info", "info"), ("page", "error")])
def test_the_pagerduty_severity_is_one_pagerduty_accepts(tmp_path: Path, severity: str, expected: str) -> None:
    template = _receiver(CONFIG, "oncall-pager")["pagerduty_configs"][0]["severity"]
    assert _render(tmp_path, template, _data(severity)) == expected


@needs_amtool
@pytest.mark.parametrize("channel", ['#llm{{ template "slack.default.text" . }}', "#a{{{b}}}", "#{{", "#plain"])
def test_a_slack_channel_from_the_spec_renders_literally_never_as_a_template(tmp_path: Path, channel: str) -> None:
    assert _render(tmp_path, template_literal(channel)) == channel


@needs_amtool
def test_a_hostile_channel_and_key_path_stay_inside_their_fields(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["receivers"]["team-chat"]["slack"]["channel"] = '#x"\n  api_url: http://evil'.replace("\n", " ")
        d["receivers"]["oncall-pager"]["pagerduty"]["routing_key_file"] = "/k\" routing_key: leaked #"

    path = tmp_path / "am.yaml"
    path.write_text(files_with(tmp_path, change)["alertmanager/alertmanager.yaml"], encoding="utf-8")
    assert amtool("check-config", str(path)).returncode == 0
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _receiver(config, "oncall-pager")["pagerduty_configs"][0]["routing_key_file"] == \
        "/k\" routing_key: leaked #"
    assert alertmanager.own_rules(config) == []


# --- the validate check catches broken files ---------------------------------------------------------------------


def _validate(tmp_path: Path, edit: Any) -> list[str]:
    plan = plan_with(tmp_path, lambda d: None)
    out = tmp_path / "out"
    bundle = generate(plan, out)
    target = out / telemetry.ALERTMANAGER
    target.write_text(edit(target.read_text(encoding="utf-8")), encoding="utf-8")
    return telemetry.routing(out, bundle, plan).findings


def test_validate_reports_what_amtool_check_config_rejects(tmp_path: Path, with_amtool: object) -> None:
    findings = _validate(tmp_path, lambda t: t.replace("  receiver: \"null\"\n", "  receiver: nobody\n", 1))
    assert any("amtool check-config" in f and "nobody" in f for f in findings), findings


def test_validate_reports_a_tier_routed_to_the_wrong_receiver(tmp_path: Path, with_amtool: object) -> None:
    findings = _validate(tmp_path, lambda t: t.replace("    - receiver: oncall-pager\n",
                                                       "    - receiver: ticket-queue\n"))
    assert any("severity=critical goes to ticket-queue, not to oncall-pager" in f
               for f in findings), findings


def test_validate_reports_an_inline_secret_and_a_missing_inhibit_rule(tmp_path: Path) -> None:
    def edit(text: str) -> str:
        text = text.replace("routing_key_file: /etc/alertmanager/secrets/llm-alerting/pagerduty-routing-key",
                            "routing_key: abc")
        critical = '      - "severity=\\"critical\\""\n      - "model=~\\".+\\""'
        return text.replace(critical, '      - "severity=\\"warning\\""')

    findings = _validate(tmp_path, edit)
    assert any("pagerduty_configs.0.routing_key: a secret written inline" in f for f in findings), findings
    assert any("no rule lets a model's critical alert silence" in f for f in findings), findings


# --- the real Alertmanager ---------------------------------------------------------------------------------------


@contextmanager
def running(config: Path, tmp: Path, server: str | None = None) -> Iterator[str]:
    """A real Alertmanager on 127.0.0.1 with the config (Debian's, or `server`: an alertmanager_release's);
    stopped (by its own PID) when the block ends."""
    assert server or SERVER
    url = f"http://127.0.0.1:{free_port()}"
    log = (tmp / "alertmanager.log").open("w")
    process = subprocess.Popen([server or SERVER or "", f"--config.file={config}", f"--storage.path={tmp / 'data'}",
                                f"--web.listen-address={url.removeprefix('http://')}", "--cluster.listen-address=",
                                "--log.level=warn"], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp / "alertmanager.log").read_text()) from None
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _api(url: str, path: str, body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}/api/v2/{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read()
    return json.loads(text) if text else None


def _alert(name: str, severity: str, model: str | None) -> dict[str, Any]:
    labels = {"alertname": name, "severity": severity, "cluster": "prod-gpu-1"}
    return {"labels": {**labels, **({"model": model, "llmmon_spec": "llm-platform"} if model else {})}}


def test_a_critical_alert_of_a_model_silences_its_warning_and_info_alerts_in_a_real_alertmanager(
        tmp_path: Path, alertmanager_release: versions.AlertmanagerRelease) -> None:
    alerts = [_alert("HighErrorRate", "critical", "llama-3-70b"),
              _alert("HighInferenceLatency", "warning", "llama-3-70b"),
              _alert("LowGPUUtilization", "info", "llama-3-70b"), _alert("HighInferenceLatency", "warning", "qwen2-7b"),
              _alert("KubeNodeNotReady", "critical", None), _alert("NodeDiskFilling", "warning", None)]
    with running(CONFIG_FILE, tmp_path, alertmanager_release.server) as url:
        _api(url, "alerts", alerts)
        # The inhibitor learns of a source alert on its own goroutine, after the POST has returned: read until
        # the two inhibited alerts show it (at most 100 reads), then check every state.
        for _ in range(100):
            states = {(a["labels"]["alertname"], a["labels"].get("model")): a["status"]["state"]
                      for a in _api(url, "alerts")}
            if list(states.values()).count("suppressed") >= 2:
                break
            time.sleep(0.05)
        groups = {(g["labels"].get("alertname"), g["labels"].get("model")): (g["receiver"]["name"], g["labels"])
                  for g in _api(url, "alerts/groups")}
    assert states == {
        ("HighErrorRate", "llama-3-70b"): "active",
        ("HighInferenceLatency", "llama-3-70b"): "suppressed",  # inhibited by the critical alert of its model
        ("LowGPUUtilization", "llama-3-70b"): "suppressed",
        ("HighInferenceLatency", "qwen2-7b"): "active",  # another model's critical alert does not silence it
        ("KubeNodeNotReady", None): "active",
        ("NodeDiskFilling", None): "active",  # a critical alert without a model silences nothing
    }
    assert groups[("HighErrorRate", "llama-3-70b")] == ("oncall-pager", {
        "alertname": "HighErrorRate", "model": "llama-3-70b", "cluster": "prod-gpu-1", "llmmon_spec": "llm-platform"})
    assert groups[("HighInferenceLatency", "qwen2-7b")][0] == "team-chat"
    assert groups[("LowGPUUtilization", "llama-3-70b")][0] == "ticket-queue"


def test_only_receivers_used_by_a_tier_are_written(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["receivers"]["unused"] = {"webhook": {"url": "https://unused.example.com/"}}

    plan = plan_with(tmp_path, change)
    config = yaml.safe_load(build(plan).files["alertmanager/alertmanager.yaml"])
    assert [r["name"] for r in config["receivers"]] == ["null", "oncall-pager", "team-chat", "ticket-queue"]


# --- operator mode: the AlertmanagerConfig ------------------------------------------------------------------------

AMCONFIG_FILE = OUT / "kubernetes/llm-platform-alertmanagerconfig.yaml"


def test_the_alertmanagerconfig_is_valid_against_the_operators_crd_schema() -> None:
    from llmmon.checks import crd_schema

    document = yaml.safe_load(AMCONFIG_FILE.read_text(encoding="utf-8"))
    assert crd_schema.problems(document) == []
    assert crd_schema.provenance("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig")["tag"] == "v0.93.0"
    document["spec"]["route"]["matchers"][0]["matchtype"] = "="
    document["spec"]["receivers"][0]["pagerdutyConfigs"][0]["routingKey"] = {"name": "llm-alerting"}
    assert crd_schema.problems(document) == [
        "spec.receivers.0.pagerdutyConfigs.0.routingKey: 'key' is a required property",
        "spec.route.matchers.0.matchtype: unknown field (not in the CRD)"]


def test_the_alertmanagerconfig_routes_only_the_specs_alerts_with_secret_key_references() -> None:
    spec = yaml.safe_load(AMCONFIG_FILE.read_text(encoding="utf-8"))["spec"]
    assert spec["route"]["matchers"] == [{"name": "llmmon_spec", "matchType": "=", "value": "llm-platform"}]
    assert {r["receiver"] for r in spec["route"]["routes"]} == {"oncall-pager", "team-chat", "ticket-queue"}
    pager = next(r for r in spec["receivers"] if r["name"] == "oncall-pager")["pagerdutyConfigs"][0]
    assert pager["routingKey"] == {"name": "llm-alerting", "key": "pagerduty-routing-key"}
    chat = next(r for r in spec["receivers"] if r["name"] == "team-chat")["slackConfigs"][0]
    assert chat["apiURL"] == {"name": "llm-alerting", "key": "slack-webhook-url"}
    assert all(m["value"] != "" for rule in spec["inhibitRules"] for m in rule["sourceMatch"] + rule["targetMatch"])


def test_kubectl_kustomize_builds_the_alertmanagerconfig() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (outside the project: Debian's is too old to ship by default)")
    done = subprocess.run([kubectl, "kustomize", str(OUT / "kubernetes")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    # kubectl prints `matchType: =` bare, which PyYAML (YAML 1.1's `=` value tag) cannot load: read it as text
    documents = done.stdout.split("\n---\n")
    assert any("\nkind: AlertmanagerConfig\n" in f"\n{d}" and "\n  name: llm-platform-routing\n" in d
               for d in documents), done.stdout[:2000]


def test_an_operator_secret_outside_the_mount_layout_is_a_warning(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["receivers"]["oncall-pager"]["pagerduty"]["routing_key_file"] = "/etc/alertmanager/secrets/pd-key"

    assert [line.split(": ", 1)[1] for line in diagnostics_with(tmp_path, change)] == [
        "warning: receivers.oncall-pager.pagerduty.routing_key_file: /etc/alertmanager/secrets/pd-key is not where "
        "the Prometheus Operator mounts a Secret (/etc/alertmanager/secrets/<secret>/<key>): the AlertmanagerConfig "
        "reads key 'pd-key' of Secret llm-platform-alerting instead (use "
        "/etc/alertmanager/secrets/llm-platform-alerting/pd-key or another /etc/alertmanager/secrets/<secret>/<key>)"]


def test_catch_all_needs_standalone_mode(tmp_path: Path) -> None:
    found = diagnostics_with(tmp_path, lambda d: d.update(alertmanager={"catch_all": "team-chat"}))
    assert [line.split(": ", 1)[1] for line in found] == [
        "alertmanager.catch_all: catch_all routes other rule sets' alerts, which an AlertmanagerConfig cannot do "
        "(the operator confines it to its own alerts) (set `mode: standalone`, or remove catch_all)"]
