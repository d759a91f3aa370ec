"""Hostile values in a well-formed spec, and hostile documents: refused quickly, or neutralised.

Values crafted to inject PromQL, YAML, Fluentd directives, Go templates or Grafana JSON either are refused with a
diagnostic naming the key, or reach the output only as data: the structure of every generated file is the same
as with plain values, the real checkers accept it, and the value reads back unchanged. Documents built to
exhaust time or memory (alias and merge bombs, 50 MB, deep nesting, a million values) fail with bounded work
(CPU time, with a wide margin; never wall-clock time, which a loaded machine stretches) and bounded memory.
Nothing a spec holds reaches the terminal unescaped. Every input is built in the test.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from specgen import OPTIONAL

from helpers import EXAMPLE, ROOT
from llmmon import atomic
from llmmon.checks import checkov, fluentconf
from llmmon.compiler import load
from llmmon.diagnostics import Severity
from llmmon.generate import Bundle, build
from llmmon.validate import run as validate
from llmmon.yamlpos import MAX_DEPTH, MAX_NODES, MAX_VALUES

Change = Callable[[dict[str, Any]], None]
DATA = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def _spec(change: Change) -> bytes:
    data = copy.deepcopy(DATA)
    change(data)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000).encode()


def _set(path: str, value: Any) -> Change:
    """A change setting the value at a dotted path (list indexes as numbers); missing mappings are created."""
    def change(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = data
        for part in parents:
            node = node[part] if isinstance(node, list) or part in node else node.setdefault(part, {})
        node[last] = value
    return change


def _load(tmp_path: Path, raw: bytes) -> tuple[Any, list[str], float]:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(raw)
    started = time.process_time()
    plan, diagnostics = load(path, "hostile.yaml")
    return plan, [d.render() for d in diagnostics if d.severity is Severity.ERROR], time.process_time() - started


# CPU seconds a load may take: about 0.1 s when the limits work, tens of seconds (or memory exhaustion) when one is
# missing. CPU time, not wall-clock time: other processes on a busy machine do not count against it.
CPU_LIMIT_S = 5.0


# --- refused: each names the key ----------------------------------------------------------------------------------

REFUSED: dict[str, tuple[Change, str]] = {
    "model name closing a PromQL string": (_set("models.0.name", 'a"} or vector(1)'), "models.0.name: 'a\"}"),
    "model name with a path": (_set("models.0.name", "../../etc/passwd"), "models.0.name: '../../etc/passwd' is not"),
    "spec name with a path": (_set("metadata.name", "../out"), "metadata.name: '../out' is not a DNS-1035 label"),
    "spec name led by a digit (a Service name)": (_set("metadata.name", "0-llm"), "is not a DNS-1035 label"),
    "served name with a newline": (_set("models.0.served_name", "a\n- b: c"),
                                   "models.0.served_name: must not contain newlines or control characters"),
    "served name with a C1 control": (_set("models.0.served_name", "a\x95b"), "models.0.served_name: must not"),
    "served name with U+FFFF": (_set("models.0.served_name", "a\uffffb"), "models.0.served_name: must not"),
    "served name with an escape sequence": (_set("models.0.served_name", "\x1b[2J"), "models.0.served_name: must"),
    "Slack channel with a newline": (_set("receivers.team-chat.slack.channel", "#a\nchannel: b"),
                                     "receivers.team-chat.slack.channel: must not contain newlines"),
    "log path with a newline and a directive": (_set("logging.path", "/var/log/a.log\n</source>\n<source>"),
                                                "logging.path: must not contain newlines"),
    "receiver name that is YAML": (_set("receivers.x\ny: z", {"webhook": {"url": "http://a/"}}),
                                   "receivers.x\\x0ay: z: 'x\\ny: z' is not a name"),
    "receiver name with a path": (_set("receivers.../x", {"webhook": {"url": "http://a/"}}), "is not a name"),
    "label value closing a string": (_set("metadata.labels.team", 'a"b'), "metadata.labels.team: 'a\"b' is not"),
    "runbook URL with javascript": (_set("metadata.runbook_base_url", "javascript:alert(1)"), "is not an http(s) URL"),
    "runbook URL closing a template": (_set("metadata.runbook_base_url", "https://x/{{ .x }}"), "is not an http"),
    "GPU type with a path": (_set("models.0.gpus.type", "../x"), "models.0.gpus.type: '../x' is not a name"),
    "infinite price": (_set("costs.gpu_hourly.H100", float("inf")), "costs.gpu_hourly.H100: inf is not a finite"),
    "price beyond 1e12": (_set("costs.gpu_hourly.H100", 1e300), "costs.gpu_hourly.H100: 1e+300 is not a finite"),
    "NaN threshold": (_set("models.1.alerts.throughput_low.threshold", float("nan")), "nan is not a finite number"),
    "window of eleven years": (_set("slo_window", "11y"), "slo_window: '11y' is longer than 10 years"),
    "duration of 5000 digits": (_set("slo_window", "9" * 5000 + "d"), "(5001 characters) is not a Prometheus"),
    "pods regex backtracking exponentially": (_set("models.0.pods", "(a+)+$"), "repeats a group that itself"),
    "pods regex with a backreference": (_set("models.0.pods", r"(a)\1"), "uses backreferences"),
    "p99 threshold under the smallest bucket": (_set("models.0.alerts.latency_p99.threshold", "100ms"),
                                                "is below the smallest bucket of vllm:e2e_request_latency_seconds"),
    "pods of one model matching another's": (_set("models.1.name", "llama-3-70b-x"),
                                             "models.0.pods: model 'llama-3-70b': pods regex 'llama-3-70b-.*' also"),
}


@pytest.mark.parametrize("change, expected", REFUSED.values(), ids=REFUSED.keys())
def test_a_hostile_value_is_refused_with_a_diagnostic_naming_its_key(tmp_path: Path, change: Change,
                                                                     expected: str) -> None:
    plan, errors, seconds = _load(tmp_path, _spec(change))
    assert plan is None
    assert any(expected in e for e in errors), errors
    assert all("\n" not in e and "\x1b" not in e for e in errors)
    assert seconds < CPU_LIMIT_S


@pytest.mark.parametrize("text, expected", [
    ("9" * 5000, "the number 999999999999999999999999... is too large"),
    ("0x" + "f" * 5000, "the number 0xffffffffffffffffffffff... is too large"),
    ("-" + "1" * 19, "the number -1111111111111111111 is too large"),
], ids=["decimal", "hexadecimal", "negative"])
def test_an_integer_of_thousands_of_digits_is_refused_not_crashed_on(tmp_path: Path, text: str, expected: str) -> None:
    raw = EXAMPLE.read_bytes().replace(b"count: 8}", f"count: {text}}}".encode())
    plan, errors, seconds = _load(tmp_path, raw)
    assert plan is None
    assert [e.split(": ", 1)[1] for e in errors] == [f"models.0.gpus.count: {expected} (a spec's numbers stay below "
                                                     "1e+18)"]
    assert seconds < CPU_LIMIT_S


# --- neutralised: the value reaches the output as data only ---------------------------------------------------------

PROMQL = '"} or absent(up) or {x="'
HOSTILE = PROMQL + " ${HOME} #{`id`} {{ .CommonLabels }} </source><source> @include x \\ '\" #c &a *a !!str - [x]: {y}"
NEUTRALISED: dict[str, tuple[str, Any, Any]] = {  # key path → (plain value, hostile value)
    "models.0.served_name": ("plain-served-name", HOSTILE),
    "models.0.pods": ("llama-3-70b-.*", 'llama-3-70b-[a-z]+"} or absent(up) #'),
    "receivers.team-chat.slack.channel": ("#plain", "#llm " + HOSTILE),
    "receivers.oncall-pager.pagerduty.routing_key_file": ("/etc/plain", "/etc/" + HOSTILE),
    "logging.path": ("/var/log/plain.log", "/var/log/llm/*.log " + HOSTILE.replace(",", "")),
}


def _generate(tmp_path: Path, name: str, which: int) -> tuple[Any, Bundle]:
    changes = [_set(path, values[which]) for path, values in NEUTRALISED.items()]
    raw = _spec(lambda data: [change(data) for change in changes])
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(raw)
    plan, diagnostics = load(path, "spec.yaml")
    assert plan is not None, [d.render() for d in diagnostics]
    return plan, build(plan)


def _shape(value: Any) -> Any:
    """The structure of parsed data: mapping keys and list lengths, with every scalar replaced by its type."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


_PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _exprs(value: Any) -> list[str]:
    """Every PromQL expression (a value under an `expr` key) in parsed data, string literals emptied."""
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in ([_PROMQL_STRING.sub('""', v)] if k == "expr" and
                                                      isinstance(v, str) else _exprs(v))]
    if isinstance(value, list):
        return [e for v in value for e in _exprs(v)]
    return []


def _structure(rel: str, text: str) -> Any:
    """What a file's structure is, however its values read: parsed data, Fluentd directives, PromQL skeletons."""
    if rel.endswith(".json"):
        data = json.loads(text)
        return _shape(data), _exprs(data)
    if rel.endswith(".conf"):
        def walk(element: fluentconf.Element) -> Any:
            return [element.name, sorted(element.params), [walk(e) for e in element.elements]]
        return walk(fluentconf.parse(text))
    if rel.endswith((".yaml", ".yml")):
        documents = list(yaml.safe_load_all(text))
        return [_shape(d) for d in documents], _exprs(documents)
    return None


def test_injection_payloads_reach_every_output_as_data_and_every_checker_accepts_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, plain = _generate(tmp_path, "plain", 0)
    plan, hostile = _generate(tmp_path, "hostile", 1)
    assert sorted(plain.files) == sorted(hostile.files)
    for rel in plain.files:
        assert _structure(rel, hostile.files[rel]) == _structure(rel, plain.files[rel]), rel
        assert atomic.safe(rel)
    monkeypatch.setattr(checkov, "find", lambda: None)  # 3-10 s; test_properties runs it on random specs
    result = validate(hostile, plan)
    assert result.ok, "\n".join(result.findings)
    assert not [c for c in result.checks if c.startswith("skipped:") and not OPTIONAL.search(c)]


def test_injection_payloads_read_back_unchanged_where_they_land(tmp_path: Path) -> None:
    _, bundle = _generate(tmp_path, "hostile", 1)
    rules = yaml.safe_load(bundle.files[bundle.rules_file])
    info = [r for g in rules["groups"] for r in g["rules"] if r.get("record") == "llmmon:model_info"]
    assert info[0]["labels"]["served_model"] == HOSTILE
    assert not any("absent(up)" in _PROMQL_STRING.sub('""', r["expr"]) for g in rules["groups"] for r in g["rules"])
    conf = fluentconf.parse(bundle.files["fluentd/fluent.conf"])
    tail = next(e for e in conf.elements if e.name == "source" and e.get("@type") == "tail")
    assert tail.get("path") == NEUTRALISED["logging.path"][1]
    assert tail.params["path"].embedded == []  # no Ruby runs
    assert [e.get("@type") for e in conf.elements if e.name == "source"] == ["tail", "monitor_agent"]
    am = yaml.safe_load(bundle.files["alertmanager/alertmanager.yaml"])
    slack = next(r for r in am["receivers"] if r["name"] == "team-chat")["slack_configs"][0]
    pager = next(r for r in am["receivers"] if r["name"] == "oncall-pager")["pagerduty_configs"][0]
    assert pager["routing_key_file"] == "/etc/" + HOSTILE  # a file name, never templated
    template = tmp_path / "empty.tmpl"
    template.write_text('{{ define "x" }}{{ end }}', encoding="utf-8")
    rendered = subprocess.run(["amtool", "template", "render", f"--template.glob={template}",
                               f"--template.text={slack['channel']}"], capture_output=True, text=True, timeout=30,
                              check=False)
    assert rendered.returncode == 0, rendered.stderr
    assert rendered.stdout.rstrip("\n") == "#llm " + HOSTILE  # Alertmanager renders the channel to the value


def test_nothing_from_a_spec_reaches_the_terminal_unescaped(tmp_path: Path) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J\u202e\u2066"
    text = (EXAMPLE.read_text(encoding="utf-8")
            .replace("engine: openai-compatible", f'engine: "{hostile.encode("unicode_escape").decode()}"')
            .replace("\ncosts:", f'\n"{hostile.encode("unicode_escape").decode()}": 1\ncosts:'))
    path = tmp_path / "terminal.yaml"
    path.write_text(text, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "llmmon", "generate", str(path), "-o", str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 3, done.stderr  # two diagnostics and the summary, one line each
    assert not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", done.stderr)
    assert "\\x1b]0;owned\\x07" in done.stderr


# --- documents that exhaust time or memory ------------------------------------------------------------------------


def _bomb(levels: int = 9, width: int = 9) -> bytes:
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return ("\n".join(lines) + "\n").encode()


HEAVY: dict[str, tuple[bytes | Callable[[], bytes], str]] = {
    "alias bomb of sequences": (_bomb(), f"expands to more than {MAX_NODES} nodes"),
    "alias bomb of mappings": (b"a0: &a0 {x: 1, y: 2}\n" + b"".join(
        f"a{i}: &a{i} {{{', '.join(f'k{j}: *a{i - 1}' for j in range(9))}}}\n".encode() for i in range(1, 10)),
        f"expands to more than {MAX_NODES} nodes"),
    "merge-key bomb": (lambda: ("base: &b {" + ", ".join(f"k{i}: {i}" for i in range(20_000)) + "}\n" + "".join(
        f"m{i}: {{<<: *b}}\n" for i in range(40))).encode(), f"expands to more than {MAX_NODES} nodes"),
    "fifty megabytes": (lambda: b"# padding to fifty megabytes\n" * (50 * 1024 * 1024 // 29 + 1),
                        "the file is larger than 1048576 bytes"),
    "a million values in a flow list": (lambda: ("a: [" + "1," * 500_000 + "1]\n").encode()[:1_040_000] + b"]\n",
                                        f"holds more than {MAX_VALUES} values"),
    "a quarter million list items": (lambda: ("a:\n" + "- 1\n" * 250_000).encode(), f"more than {MAX_VALUES} values"),
    "ten thousand nested flow lists": (b"[" * 10_000 + b"]" * 10_000, "is nested"),
    "ten thousand nested flow mappings": (b"a: " + b"{a: " * 10_000 + b"1" + b"}" * 10_000 + b"\n",
                                          "is nested"),
    "two hundred nested block mappings": ("".join(" " * i + "a:\n" for i in range(200)).encode(),
                                          f"nested more than {MAX_DEPTH} levels deep"),
    "a one-megabyte scalar": (lambda: b"apiVersion: " + b"x" * (1024 * 1024 - 20) + b"\n", "apiVersion: 'xxxx"),
    "binary data": (lambda: bytes(range(1, 256)) * 4000, "the file is not UTF-8"),
    "control characters": (lambda: bytes(range(1, 32)) * 30000, "control character U+0001 is not allowed"),
}


@pytest.mark.parametrize("raw, expected", HEAVY.values(), ids=HEAVY.keys())
def test_a_document_built_to_exhaust_resources_fails_fast_with_bounded_memory(tmp_path: Path, raw: Any,
                                                                               expected: str) -> None:
    data = raw() if callable(raw) else raw
    plan, errors, seconds = _load(tmp_path, data)
    assert plan is None
    assert any(expected in e for e in errors), errors
    assert seconds < CPU_LIMIT_S, f"{seconds:.2f} s of CPU time"
    tracemalloc.start()
    try:
        _load(tmp_path, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB"
    assert sum(len(e) for e in errors) < 2000, "a diagnostic must not echo the whole input"
