"""Checks of an OpenTelemetry Collector config without a collector: pydantic models of the components llmmon
uses, and the service graph (every pipeline component defined, every defined component used, processor order).

Field names and kinds follow the components' config structs (collector core: otlp receiver and exporter,
memory_limiter, batch; contrib: tail_sampling, resource, health_check). Unknown keys are errors, as they are
for the collector itself.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from llmmon.yamlpos import Document

_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_ENDPOINT = re.compile(r"^(?P<host>[A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def _duration(value: Any) -> str:
    if not isinstance(value, str) or not _GO_DURATION.fullmatch(value):
        raise PydanticCustomError("duration", "expected a Go duration such as 200ms, 5s or 1m, got {value!r}",
                                  {"value": value})
    return value


def _endpoint(value: Any) -> str:
    match = _ENDPOINT.fullmatch(value) if isinstance(value, str) else None
    if not match or not 1 <= int(match["port"]) <= 65535:
        raise PydanticCustomError("endpoint", "expected host:port with a port from 1 to 65535, got {value!r}",
                                  {"value": value})
    return match.group()


GoDuration = Annotated[str, PlainValidator(_duration)]
Endpoint = Annotated[str, PlainValidator(_endpoint)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Server(_Strict):
    endpoint: Endpoint


class _Protocols(_Strict):
    grpc: _Server | None = None
    http: _Server | None = None

    @model_validator(mode="after")
    def _one(self) -> _Protocols:
        if self.grpc is None and self.http is None:
            raise PydanticCustomError("protocols", "enable at least one of grpc or http")
        return self


class OtlpReceiver(_Strict):
    """receivers: otlp."""

    protocols: _Protocols


class MemoryLimiter(_Strict):
    """processors: memory_limiter (hard limit, and the spike headroom below it)."""

    check_interval: GoDuration
    limit_mib: int | None = Field(None, gt=0)
    spike_limit_mib: int | None = Field(None, gt=0)
    limit_percentage: int | None = Field(None, gt=0, le=100)
    spike_limit_percentage: int | None = Field(None, gt=0, le=100)

    @model_validator(mode="after")
    def _limits(self) -> MemoryLimiter:
        if (self.limit_mib is None) == (self.limit_percentage is None):
            raise PydanticCustomError("limits", "set exactly one of limit_mib or limit_percentage")
        limit, spike = (self.limit_mib, self.spike_limit_mib) if self.limit_mib else (
            self.limit_percentage, self.spike_limit_percentage)
        if spike is not None and limit is not None and spike >= limit:
            raise PydanticCustomError("limits", "the spike limit must be below the limit")
        return self


class Batch(_Strict):
    """processors: batch."""

    send_batch_size: int = Field(8192, ge=0)
    send_batch_max_size: int = Field(0, ge=0)
    timeout: GoDuration = "200ms"

    @model_validator(mode="after")
    def _sizes(self) -> Batch:
        if self.send_batch_max_size and self.send_batch_max_size < self.send_batch_size:
            raise PydanticCustomError("sizes", "send_batch_max_size must be 0 or at least send_batch_size")
        return self


class _Latency(_Strict):
    threshold_ms: int = Field(gt=0)
    upper_threshold_ms: int | None = Field(None, gt=0)


class _StatusCode(_Strict):
    status_codes: list[Literal["OK", "ERROR", "UNSET"]] = Field(min_length=1)


class _Probabilistic(_Strict):
    sampling_percentage: float = Field(ge=0, le=100)
    hash_salt: str | None = None


class _StringAttribute(_Strict):
    key: str = Field(min_length=1)
    values: list[str] = Field(min_length=1)
    enabled_regex_matching: bool = False
    cache_max_size: int | None = Field(None, gt=0)
    invert_match: bool = False


_POLICY_BLOCKS = ("latency", "status_code", "probabilistic", "string_attribute", "and")


class _SubPolicy(_Strict):
    name: str = Field(min_length=1)
    type: Literal["latency", "status_code", "probabilistic", "string_attribute", "always_sample"]
    latency: _Latency | None = None
    status_code: _StatusCode | None = None
    probabilistic: _Probabilistic | None = None
    string_attribute: _StringAttribute | None = None

    @model_validator(mode="after")
    def _block(self) -> _SubPolicy:
        return _one_block(self)


class _And(_Strict):
    and_sub_policy: list[_SubPolicy] = Field(min_length=2)


class _Policy(_SubPolicy):
    type: Literal["latency", "status_code", "probabilistic", "string_attribute", "always_sample", "and"]  # type: ignore[assignment]
    and_: _And | None = Field(None, alias="and")


def _one_block(policy: _SubPolicy) -> _SubPolicy:
    """A policy carries the settings block named by its type, and no other."""
    present = [b for b in _POLICY_BLOCKS if getattr(policy, "and_" if b == "and" else b, None) is not None]
    wanted = [] if policy.type == "always_sample" else [policy.type]
    if present != wanted:
        raise PydanticCustomError("policy", "policy {name!r} of type {type} needs {wanted}, has {present}",
                                  {"name": policy.name, "type": policy.type, "wanted": wanted or "no settings",
                                   "present": present or "none"})
    return policy


class TailSampling(_Strict):
    """processors: tail_sampling."""

    decision_wait: GoDuration = "30s"
    num_traces: int = Field(50000, gt=0)
    expected_new_traces_per_sec: int = Field(0, ge=0)
    policies: list[_Policy] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> TailSampling:
        names = [p.name for p in self.policies]
        if len(names) != len(set(names)):
            raise PydanticCustomError("policies", "policy names must be unique")
        return self


class _Attribute(_Strict):
    key: str = Field(min_length=1)
    value: str | int | float | bool | None = None
    action: Literal["insert", "update", "upsert", "delete", "hash", "extract", "convert"]


class ResourceProcessor(_Strict):
    """processors: resource."""

    attributes: list[_Attribute] = Field(min_length=1)


class _Tls(_Strict):
    insecure: bool = False
    insecure_skip_verify: bool = False
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class _Queue(_Strict):
    enabled: bool = True
    num_consumers: int = Field(10, gt=0)
    queue_size: int = Field(1000, gt=0)


class _Retry(_Strict):
    enabled: bool = True
    initial_interval: GoDuration = "5s"
    max_interval: GoDuration = "30s"
    max_elapsed_time: GoDuration = "300s"


class OtlpExporter(_Strict):
    """exporters: otlp (gRPC)."""

    endpoint: Endpoint
    tls: _Tls = Field(default_factory=_Tls)
    compression: Literal["gzip", "zstd", "snappy", "none"] = "gzip"
    timeout: GoDuration | None = None
    sending_queue: _Queue = Field(default_factory=_Queue)
    retry_on_failure: _Retry = Field(default_factory=_Retry)


class HealthCheck(_Strict):
    """extensions: health_check."""

    endpoint: Endpoint
    path: str | None = None


class _Pipeline(_Strict):
    receivers: list[str] = Field(min_length=1)
    processors: list[str] = Field(default_factory=list)
    exporters: list[str] = Field(min_length=1)


class _Prometheus(_Strict):
    host: str
    port: int = Field(ge=1, le=65535)
    without_units: bool | None = None
    without_type_suffix: bool | None = None
    without_scope_info: bool | None = None


class _PullExporter(_Strict):
    prometheus: _Prometheus


class _Pull(_Strict):
    exporter: _PullExporter


class _Reader(_Strict):
    pull: _Pull


class _Metrics(_Strict):
    level: Literal["none", "basic", "normal", "detailed"] | None = None
    readers: list[_Reader] = Field(default_factory=list)


class _Telemetry(_Strict):
    """service.telemetry: the collector's own metrics, served for Prometheus to scrape."""

    metrics: _Metrics | None = None


class _Service(_Strict):
    extensions: list[str] = Field(default_factory=list)
    pipelines: dict[str, _Pipeline] = Field(min_length=1)
    telemetry: _Telemetry | None = None


KINDS: dict[str, dict[str, type[BaseModel]]] = {
    "receivers": {"otlp": OtlpReceiver},
    "processors": {"memory_limiter": MemoryLimiter, "batch": Batch, "tail_sampling": TailSampling,
                   "resource": ResourceProcessor},
    "exporters": {"otlp": OtlpExporter},
    "extensions": {"health_check": HealthCheck},
}
TRACES_ONLY = {"tail_sampling"}


def _where(doc: Document, path: tuple[str | int, ...]) -> str:
    line, col = doc.position(path)
    return f"{line}:{col}: {'.'.join(str(p) for p in path)}"


def check(doc: Document) -> list[str]:
    """Every problem of a collector config: `LINE:COL: key.path: message`."""
    data = doc.data
    if not isinstance(data, dict):
        return ["1:1: the config must be a mapping"]
    found: list[str] = []
    for key in sorted(set(data) - {*KINDS, "service"}):
        found.append(f"{_where(doc, (key,))}: unknown top-level key")
    defined: dict[str, set[str]] = {}
    for kind, models in KINDS.items():
        section = data.get(kind) or {}
        defined[kind] = set(section) if isinstance(section, dict) else set()
        for name, settings in (section.items() if isinstance(section, dict) else ()):
            type_ = str(name).split("/", 1)[0]
            model = models.get(type_)
            if model is None:
                found.append(f"{_where(doc, (kind, name))}: llmmon does not know the {kind[:-1]} type {type_!r}")
                continue
            try:
                model.model_validate(settings if settings is not None else {})
            except ValidationError as exc:
                for error in exc.errors(include_url=False):
                    path = (kind, name, *[p for p in error["loc"] if isinstance(p, str | int)])
                    found.append(f"{_where(doc, path)}: {error['msg']}")
    try:
        service = _Service.model_validate(data.get("service"))
    except ValidationError as exc:
        return found + [f"{_where(doc, ('service', *error['loc']))}: {error['msg']}"
                        for error in exc.errors(include_url=False)]
    found += _graph(doc, service, defined)
    return found


def _graph(doc: Document, service: _Service, defined: dict[str, set[str]]) -> list[str]:
    found: list[str] = []
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for i, name in enumerate(service.extensions):
        used["extensions"].add(name)
        if name not in defined["extensions"]:
            found.append(f"{_where(doc, ('service', 'extensions', i))}: extension {name!r} is not defined")
    for pipe_name, pipeline in service.pipelines.items():
        signal = pipe_name.split("/", 1)[0]
        if signal not in ("traces", "metrics", "logs"):
            found.append(f"{_where(doc, ('service', 'pipelines', pipe_name))}: a pipeline is traces, metrics or logs")
        for kind in ("receivers", "processors", "exporters"):
            listed: list[str] = getattr(pipeline, kind)
            for i, name in enumerate(listed):
                path = ("service", "pipelines", pipe_name, kind, i)
                used[kind].add(name)
                if name not in defined[kind]:
                    found.append(f"{_where(doc, path)}: {kind[:-1]} {name!r} is not defined under {kind}")
                if listed.index(name) != i:
                    found.append(f"{_where(doc, path)}: {name!r} is listed twice")
                if name.split("/", 1)[0] in TRACES_ONLY and signal != "traces":
                    found.append(f"{_where(doc, path)}: {name!r} works on traces only")
        types = [p.split("/", 1)[0] for p in pipeline.processors]
        where = _where(doc, ("service", "pipelines", pipe_name, "processors"))
        if "memory_limiter" in types and types[0] != "memory_limiter":
            found.append(f"{where}: memory_limiter must be the first processor")
        if "batch" in types and "tail_sampling" in types and types.index("batch") < types.index("tail_sampling"):
            found.append(f"{where}: batch must come after tail_sampling (sampling needs whole traces)")
    for kind, names in defined.items():
        for name in sorted(names - used[kind]):
            found.append(f"{_where(doc, (kind, name))}: {kind[:-1]} {name!r} is defined but not used in service")
    return found
