"""Fluentd: read the models' logs, parse them into the log record (llmmon.logrecord), ship them to Elasticsearch.

`logging.source: containers` (the default) tails the serving pods' container logs in the CRI format, joins
partial lines, parses the JSON record and adds the Kubernetes metadata and the model; `files` tails JSON log
files. Either way the cluster is the spec's `cluster`, else the CLUSTER_ID environment variable of Fluentd.

Every value that comes from the spec is written as a Fluentd double-quoted string with `\\`, `"` and `#`
escaped, so no value can end its parameter, open a directive or run embedded Ruby (`#{...}`). Values added
by record_transformer are also safe from its own placeholders (`${...}`, `__NAME__`).
"""

from __future__ import annotations

import re

from llmmon import logrecord
from llmmon.emit.elasticsearch import index_glob, policy_name
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan
from llmmon.templates import render

STATE_DIR = "/var/lib/llmmon-fluentd"  # positions and buffers: a hostPath, so they outlive the pod
TIME_KEY = logrecord.TIME_KEY
PROMETHEUS_PORT = 24231
MONITOR_PORT = 24220
CONTAINER_LOGS = "/var/log/containers"
# One CRI log line: time, stream, tag (P partial, F full; more tags may follow after ':'), then the text.
CRI_EXPRESSION = r"/^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]+) (?<unmatched_line>.*)$/"
CLUSTER_FROM_ENV = "#{ENV['CLUSTER_ID']}"  # Fluentd's embedded Ruby, read once when the config loads
RETRY_TIMEOUT = "24h"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "#": "\\#", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f", "\b": "\\b"}
_QUOTED = re.compile(r'[\\"#\n\r\t\f\b]')
_PLACEHOLDER = re.compile(r"\$\{[^}]+\}|__[A-Z_]+__")  # what record_transformer replaces in plain mode
_RUBY_SPECIAL = re.compile(r"[\\#\[\]{}]")  # what would change meaning inside %Q[...] in Ruby mode
_LOOKUP_KEY = re.compile(r"^[A-Za-z0-9._/:-]+$")  # model names usable as keys of the namespace lookup


def quote(text: str, embedded: bool = False) -> str:
    """A Fluentd double-quoted string holding exactly `text` (`embedded`: llmmon's own `#{...}` Ruby, kept)."""
    escapes = {k: v for k, v in _ESCAPES.items() if not (embedded and k == "#")}
    return '"' + _QUOTED.sub(lambda m: escapes.get(m.group(), m.group()), text) + '"'


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
    if not plan.cluster:
        fields.append(("cluster_id", quote(CLUSTER_FROM_ENV, embedded=True)))
    return sorted(fields), ruby


def _ruby_string(text: str) -> str:
    """A Ruby double-quoted string literal holding exactly `text` (no interpolation)."""
    return '"' + re.sub(r'[\\"#$]', lambda m: "\\" + m.group(), text) + '"'


def _pod_models(plan: Plan) -> list[tuple[str, str, str]]:
    """(namespace, pods regex, model name) of every model, in spec order."""
    return [(m.namespace, m.pods, m.name) for m in plan.models]


def container_paths(plan: Plan) -> list[str]:
    """The container log globs Fluentd tails: one per serving namespace."""
    return [f"{CONTAINER_LOGS}/*_{ns}_*.log" for ns in sorted({m.namespace for m in plan.models})]


def path_pattern(plan: Plan) -> str:
    """A Ruby regexp literal matching the container log files of the serving pods only.

    The kubelet names them <pod>_<namespace>_<container>-<id>.log; pod, namespace and container names hold no
    `_`, so each model's anchored `pods` regex must match the whole pod name."""
    alternatives = sorted({f"(?:{pods})_{re.escape(ns)}" for ns, pods, _ in _pod_models(plan)})
    body = rf"\A{re.escape(CONTAINER_LOGS)}/(?:{'|'.join(alternatives)})_[^_]+\.log\z"
    return "/" + body.replace("/", r"\/") + "/"


def model_expression(plan: Plan) -> str:
    """record_transformer Ruby: the spec's model name of a line from its pod's namespace and name (nil: none)."""
    branches = []
    for i, (ns, pods, name) in enumerate(_pod_models(plan)):
        anchored = _ruby_string(r"\A(?:" + pods + r")\z")
        branches.append(f"{'if' if i == 0 else 'elsif'} ns == {_ruby_string(ns)} && "
                        f"Regexp.new({anchored}).match?(pod) then {_ruby_string(name)}")
    return ("${ns = record.dig('kubernetes', 'namespace_name'); pod = record.dig('kubernetes', 'pod_name').to_s; "
            f"{' '.join(branches)} else nil end}}")


def _container_record(plan: Plan) -> list[tuple[str, str]]:
    """The fields the containers pipeline adds, as (key, quoted value), Ruby mode."""
    cluster = quote(ruby_literal(plan.cluster)) if plan.cluster else quote(CLUSTER_FROM_ENV, embedded=True)
    fields = [("cluster_id", cluster),
              ("namespace", quote("${record.dig('kubernetes', 'namespace_name')}")),
              ("pod", quote("${record.dig('kubernetes', 'pod_name')}")),
              ("container", quote("${record.dig('kubernetes', 'container_name')}")),
              ("model", quote(model_expression(plan)))]
    return sorted(fields)


def fluent_conf(plan: Plan, head: str) -> str:
    """The text of fluent.conf for a plan with a logging section."""
    logging = plan.spec.logging
    assert logging is not None
    es = logging.elasticsearch
    name = plan.name
    common = dict(
        header=head.splitlines(), spec_name=name, tag=f"llmmon.{name}", state_dir=STATE_DIR,
        pos_file=quote(f"{STATE_DIR}/llmmon-{name}.pos"), time_key=TIME_KEY, prometheus_port=PROMETHEUS_PORT,
        host=quote(es.host), port=es.port, index=quote(es.index),
        index_glob=index_glob(es.index), policy=policy_name(es.index), retry_timeout=RETRY_TIMEOUT,
        buffer_path=quote(f"{STATE_DIR}/buffer/llmmon-{name}"), failed_dir=quote(f"{STATE_DIR}/failed"),
        failed_basename=quote(f"llmmon-{name}"), rejected_path=quote(f"{STATE_DIR}/failed/llmmon-{name}-rejected"),
        rejected_buffer=quote(f"{STATE_DIR}/buffer/llmmon-{name}-rejected"))
    if logging.source == "containers":
        return render("fluent-containers.conf.j2", **common, match_pattern="**",
                      path=quote(",".join(container_paths(plan))), cri_expression=CRI_EXPRESSION,
                      path_pattern=quote(path_pattern(plan)), record=_container_record(plan), chunk_keys="")
    assert logging.path is not None  # required with source: files (llmmon.telemetry)
    record, ruby = _record(plan)
    return render("fluent.conf.j2", **common, match_pattern=f"llmmon.{name}", path=quote(logging.path),
                  record=record, enable_ruby=ruby, chunk_keys=" tag")


def emit(plan: Plan, head: str) -> dict[str, str]:
    """out/fluentd/fluent.conf and the Fluentd DaemonSet with its config, when the spec has a logging section."""
    from llmmon.emit import fluentd_kube  # it reads this module's constants

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
    return {"fluentd/fluent.conf": conf,
            f"kubernetes/{plan.name}-fluentd.yaml": fluentd_kube.emit(plan, head, conf, config_map)}
