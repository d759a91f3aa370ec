"""Checks of a Fluentd config without Fluentd: structure, each plugin's parameters, routing, and the rules llmmon
keeps (credentials only from the environment, no silent log loss when Elasticsearch is down).

The plugin catalogue below holds the parameters of every plugin llmmon generates, from the plugins' own
documentation: fluentd v1 core (in_tail, parser_json, parser_regexp, filter_grep, filter_parser,
filter_record_transformer, out_relabel, out_file, out_secondary_file, in_monitor_agent, buf_file, buf_memory),
fluent-plugin-elasticsearch 5, fluent-plugin-concat 2.6, fluent-plugin-kubernetes_metadata_filter 3.8 and
fluent-plugin-prometheus 2.2 (the plugins of the fluentd-kubernetes-daemonset image llmmon deploys).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field

from llmmon.checks.fluentconf import ConfigSyntaxError, Element, Value, parse

COMMON = {"@type": "string", "@id": "string", "@label": "string",
          "@log_level": "enum:fatal|error|warn|info|debug|trace"}
_BUFFER = {
    "path": "string", "chunk_limit_size": "size", "chunk_limit_records": "integer", "total_limit_size": "size",
    "queued_chunks_limit_size": "integer", "compress": "enum:text|gzip",
    "flush_mode": "enum:default|lazy|interval|immediate",
    "flush_interval": "time", "flush_thread_count": "integer", "flush_thread_interval": "float",
    "flush_thread_burst_interval": "float", "flush_at_shutdown": "bool", "delayed_commit_timeout": "time",
    "overflow_action": "enum:throw_exception|block|drop_oldest_chunk", "retry_timeout": "time",
    "retry_forever": "bool", "retry_max_times": "integer", "retry_secondary_threshold": "float",
    "retry_type": "enum:exponential_backoff|periodic", "retry_wait": "time", "retry_exponential_backoff_base": "float",
    "retry_max_interval": "time", "retry_randomize": "bool", "timekey": "time", "timekey_wait": "time",
    "timekey_use_utc": "bool", "timekey_zone": "string", "chunk_full_threshold": "float", "path_suffix": "string",
}
_TIME = {"time_key": "string", "time_type": "enum:string|unixtime|float|mixed", "time_format": "string",
         "time_format_fallbacks": "array", "localtime": "bool", "utc": "bool", "timezone": "string",
         "keep_time_key": "bool", "null_empty_string": "bool", "estimate_current_event": "bool", "types": "hash"}
_SECRETS = frozenset({"user", "password", "api_key", "client_key_pass", "cloud_auth"})


@dataclass(frozen=True)
class Plugin:
    """What one plugin accepts: typed parameters, which of them are required, and its sections."""

    params: dict[str, str]
    required: frozenset[str] = frozenset()
    sections: dict[str, bool] = field(default_factory=dict)  # section name → required


CATALOGUE: dict[tuple[str, str], Plugin] = {
    ("source", "tail"): Plugin({
        "path": "string", "pos_file": "string", "tag": "string", "path_key": "string", "exclude_path": "array",
        "read_from_head": "bool", "follow_inodes": "bool", "refresh_interval": "time", "rotate_wait": "time",
        "emit_unmatched_lines": "bool", "enable_stat_watcher": "bool", "enable_watch_timer": "bool",
        "read_lines_limit": "integer", "read_bytes_limit_per_second": "size", "limit_recently_modified": "time",
        "skip_refresh_on_startup": "bool", "ignore_repeated_permission_error": "bool", "encoding": "string",
        "from_encoding": "string", "path_delimiter": "string", "max_line_size": "size",
        "pos_file_compaction_interval": "time", "multiline_flush_interval": "time", "open_on_every_update": "bool",
        "path_timezone": "string"}, frozenset({"path", "tag"}), {"parse": True}),
    ("source", "monitor_agent"): Plugin({"bind": "string", "port": "integer", "tag": "string",
                                         "emit_interval": "time", "include_config": "bool", "include_retry": "bool"}),
    ("parse", "json"): Plugin({**_TIME, "json_parser": "enum:oj|yajl|json", "stream_buffer_size": "integer"}),
    ("parse", "regexp"): Plugin({**_TIME, "expression": "regexp", "ignorecase": "bool", "multiline": "bool"},
                                frozenset({"expression"})),
    ("filter", "grep"): Plugin({}, sections={"regexp": False, "exclude": False, "and": False, "or": False}),
    ("regexp", ""): Plugin({"key": "string", "pattern": "regexp"}, frozenset({"key", "pattern"})),
    ("exclude", ""): Plugin({"key": "string", "pattern": "regexp"}, frozenset({"key", "pattern"})),
    ("filter", "parser"): Plugin({
        "key_name": "string", "reserve_time": "bool", "reserve_data": "bool", "remove_key_name_field": "bool",
        "replace_invalid_sequence": "bool", "inject_key_prefix": "string", "hash_value_field": "string",
        "emit_invalid_record_to_error": "bool"}, frozenset({"key_name"}), {"parse": True}),
    ("filter", "concat"): Plugin({
        "key": "string", "separator": "string", "n_lines": "integer", "multiline_start_regexp": "string",
        "multiline_end_regexp": "string", "continuous_line_regexp": "string", "stream_identity_key": "string",
        "flush_interval": "time", "timeout_label": "string", "use_first_timestamp": "bool", "partial_key": "string",
        "partial_value": "string", "keep_partial_key": "bool", "use_partial_metadata": "bool",
        "partial_metadata_format": "enum:docker-fluentd|docker-journald|docker-journald-lowercase",
        "keep_partial_metadata": "bool", "use_partial_cri_logtag": "bool", "partial_cri_logtag_key": "string",
        "partial_cri_stream_key": "string", "buffer_limit_size": "size",
        "buffer_overflow_method": "enum:ignore|truncate|drop|new"}, frozenset({"key"})),
    ("filter", "kubernetes_metadata"): Plugin({
        "kubernetes_url": "string", "cache_size": "integer", "cache_ttl": "integer", "watch": "bool",
        "apiVersion": "string", "client_cert": "string", "client_key": "string", "ca_file": "string",
        "verify_ssl": "bool", "open_timeout": "integer", "read_timeout": "integer",
        "tag_to_kubernetes_name_regexp": "string", "bearer_token_file": "string", "secret_dir": "string",
        "annotation_match": "array", "stats_interval": "integer", "allow_orphans": "bool",
        "orphaned_namespace_name": "string", "orphaned_namespace_id": "string", "lookup_from_k8s_field": "bool",
        "skip_labels": "bool", "skip_pod_labels": "bool", "skip_namespace_labels": "bool",
        "skip_container_metadata": "bool", "skip_master_url": "bool", "skip_namespace_metadata": "bool",
        "include_ownerrefs_metadata": "bool", "watch_retry_interval": "integer",
        "watch_retry_exponential_backoff_base": "integer", "watch_retry_max_times": "integer"}),
    ("match", "relabel"): Plugin({}),
    ("source", "prometheus"): Plugin({"bind": "string", "port": "integer", "metrics_path": "string",
                                      "aggregated_metrics_path": "string", "content_encoding": "string"}),
    ("source", "prometheus_output_monitor"): Plugin({"interval": "time", "gauge_all": "bool"},
                                                    sections={"labels": False}),
    ("filter", "record_transformer"): Plugin({
        "enable_ruby": "bool", "auto_typecast": "bool", "renew_record": "bool", "renew_time_key": "string",
        "keep_keys": "array", "remove_keys": "array"}, sections={"record": True}),
    ("match", "elasticsearch"): Plugin({
        "host": "string", "port": "integer", "hosts": "string", "path": "string", "scheme": "enum:http|https",
        "user": "string", "password": "string", "api_key": "string", "cloud_id": "string", "cloud_auth": "string",
        "ssl_verify": "bool", "ca_file": "string", "client_cert": "string", "client_key": "string",
        "client_key_pass": "string", "ssl_version": "enum:SSLv23|TLSv1|TLSv1_1|TLSv1_2|TLSv1_3",
        "logstash_format": "bool", "logstash_prefix": "string", "logstash_prefix_separator": "string",
        "logstash_dateformat": "string", "utc_index": "bool", "index_name": "string", "include_timestamp": "bool",
        "type_name": "string", "suppress_type_name": "bool", "id_key": "string", "write_operation": "string",
        "pipeline": "string", "request_timeout": "time", "reload_connections": "bool", "reload_on_failure": "bool",
        "reload_after": "integer", "resurrect_after": "time", "reconnect_on_error": "bool", "time_key": "string",
        "include_tag_key": "bool", "tag_key": "string", "remove_keys": "string", "log_es_400_reason": "bool",
        "verify_es_version_at_startup": "bool", "default_elasticsearch_version": "integer",
        "template_name": "string", "template_file": "string", "enable_ilm": "bool", "ilm_policy_id": "string",
        "with_transporter_log": "bool", "bulk_message_request_threshold": "size",
        "compression_level": "enum:no_compression|best_speed|best_compression|default_compression"},
        sections={"buffer": False, "secondary": False}),
    ("match", "file"): Plugin({
        "path": "string", "append": "bool", "add_path_suffix": "bool", "path_suffix": "string",
        "compress": "enum:text|gz|gzip", "recompress": "bool", "symlink_path": "string"}, frozenset({"path"}),
        {"buffer": False, "format": False}),
    ("match", "stdout"): Plugin({}, sections={"buffer": False, "format": False}),
    ("match", "null"): Plugin({"never_flush": "bool"}, sections={"buffer": False}),
    ("secondary", "secondary_file"): Plugin({"directory": "string", "basename": "string", "append": "bool",
                                             "compress": "enum:text|gzip"}, frozenset({"directory"})),
    ("buffer", "file"): Plugin(_BUFFER),
    ("buffer", "memory"): Plugin({k: v for k, v in _BUFFER.items() if k != "path"}),
}
BUFFER_DEFAULT = {"elasticsearch": "memory", "file": "file", "stdout": "memory", "null": "memory"}
_TOP = {"source", "filter", "match", "label", "system"}
_TYPES = {
    "integer": re.compile(r"^-?\d+$"), "float": re.compile(r"^-?\d+(\.\d+)?$"),
    "bool": re.compile(r"^(true|false|yes|no)?$"), "size": re.compile(r"^\d+(\.\d+)?([kmgt]b?)?$", re.I),
    "time": re.compile(r"^\d+(\.\d+)?[smhd]?$"),
}
_ENV_ONLY = re.compile(r"^\s*ENV\[\s*'[A-Za-z_][A-Za-z0-9_]*'\s*\]\s*(\|\|\s*(use_nil|use_default|'[^'\\]*')\s*)?$")


@dataclass(frozen=True, order=True)
class Finding:
    """One problem, at a 1-based line and column of the config."""

    line: int
    col: int
    message: str


class _Checker:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.ids: dict[str, Value] = {}

    def add(self, at: Element | Value, message: str) -> None:
        self.findings.append(Finding(at.line, at.col, message))

    def run(self, root: Element) -> list[Finding]:
        for key, value in root.params.items():
            self.add(value, f"parameter {key!r} outside any directive" if key != "@include" else
                     "@include is not checked by llmmon: inline the included file")
        for element in root.elements:
            self.top(element)
        self.routing(root)
        return sorted(set(self.findings))

    def top(self, element: Element, in_label: bool = False) -> None:
        allowed = {"filter", "match"} if in_label else _TOP
        if element.name not in allowed:
            self.add(element, f"{element.label} is not allowed {'in a <label>' if in_label else 'at the top level'}")
            return
        if element.name == "system":
            return
        if element.name == "label":
            if not element.arg.startswith("@"):
                self.add(element, f"{element.label}: a label name starts with '@'")
            for key, value in element.params.items():
                self.add(value, f"{element.label}: unexpected parameter {key!r}")
            for child in element.elements:
                self.top(child, in_label=True)
            return
        if element.name in ("filter", "match") and not element.arg:
            self.add(element, f"{element.label} needs a tag pattern")
        plugin = self.plugin(element, element.name)
        if plugin:
            self.policies(element, plugin)

    def plugin(self, element: Element, kind: str, default: str | None = None) -> Plugin | None:
        type_ = element.get("@type") or default
        if type_ is None:
            self.add(element, f"{element.label} has no @type")
            return None
        plugin = CATALOGUE.get((kind, type_))
        if plugin is None:
            self.add(element, f"{element.label}: llmmon does not know the {kind} plugin {type_!r}")
            return None
        where = f"{element.label} {type_}"
        for key, value in element.duplicates:
            self.add(value, f"{where}: {key!r} is set twice; the last one wins")
        for key, value in element.params.items():
            self.param(where, key, value, plugin)
        for key in sorted(plugin.required - set(element.params)):
            self.add(element, f"{where}: required parameter {key!r} is missing")
        self.sections(element, where, type_, plugin)
        return plugin

    def param(self, where: str, key: str, value: Value, plugin: Plugin) -> None:
        kind = COMMON.get(key) or plugin.params.get(key)
        if kind is None:
            close = difflib.get_close_matches(key, [*plugin.params, *COMMON], n=1)
            self.add(value, f"{where}: unknown parameter {key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            return
        if key == "@id":
            if value.text in self.ids:
                self.add(value, f"{where}: @id {value.text!r} is already used (line {self.ids[value.text].line})")
            self.ids.setdefault(value.text, value)
        self.embedded(where, key, value)
        if key in _SECRETS and not (value.embedded and value.text.startswith("#{") and value.text.endswith("}")
                                    and len(value.embedded) == 1):
            self.add(value, f"{where}: {key} must come from the environment (\"#{{ENV['NAME']}}\"), never inline")
        if not value.embedded:
            problem = _type_problem(kind, value.text)
            if problem:
                self.add(value, f"{where}: {key} {problem}")

    def embedded(self, where: str, key: str, value: Value) -> None:
        for code in value.embedded:
            if not _ENV_ONLY.match(code):
                self.add(value, f"{where}: {key}: embedded Ruby #{{{code}}} does more than read an environment "
                         "variable")

    def sections(self, element: Element, where: str, type_: str, plugin: Plugin) -> None:
        for child in element.elements:
            if child.name not in plugin.sections:
                self.add(child, f"{where}: unexpected section {child.label}")
            elif child.name == "record":
                for key, value in child.params.items():
                    self.embedded(f"{where} <record>", key, value)
                for nested in child.elements:
                    self.add(nested, f"{where} <record>: unexpected section {nested.label}")
            elif child.name == "buffer":
                self.plugin(child, "buffer", BUFFER_DEFAULT.get(type_))
            elif child.name in ("parse", "secondary"):
                self.plugin(child, child.name)
            elif child.name in ("regexp", "exclude"):
                self.plugin(child, child.name, "")
        for name, required in plugin.sections.items():
            if required and not element.sections(name):
                self.add(element, f"{where}: section <{name}> is missing")

    def policies(self, element: Element, plugin: Plugin) -> None:
        type_ = element.get("@type")
        where = f"{element.label} {type_}"
        if type_ == "tail" and "pos_file" not in element.params:
            self.add(element, f"{where}: no pos_file: a restart re-reads every file or skips lines")
        if type_ == "elasticsearch":
            self.durable(element, where)
            hosts = element.get("hosts") or ""
            if re.search(r"//[^/@\s]+:[^/@\s]*@", hosts):
                self.add(element.params["hosts"], f"{where}: hosts carries credentials; use user and password "
                         "from the environment")

    def durable(self, element: Element, where: str) -> None:
        """A down Elasticsearch must not lose logs silently: disk buffer, bounded retries, then a secondary."""
        buffers = element.sections("buffer")
        buffer = buffers[0] if buffers else None
        if buffer is None or (buffer.get("@type") or "memory") != "file":
            self.add(buffer or element, f"{where}: buffer is not @type file: queued logs die with the process")
            return
        if buffer.get("overflow_action") == "drop_oldest_chunk":
            self.add(buffer.params["overflow_action"], f"{where}: overflow_action drop_oldest_chunk drops logs")
        forever = buffer.get("retry_forever") in ("true", "yes", "")
        bounded = "retry_timeout" in buffer.params or "retry_max_times" in buffer.params
        if not forever and not bounded:
            self.add(buffer, f"{where}: no retry_timeout or retry_max_times: say how long chunks are retried")
        if not forever and not element.sections("secondary"):
            self.add(element, f"{where}: retries are bounded but there is no <secondary>: chunks are dropped "
                     "when they run out")

    def routing(self, root: Element) -> None:
        """Every source's events reach a <match>; no filter is dead or placed after its match."""
        # in_tail replaces `*` in its tag by the file's path, dots for slashes
        tags = [(s, (s.get("tag") or "").replace("*", "var.log.x.log")) for s in root.sections("source")
                if s.get("tag") is not None]
        order = [e for e in root.elements if e.name in ("filter", "match")]
        for source, tag in tags:
            if not tag:
                continue
            first = next((i for i, e in enumerate(order) if e.name == "match" and matches(e.arg, tag)), None)
            if first is None:
                self.add(source, f"{source.label}: no <match> takes tag {tag!r}: its events are discarded")
            for i, e in enumerate(order):
                if e.name == "filter" and matches(e.arg, tag) and first is not None and i > first:
                    self.add(e, f"{e.label} comes after the <match> of {tag!r}: it never sees those events")
        for e in order:
            if e.name == "filter" and not any(matches(e.arg, tag) for _, tag in tags if tag):
                self.add(e, f"{e.label} matches no source tag: it never runs")
        labelled = [e for label in root.sections("label") for e in label.elements]
        has_es = any(e.get("@type") == "elasticsearch" for e in order + labelled)
        if has_es and not any(label.arg == "@ERROR" for label in root.sections("label")):
            self.add(root, "no <label @ERROR>: records Elasticsearch rejects are dropped")


def _type_problem(kind: str, text: str) -> str | None:
    if kind.startswith("enum:"):
        options = kind[5:].split("|")
        return None if text in options else f"must be one of {', '.join(options)}, got {text!r}"
    if kind == "regexp":
        if not (len(text) >= 2 and text.startswith("/") and text.endswith("/")):
            return f"must be a /regular expression/, got {text!r}"
        return None
    if kind == "array" and text.startswith("["):
        return None if isinstance(json.loads(text), list) else f"must be a list, got {text!r}"
    pattern = _TYPES.get(kind)
    if pattern and not pattern.match(text):
        return f"must be a {kind}, got {text!r}"
    return None


def matches(patterns: str, tag: str) -> bool:
    """Whether a <match>/<filter> pattern list takes a tag (`*` one part, `**` any parts, `{a,b}`)."""
    return any(re.fullmatch(_glob(p), tag) for p in patterns.split())


def _glob(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith(".**", i) and i + 3 == len(pattern):
            out.append(r"(?:\..*)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^.]*")
            i += 1
        elif pattern[i] == "{":
            end = pattern.find("}", i)
            end = len(pattern) if end < 0 else end
            out.append("(?:" + "|".join(_glob(a) for a in pattern[i + 1:end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)


def check(text: str) -> list[Finding]:
    """Every problem of a Fluentd config text; a syntax error is the only finding when there is one."""
    try:
        root = parse(text)
    except ConfigSyntaxError as exc:
        return [Finding(exc.line, exc.col, exc.message)]
    return _Checker().run(root)
