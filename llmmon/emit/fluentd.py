"""Fluentd: tail the models' JSON logs, add cluster and namespace, ship them to Elasticsearch.

Every value that comes from the spec is written as a Fluentd double-quoted string with `\\`, `"` and `#`
escaped, so no value can end its parameter, open a directive or run embedded Ruby (`#{...}`). Values added
by record_transformer are also safe from its own placeholders (`${...}`, `__NAME__`).
"""

from __future__ import annotations

import re

from llmmon.emit.elasticsearch import index_glob, policy_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan
from llmmon.templates import render
from llmmon.yamlout import dump

STATE_DIR = "/var/log/fluentd"  # positions and buffers: a hostPath, so they outlive the pod
TIME_KEY = "timestamp"
RETRY_TIMEOUT = "24h"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "#": "\\#", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "\b": "\\b"}
_QUOTED = re.compile(r'[\\"#\n\r\t\f\b]')
_PLACEHOLDER = re.compile(r"\$\{[^}]+\}|__[A-Z_]+__")  # what record_transformer replaces in plain mode
_RUBY_SPECIAL = re.compile(r"[\\#\[\]{}]")  # what would change meaning inside %Q[...] in Ruby mode
_LOOKUP_KEY = re.compile(r"^[A-Za-z0-9._/:-]+$")  # model names usable as keys of the namespace lookup


def quote(text: str) -> str:
    """A Fluentd double-quoted string holding exactly `text`."""
    return '"' + _QUOTED.sub(lambda m: _ESCAPES[m.group()], text) + '"'


def ruby_literal(text: str) -> str:
    """`text` as record_transformer's Ruby mode reads it back (it wraps each value in %Q[...])."""
    return _RUBY_SPECIAL.sub(lambda m: "\\" + m.group(), text)


def _namespaces(plan: Plan) -> dict[str, list[str]]:
    """namespace → the model names (spec and served) whose log lines belong to it."""
    out: dict[str, list[str]] = {}
    for model in plan.models:
        names = out.setdefault(model.namespace, [])
        for name in (model.name, model.served_name):
            if _LOOKUP_KEY.fullmatch(name) and name not in names:
                names.append(name)
    return dict(sorted(out.items()))


def _record(plan: Plan) -> tuple[list[tuple[str, str]], bool]:
    """The fields record_transformer adds, as (key, quoted value), and whether Ruby mode is needed."""
    literals: list[tuple[str, str]] = []
    if plan.cluster:
        literals.append(("cluster_id", plan.cluster))
    namespaces = _namespaces(plan)
    lookup = None
    if len(namespaces) == 1:
        literals.append(("namespace", next(iter(namespaces))))
    else:  # several namespaces: each line's `model` field says which one it belongs to
        whens = " ".join(f"when {', '.join(_ruby_string(n) for n in names)} then {_ruby_string(ns)}"
                         for ns, names in namespaces.items())
        lookup = f'${{case record["model"] {whens} else record["namespace"] end}}'
    # Plain mode has no escapes: a literal it would expand, or read as JSON, goes through Ruby mode instead.
    ruby = lookup is not None or any(_PLACEHOLDER.search(v) or v.startswith(("{", "[")) for _, v in literals)
    fields = [(key, quote(ruby_literal(value) if ruby else value)) for key, value in literals]
    if lookup:
        fields.append(("namespace", quote(lookup)))
    return sorted(fields), ruby


def _ruby_string(text: str) -> str:
    return '"' + re.sub(r'[\\"#$]', lambda m: "\\" + m.group(), text) + '"'


def fluent_conf(plan: Plan, head: str) -> str:
    """The text of fluent.conf for a plan with a logging section."""
    logging = plan.spec.logging
    assert logging is not None
    es = logging.elasticsearch
    record, ruby = _record(plan)
    name = plan.name
    return render(
        "fluent.conf.j2", header=head.splitlines(), spec_name=name, tag=f"llmmon.{name}", state_dir=STATE_DIR,
        path=quote(logging.path), pos_file=quote(f"{STATE_DIR}/llmmon-{name}.pos"), time_key=TIME_KEY,
        record=record, enable_ruby=ruby, host=quote(es.host), port=es.port, index=quote(es.index),
        index_glob=index_glob(es.index), policy=policy_name(es.index), retry_timeout=RETRY_TIMEOUT,
        buffer_path=quote(f"{STATE_DIR}/buffer/llmmon-{name}"), failed_dir=quote(f"{STATE_DIR}/failed"),
        failed_basename=quote(f"llmmon-{name}"), rejected_path=quote(f"{STATE_DIR}/failed/llmmon-{name}-rejected"),
        rejected_buffer=quote(f"{STATE_DIR}/buffer/llmmon-{name}-rejected"))


def emit(plan: Plan, head: str) -> dict[str, str]:
    """out/fluentd/fluent.conf and its ConfigMap, when the spec has a logging section."""
    if plan.spec.logging is None:
        return {}
    conf = fluent_conf(plan, head)
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{plan.name}-fluentd", "namespace": plan.namespace,
                     "labels": object_labels(plan, "fluentd")},
        "data": {"fluent.conf": conf},
    }
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    return {"fluentd/fluent.conf": conf, f"kubernetes/{plan.name}-fluentd.yaml": comment + dump(config_map)}
