"""Container logs: real-format CRI lines through the generated fluent.conf, every expression evaluated by Ruby.

tests/fluentd_pipeline.rb applies each plugin's documented behaviour to the values of the generated config; the
regular expressions (CRI line, serving-pod filter) and the record_transformer Ruby run in Ruby, as in Fluentd.
The records that come out must be records of the contract in llmmon.logrecord.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from specvariants import files_with

from helpers import ROOT
from llmmon import logrecord
from llmmon.checks import fluentd
from llmmon.checks.fluentconf import Element, parse

FIXTURES = ROOT / "tests" / "fixtures" / "cri"
LINES = [json.loads(line) for line in (FIXTURES / "lines.jsonl").read_text(encoding="utf-8").splitlines()]
CONF = (ROOT / "out" / "fluentd" / "fluent.conf").read_text(encoding="utf-8")
LLAMA = LINES[0]["path"]
pytestmark = pytest.mark.skipif(shutil.which("ruby") is None,
                                reason="ruby is not installed (`make tools` installs it as root)")


def _one(element: Element, name: str, type_: str | None = None) -> Element:
    found = [e for e in element.sections(name) if type_ is None or e.get("@type") == type_]
    assert len(found) == 1, (name, type_, found)
    return found[0]


def config_values(conf: str) -> dict[str, Any]:
    """What the Ruby pipeline needs, read from the config by llmmon's parser."""
    root = parse(conf)
    tail = _one(root, "source", "tail")
    cri = _one(tail, "parse")
    grep = _one(root, "filter", "grep")
    [regexp] = grep.sections("regexp")
    concat = _one(root, "filter", "concat")
    [ship] = [label for label in root.sections("label") if label.arg == concat.get("timeout_label")]
    assert ship.arg == concat.get("timeout_label")
    json_filter = _one(ship, "filter", "parser")
    json_parse = _one(json_filter, "parse")
    transformer = _one(ship, "filter", "record_transformer")
    record = _one(transformer, "record")
    assert (json_filter.get("reserve_data"), json_filter.get("remove_key_name_field"),
            json_filter.get("emit_invalid_record_to_error")) == ("true", "true", "false")
    return {
        "tag": tail.get("tag"), "path_key": tail.get("path_key"), "expression": cri.get("expression"),
        "time_key": cri.get("time_key"), "time_format": cri.get("time_format"),
        "grep_key": regexp.get("key"), "grep_pattern": regexp.get("pattern"),
        "concat_key": concat.get("key"), "separator": concat.get("separator"),
        "stream_identity_key": concat.get("stream_identity_key"), "logtag_key": concat.get("partial_cri_logtag_key"),
        "cri_stream_key": concat.get("partial_cri_stream_key"), "key_name": json_filter.get("key_name"),
        "json_time_key": json_parse.get("time_key"), "json_time_format": json_parse.get("time_format"),
        "record": {k: {"text": v.text, "embedded": bool(v.embedded)} for k, v in record.params.items()},
        "remove_keys": (transformer.get("remove_keys") or "").split(","),
    }


def run(conf: str, lines: list[dict[str, str]], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The records Fluentd would ship for `lines`, with their event time."""
    payload = {"config": config_values(conf), "lines": lines, "env": env or {}}
    done = subprocess.run(["ruby", str(ROOT / "tests" / "fluentd_pipeline.rb")], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    out: list[dict[str, Any]] = json.loads(done.stdout)
    return out


@pytest.fixture(scope="module")
def shipped() -> list[dict[str, Any]]:
    tailed = [entry for entry in LINES if "_llm-serving_" in entry["path"]]  # the tail's glob: serving namespace
    return run(CONF, tailed)


def test_the_golden_container_config_passes_the_checker() -> None:
    assert fluentd.check(CONF) == []
    assert parse(CONF).sections("source")[0].get("path") == "/var/log/containers/*_llm-serving_*.log"


def test_a_full_json_line_becomes_one_contract_record_with_kubernetes_metadata_and_the_model(
        shipped: list[dict[str, Any]]) -> None:
    first = shipped[0]
    written = json.loads(LINES[0]["line"].split(" ", 3)[3])
    assert first["time"] == pytest.approx(1772446530.123456)  # the record's own timestamp, not the runtime's
    assert first["record"] == {
        **{k: v for k, v in written.items() if k not in ("timestamp", "model")},
        "model": "llama-3-70b",  # the spec's name, from the pods regex, over the engine's served name
        "cluster_id": "prod-gpu-1", "namespace": "llm-serving", "pod": "llama-3-70b-7d9c6b5f4-x2kqp",
        "container": "vllm", "stream": "stdout", "log_path": LLAMA,
    }


def test_partial_lines_are_joined_and_a_stderr_line_between_them_stays_apart(shipped: list[dict[str, Any]]) -> None:
    access, joined = shipped[1], shipped[2]
    assert access["record"]["stream"] == "stderr"
    assert access["record"]["unmatched_line"].startswith('INFO:     10.0.3.7:51234 - "GET /metrics')
    assert joined["record"]["level"] == "warning" and joined["record"]["request_id"] == "req-7f3a"
    assert len(joined["record"]["message"]) == len("prompt too long for context: ") + 20000
    assert joined["record"]["stream"] == "stdout" and "unmatched_line" not in joined["record"]
    assert joined["time"] == pytest.approx(1772446531.25)


def test_text_that_is_not_json_is_kept_whole_with_the_runtime_s_time(shipped: list[dict[str, Any]]) -> None:
    traceback, empty = shipped[3], shipped[4]
    assert traceback["record"]["unmatched_line"] == "Traceback (most recent call last):"
    assert traceback["time"] == 1772446532.0
    assert traceback["record"]["model"] == "llama-3-70b" and traceback["record"]["stream"] == "stderr"
    assert empty["record"]["unmatched_line"] == ""
    assert empty["time"] == pytest.approx(1772446532.000000001)


def test_each_model_s_pods_get_its_name_and_other_pods_are_not_shipped(shipped: list[dict[str, Any]]) -> None:
    qwen = shipped[5]
    assert (qwen["record"]["model"], qwen["record"]["container"], qwen["time"]) == ("qwen2-7b", "server", 1772446533.5)
    assert len(shipped) == 6  # the gateway pod of the serving namespace is filtered out
    assert not any(r["record"].get("pod", "").startswith("gateway") for r in shipped)


def test_every_shipped_field_is_a_field_of_the_log_record_contract(shipped: list[dict[str, Any]]) -> None:
    contract = {f.name for f in logrecord.FIELDS} - {logrecord.TIME_KEY}
    for item in shipped:
        assert set(item["record"]) <= contract, set(item["record"]) - contract


def test_without_a_cluster_in_the_spec_the_cluster_comes_from_cluster_id(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        del d["cluster"]

    conf = files_with(tmp_path, change)["fluentd/fluent.conf"]
    assert fluentd.check(conf) == []
    [record] = run(conf, LINES[:1], env={"CLUSTER_ID": "staging-7"})
    assert record["record"]["cluster_id"] == "staging-7"


def test_pods_regexes_with_braces_and_models_in_two_namespaces_route_each_line(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["models"][0]["pods"] = "llama-3-70b-[0-9a-f]{9}-[a-z0-9]{5}"
        d["models"][1]["namespace"] = "small-models"

    conf = files_with(tmp_path, change)["fluentd/fluent.conf"]
    assert fluentd.check(conf) == []
    assert parse(conf).sections("source")[0].get("path") == \
        "/var/log/containers/*_llm-serving_*.log,/var/log/containers/*_small-models_*.log"
    moved = {"path": LINES[6]["path"].replace("_llm-serving_", "_small-models_"), "line": LINES[6]["line"]}
    stray = {"path": LINES[6]["path"], "line": LINES[6]["line"]}  # qwen's name, but in the wrong namespace
    out = run(conf, [LINES[0], moved, stray])
    assert [(r["record"]["model"], r["record"]["namespace"]) for r in out] == [
        ("llama-3-70b", "llm-serving"), ("qwen2-7b", "small-models")]


def test_the_daemonset_mounts_the_logs_read_only_and_only_its_state_writable() -> None:
    objects = [o for o in yaml.safe_load_all((ROOT / "out/kubernetes/llm-platform-fluentd.yaml").read_text()) if o]
    [daemonset] = [o for o in objects if o["kind"] == "DaemonSet"]
    container = daemonset["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in container["volumeMounts"]}
    assert mounts == {"/fluentd/etc": True, "/tmp": False, "/var/lib/llmmon-fluentd": False, "/var/log": True}
    assert container["image"].startswith("docker.io/fluent/fluentd-kubernetes-daemonset:v1.19.3-debian-elasticsearch8")
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/api/plugins.json", "port": "monitor"}
    [role] = [o for o in objects if o["kind"] == "ClusterRole"]
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["namespaces", "pods"], "verbs": ["get", "list", "watch"]}]


def test_a_hostile_pods_regex_stays_data_in_the_ruby_and_still_names_its_model(tmp_path: Path) -> None:
    hostile = 'llama-3-70b-[a-z0-9-]+|x"} #{`id`} ${record} \\ %Q[z]'

    def change(d: dict[str, Any]) -> None:
        d["models"][0]["pods"] = hostile

    conf = files_with(tmp_path, change)["fluentd/fluent.conf"]
    assert fluentd.check(conf) == []
    [record] = run(conf, LINES[:1])
    assert record["record"]["model"] == "llama-3-70b"
