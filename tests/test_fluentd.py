"""Fluentd: the generated fluent.conf, llmmon's own parser and checker of the format, and escaping of spec values.

No Fluentd can be installed here, so the config is read by llmmon's parser (which follows Fluentd's v1 reader) and
checked against the catalogue of each plugin's parameters.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from specvariants import diagnostics_with, files_with

from helpers import EXAMPLE, ROOT, plan_of
from llmmon.checks import fluentd
from llmmon.checks.fluentconf import ConfigSyntaxError, Element, parse
from llmmon.emit.fluentd import quote, ruby_literal
from llmmon.generate import build

OUT = ROOT / "out"
FILES_PATH = "/var/log/llm/*.log"


def _as_files(data: dict[str, Any]) -> None:
    data["logging"].update(source="files", path=FILES_PATH)


def _files_conf(tmp: Path, change: Any = None) -> str:
    """fluent.conf of the example with `logging.source: files` (the JSON log files of the design), then `change`."""
    def both(data: dict[str, Any]) -> None:
        _as_files(data)
        if change:
            change(data)

    return files_with(tmp, both)["fluentd/fluent.conf"]


with tempfile.TemporaryDirectory() as _tmp:
    CONF = _files_conf(Path(_tmp))


def _only(element: Element, name: str) -> Element:
    [found] = element.sections(name)
    return found


def _shape(element: Element) -> list[Any]:
    """Directives and parameter names, without values: what a hostile value must not change."""
    return [element.name, element.arg, sorted(element.params), [_shape(e) for e in element.elements]]


# --- the golden config ---------------------------------------------------------------------------------------------


def test_the_golden_fluent_conf_passes_the_checker() -> None:
    assert fluentd.check(CONF) == []


def test_the_golden_fluent_conf_tails_json_logs_with_a_position_file_and_the_timestamp_key() -> None:
    source = parse(CONF).sections("source")[0]
    assert source.get("@type") == "tail"
    assert source.get("path") == "/var/log/llm/*.log"
    assert source.get("pos_file") == "/var/lib/llmmon-fluentd/llmmon-llm-platform.pos"
    assert source.get("tag") == "llmmon.llm-platform"
    parser = _only(source, "parse")
    assert (parser.get("@type"), parser.get("time_key")) == ("json", "timestamp")


def test_the_golden_fluent_conf_adds_cluster_id_and_namespace() -> None:
    [transformer] = parse(CONF).sections("filter")
    assert transformer.arg == "llmmon.llm-platform"
    record = _only(transformer, "record")
    assert {k: v.text for k, v in record.params.items()} == {"cluster_id": "prod-gpu-1", "namespace": "llm-serving"}
    assert "enable_ruby" not in transformer.params


def test_the_golden_fluent_conf_ships_to_elasticsearch_with_credentials_only_from_the_environment() -> None:
    match = _only(parse(CONF), "match")
    assert (match.get("host"), match.get("port"), match.get("logstash_prefix")) == ("elasticsearch", "9200", "llm-logs")
    assert match.get("user") == "#{ENV['FLUENT_ELASTICSEARCH_USER'] || use_nil}"
    assert match.get("password") == "#{ENV['FLUENT_ELASTICSEARCH_PASSWORD'] || use_nil}"


def test_a_down_elasticsearch_loses_no_logs_silently() -> None:
    match = _only(parse(CONF), "match")
    buffer = _only(match, "buffer")
    assert buffer.get("@type") == "file"
    assert buffer.get("retry_timeout") == "24h" and buffer.get("retry_forever") == "false"
    assert buffer.get("overflow_action") == "block"
    assert _only(match, "secondary").get("@type") == "secondary_file"
    assert [label.arg for label in parse(CONF).sections("label")] == ["@ERROR"]


def test_the_fluentd_configmap_carries_the_same_config() -> None:
    objects = list(yaml.safe_load_all((OUT / "kubernetes/llm-platform-fluentd.yaml").read_text(encoding="utf-8")))
    [manifest] = [o for o in objects if o["kind"] == "ConfigMap"]
    assert manifest["metadata"]["name"] == "llm-platform-fluentd"
    assert manifest["metadata"]["namespace"] == "monitoring"
    assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "fluentd"
    assert manifest["data"]["fluent.conf"] == (OUT / "fluentd/fluent.conf").read_text(encoding="utf-8")


def test_a_spec_without_logging_generates_no_fluentd_or_elasticsearch_files(tmp_path: Path) -> None:
    files = files_with(tmp_path, lambda d: d.pop("logging"))
    assert not [p for p in files if p.startswith(("fluentd/", "elasticsearch/")) or p.endswith("-fluentd.yaml")]


# --- the checker catches broken configs --------------------------------------------------------------------------

BROKEN = [
    ("  host \"elasticsearch\"", "  hots \"elasticsearch\"", "unknown parameter 'hots'"),
    ("  tag llmmon.llm-platform\n", "", "required parameter 'tag' is missing"),
    ("  host \"elasticsearch\"", "  hosts \"https://elastic:changeme@es:9200\"", "hosts carries credentials"),
    ("  password \"#{ENV['FLUENT_ELASTICSEARCH_PASSWORD'] || use_nil}\"", "  password \"hunter2\"",
     "password must come from the environment"),
    ("#{ENV['FLUENT_ELASTICSEARCH_USER'] || use_nil}", "#{File.read('/etc/shadow')}", "does more than read"),
    ("    @type file\n    path \"/var/lib/llmmon-fluentd/buffer/llmmon-llm-platform\"", "    @type memory",
     "buffer is not @type file"),
    ("    retry_timeout 24h\n", "", "no retry_timeout or retry_max_times"),
    ("  <secondary>\n    @type secondary_file\n    directory \"/var/lib/llmmon-fluentd/failed\"\n"
     "    basename \"llmmon-llm-platform\"\n  </secondary>\n", "", "there is no <secondary>"),
    ("    overflow_action block", "    overflow_action drop_oldest_chunk", "drops logs"),
    ("  port 9200", "  port ninety", "port must be a integer"),
    ("  read_from_head true", "  read_from_head maybe", "read_from_head must be a bool"),
    ("  @id llm-platform-enrich", "  @id llm-platform-tail", "@id 'llm-platform-tail' is already used"),
    ("<filter llmmon.llm-platform>", "<filter other.tag>", "matches no source tag"),
    ("<match llmmon.llm-platform>", "<match other.tag>", "no <match> takes tag 'llmmon.llm-platform'"),
    ("  pos_file \"/var/lib/llmmon-fluentd/llmmon-llm-platform.pos\"\n", "", "no pos_file"),
    ("<label @ERROR>", "<label ERROR>", "a label name starts with '@'"),
    ("  <parse>\n", "  <parser>\n", "</parse> closes <parser>"),
    ("  <record>\n", "  <buffer>\n  </buffer>\n  <record>\n", "unexpected section <buffer>"),
    ("    @type json\n", "    @type jsn\n", "does not know the parse plugin 'jsn'"),
]


@pytest.mark.parametrize(("old", "new", "message"), BROKEN, ids=[b[2] for b in BROKEN])
def test_the_checker_catches_a_broken_fluent_conf(old: str, new: str, message: str) -> None:
    assert old in CONF
    broken = CONF.replace(old, new, 1)
    findings = fluentd.check(broken)
    assert any(message in f.message for f in findings), findings


def test_a_filter_after_its_match_is_reported_with_its_line() -> None:
    filter_block = CONF[CONF.index("<filter"):CONF.index("</filter>") + len("</filter>\n")]
    moved = CONF.replace(filter_block, "") + "\n" + filter_block
    [finding] = [f for f in fluentd.check(moved) if "never sees" in f.message]
    assert moved.splitlines()[finding.line - 1].startswith("<filter")


@pytest.mark.parametrize(("text", "line", "col", "message"), [
    ("<source>\n  @type tail\n", 1, 1, "<source> is never closed"),
    ("<source>\n</match>\n", 2, 1, "</match> closes <source>"),
    ("</source>\n", 1, 1, "closes nothing"),
    ("<source\n", 1, 1, "must end with '>'"),
    ("<source>\n  path \"/var/log\\q\"\n</source>\n", 2, 17, "unknown escape \\q"),
    ("<source>\n  path \"/var/log\n", 2, 8, "never closed"),
    ("<source>\n  path \"a\" junk\n</source>\n", 2, 12, "expected the end of the line"),
])
def test_the_parser_reports_syntax_errors_at_their_line_and_column(text: str, line: int, col: int,
                                                                   message: str) -> None:
    with pytest.raises(ConfigSyntaxError) as error:
        parse(text)
    assert (error.value.line, error.value.col) == (line, col)
    assert message in error.value.message


def test_the_parser_reads_values_as_fluentd_does() -> None:
    root = parse("<source>\n"
                 "  a bare text # a comment\n"
                 "  b no#comment\n"
                 "  c 'single \\' quoted'\n"
                 "  d [1,\n     2]\n"
                 "  e \"x#{ENV['A'] || {'k' => '}'}['k']}y\"\n"
                 "  f\n"
                 "</source>\n")
    params = _only(root, "source").params
    assert params["a"].text == "bare text"
    assert params["b"].text == "no#comment"
    assert params["c"].text == "single ' quoted"
    assert params["d"].text == "[1, 2]"
    assert params["e"].embedded == ["ENV['A'] || {'k' => '}'}['k']"]
    assert params["f"].text == ""


# --- escaping of spec values -------------------------------------------------------------------------------------


@given(st.text())
def test_any_text_quoted_for_fluentd_reads_back_unchanged(text: str) -> None:
    root = parse(f"<source>\n  path {quote(text)}\n</source>\n")
    value = _only(root, "source").params["path"]
    assert value.text == text
    assert value.embedded == []


def test_a_hostile_log_path_cannot_break_out_of_its_directive_or_run_ruby(tmp_path: Path) -> None:
    hostile = '/var/log/x" </source> <match **> #{`id`} \\"\' <label @ERROR> # </match>'

    def change(d: dict[str, Any]) -> None:
        d["logging"]["path"] = hostile

    conf = _files_conf(tmp_path, change)
    root = parse(conf)
    assert _shape(root) == _shape(parse(CONF))
    assert parse(conf).sections("source")[0].get("path") == hostile
    assert fluentd.check(conf) == []


def test_a_newline_in_a_spec_value_is_refused_before_anything_is_generated(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        _as_files(d)
        d["logging"]["path"] = "/var/log/a.log\n</source>"

    assert any("logging.path: must not contain newlines" in d for d in diagnostics_with(tmp_path, change))


def test_a_hostile_spec_file_name_stays_inside_the_comment_header(tmp_path: Path) -> None:
    name = "spec\n<match **>\n  @type null\n#{`id`}.yaml"
    path = tmp_path / name
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    _as_files(data)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    conf = build(plan_of(path)).files["fluentd/fluent.conf"]
    assert "# Code generated by llmmon" in conf.splitlines()[0]
    assert _shape(parse(conf)) == _shape(parse(CONF))


def test_a_cluster_name_that_looks_like_a_placeholder_is_written_through_ruby_mode(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["cluster"] = "prod__TAG__1"

    conf = _files_conf(tmp_path, change)
    [transformer] = parse(conf).sections("filter")
    assert transformer.get("enable_ruby") == "true"  # plain mode would replace __TAG__ by the event's tag
    assert _only(transformer, "record").get("cluster_id") == "prod__TAG__1"
    assert fluentd.check(conf) == []


def test_models_in_several_namespaces_get_their_namespace_from_the_model_field(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        d["models"][1]["namespace"] = "small-models"

    conf = _files_conf(tmp_path, change)
    [transformer] = parse(conf).sections("filter")
    assert transformer.get("enable_ruby") == "true"
    assert _only(transformer, "record").get("namespace") == (
        '${case record["model"] when "llama-3-70b", "meta-llama/Meta-Llama-3-70B-Instruct" then "llm-serving" '
        'when "qwen2-7b" then "small-models" else record["namespace"] end}')
    assert fluentd.check(conf) == []


def test_a_relative_log_path_is_refused(tmp_path: Path) -> None:
    def change(d: dict[str, Any]) -> None:
        _as_files(d)
        d["logging"]["path"] = "/var/log/llm/*.log,logs/*.log"

    assert any("logging.path: 'logs/*.log' is not an absolute path" in d for d in diagnostics_with(tmp_path, change))


# record_transformer's Ruby mode, as Fluentd 1.x does it: a value that is one `${...}` is evaluated as code when
# auto_typecast is on; otherwise `${` becomes `#{` and the value is evaluated as %Q[...]. Run by the real Ruby.
RUBY_EXPANDER = r'''
require 'json'
def preprocess(value, auto_typecast)
  if auto_typecast && value.scan('${').size == 1 && value.start_with?('${') && value.end_with?('}')
    value[2..-2]
  else
    "%Q[#{value.gsub('${', '#{')}]"
  end
end
input = JSON.parse(STDIN.read)
puts JSON.dump(input["records"].flat_map { |record|
  [true, false].map { |auto| input["values"].map { |v| eval(preprocess(v, auto)) } } })
'''


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed (`make tools` installs it as root)")
def test_ruby_mode_values_evaluate_to_the_literal_and_the_namespace_of_the_line_s_model(tmp_path: Path) -> None:
    hostile = "prod__TAG__1"

    def change(d: dict[str, Any]) -> None:
        d["cluster"] = hostile
        d["models"][1]["namespace"] = "small-models"

    conf = _files_conf(tmp_path, change)
    record = _only(parse(conf).sections("filter")[0], "record")
    tricky = _only(parse(f"<r>\n  k {quote(ruby_literal(TRICKY))}\n</r>\n"), "r").get("k")
    values = [record.get("cluster_id"), record.get("namespace"), tricky]
    records = [{"model": "qwen2-7b"}, {"model": "meta-llama/Meta-Llama-3-70B-Instruct"},
               {"model": "other", "namespace": "its-own"}]
    done = subprocess.run(["ruby", "-e", RUBY_EXPANDER], input=json.dumps({"values": values, "records": records}),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    namespaces = ["small-models", "small-models", "llm-serving", "llm-serving", "its-own", "its-own"]
    assert results == [[hostile, ns, TRICKY] for ns in namespaces]


TRICKY = "a]#{`id`}${record}\\[x{y}\\ %Q[z"
