"""The JSON formatter writes the log record contract (llmmon/logrecord.py), and the generated Fluentd parser and
Elasticsearch index template accept every field of it: a field renamed or retyped on one side fails here."""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from helpers import EXAMPLE, plan_of
from llmmon import contract, logrecord
from llmmon.checks.fluentconf import Element, parse
from llmmon.generate import build
from llmmon.instrument import JsonFormatter, LLMMetrics

PY_TYPES: dict[str, type] = {"keyword": str, "text": str, "float": float, "long": int, "date": str}
FULL = {"model": "chat", "request_id": "r-1", "status": "success", "latency_seconds": 0.25, "input_tokens": 12,
        "output_tokens": 40}


def _line(message: str = "request finished", level: int = logging.INFO, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("svc", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


class Keep(logging.Handler):
    """Keeps the formatted lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def _logger(name: str) -> tuple[logging.Logger, Keep]:
    log = logging.getLogger(f"test_instrument_logs.{name}")
    keep = Keep()
    log.handlers[:] = [keep]
    log.setLevel(logging.INFO)
    log.propagate = False
    return log, keep


def _full_line() -> str:
    """A line with every written field: the extras, inside a span so trace_id and span_id are set too."""
    log, keep = _logger("full")
    with TracerProvider().get_tracer("test").start_as_current_span("llm_inference"):
        log.info("request finished", extra=FULL)
    return keep.lines[0]


def test_a_line_holds_exactly_the_written_fields_with_their_contract_types() -> None:
    line = json.loads(_full_line())
    assert list(line) == [f.name for f in logrecord.WRITTEN]  # every field, in the contract's order
    for f in logrecord.WRITTEN:
        assert type(line[f.name]) is PY_TYPES[f.es_type], f.name
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", line["timestamp"])
    assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", line["span_id"])
    assert line["level"] in logrecord.LEVELS and line["status"] in logrecord.STATUSES


def test_required_fields_only_outside_a_span_and_nothing_outside_the_contract() -> None:
    line = _line("hello", logging.WARNING, user="alice", latency_seconds="fast", input_tokens="12")
    assert set(line) == {f.name for f in logrecord.WRITTEN if f.required} | {"input_tokens"}
    assert line["input_tokens"] == 12 and line["level"] == "warning"  # "fast" is no float: left out


def test_levels_map_onto_the_contract_s_five() -> None:
    levels = [_line(level=n)["level"] for n in (5, logging.DEBUG, logging.INFO, 25, logging.WARNING, logging.ERROR,
                                                logging.CRITICAL)]
    assert levels == ["debug", "debug", "info", "warning", "warning", "error", "critical"]


def test_an_exception_is_part_of_the_message() -> None:
    try:
        raise ValueError("bad prompt")
    except ValueError:
        record = logging.LogRecord("svc", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(JsonFormatter(model="chat").format(record))
    assert line["message"].startswith("failed\nTraceback") and "ValueError: bad prompt" in line["message"]
    assert line["model"] == "chat"


def test_request_statuses_are_the_log_contract_s() -> None:
    assert contract.STATUSES == logrecord.STATUSES


def test_a_finished_request_logs_its_outcome_inside_its_span() -> None:
    log, keep = _logger("requests")
    m = LLMMetrics(logger=log, tracer_provider=TracerProvider())
    with m.request("chat", request_id="r-9") as req:
        req.tokens(input=3, output=4)
        span = req.span
    for _ in m.stream("chat", ["a", "b"]):
        pass
    assert span is not None
    first, second = (json.loads(line) for line in keep.lines)
    assert first["trace_id"] == f"{span.get_span_context().trace_id:032x}"
    assert {k: first[k] for k in ("model", "request_id", "status", "input_tokens", "output_tokens")} == \
        {"model": "chat", "request_id": "r-9", "status": "success", "input_tokens": 3, "output_tokens": 4}
    assert second["output_tokens"] == 2 and "trace_id" in second and second["trace_id"] != first["trace_id"]


# -- the generated pipeline ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return build(plan_of(EXAMPLE)).files


def _fluentd_parse(conf: str) -> dict[str, str]:
    """The `<parse>` that reads the JSON log record: in the tail source (files) or in the parser filter that
    reads the text of a container's CRI line (containers)."""
    def walk(element: Element) -> list[Element]:
        return [element, *(e for child in element.elements for e in walk(child))]

    [parser] = [e for e in walk(parse(conf)) if e.name == "parse" and e.get("@type") == "json"]
    return {k: v.text for k, v in parser.params.items()}


# What Fluentd's json parser does with one line: JSON.parse, take the time key out (keep_time_key false) and read
# it with time_format %iso8601 (Ruby's Time.iso8601); the event time goes to @timestamp in Elasticsearch.
RUBY_PARSE = r"""
require "json"
require "time"
conf = JSON.parse(ARGV[0])
STDIN.each_line do |line|
  record = JSON.parse(line)
  raise "time_format #{conf['time_format']}" unless conf["time_format"] == "%iso8601"
  value = conf["keep_time_key"] == "true" ? record[conf["time_key"]] : record.delete(conf["time_key"])
  time = Time.iso8601(value)
  types = record.transform_values { |v| v.class.name }
  puts JSON.generate({"time" => time.to_r.to_f, "record" => record, "types" => types})
end
"""


@pytest.mark.skipif(shutil.which("ruby") is None, reason="ruby is not installed (`make tools` installs it as root)")
def test_the_generated_fluentd_parser_reads_every_field_with_its_type(generated: dict[str, str]) -> None:
    conf = _fluentd_parse(generated["fluentd/fluent.conf"])
    assert conf["@type"] == "json" and conf["time_key"] == logrecord.TIME_KEY
    line = _full_line()
    done = subprocess.run(["ruby", "-e", RUBY_PARSE, json.dumps(conf)], input=line + "\n", capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    written = json.loads(line)
    stamp = written.pop(logrecord.TIME_KEY)
    assert event["record"] == written  # every other field arrives as written
    ruby = {"keyword": "String", "text": "String", "float": "Float", "long": "Integer"}
    assert event["types"] == {f.name: ruby[f.es_type] for f in logrecord.WRITTEN if f.name != logrecord.TIME_KEY}
    seconds = int(stamp[17:19]) + int(stamp[20:26]) / 1e6
    assert event["time"] % 60 == pytest.approx(seconds, abs=1e-6)  # fractional seconds survive the parse


def test_the_generated_index_template_accepts_every_field_with_the_contract_s_type(generated: dict[str, str]) -> None:
    mappings = json.loads(generated["elasticsearch/index-template.json"])["template"]["mappings"]
    properties: dict[str, dict[str, Any]] = mappings["properties"]
    types = {f.name: f.es_type for f in logrecord.FIELDS}
    # the event time: Fluentd takes the time key out and the Elasticsearch output writes it as @timestamp
    assert properties["@timestamp"]["type"] == types[logrecord.TIME_KEY]
    for name, mapping in properties.items():
        if name != "@timestamp":
            assert name in types, f"the index template maps {name}, which no log record has"
            assert mapping["type"] == types[name], f"{name}: mapped as {mapping['type']}, the contract says " \
                                                   f"{types[name]}"
    dynamic = str(mappings.get("dynamic", "true")).lower()
    for f in logrecord.WRITTEN:
        if f.name != logrecord.TIME_KEY and f.name not in properties:
            # an unmapped field is accepted only when the template lets Elasticsearch map new fields
            assert dynamic in ("true", "runtime"), f"{f.name} is written but the template refuses unmapped fields"
