"""The spec format, version 1: pydantic models of the YAML a user writes.

Only the loader reads these models; everything downstream works on the resolved model (model.py).
Model-level `slo` and `alerts` are partial: every key may be left out and is inherited from `defaults`.
"""

from __future__ import annotations

import json
import math
import re
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from llmmon.units import Duration as DurationValue
from llmmon.units import parse_percent

ENGINES = ("openai-compatible", "vllm", "tgi", "sglang", "triton", "otel-genai")
TIERS = ("critical", "warning", "info")
ROLES = ("sre", "ml-engineer", "finops")

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MODEL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$")
IDENT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
LABEL_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
URL = re.compile(r"^https?://[^\s\"'<>{}|\\^`]+$")
# C0 and C1 controls, YAML's extra line breaks, and the two non-characters Go's YAML (kubectl) refuses even escaped
MAX_NUMBER = 1e12
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff]")


def _duration(value: Any) -> DurationValue:
    try:
        return DurationValue.parse(value)
    except ValueError as exc:
        raise PydanticCustomError("duration", str(exc)) from None


def _percent(value: Any) -> float:
    try:
        return parse_percent(value)
    except ValueError as exc:
        raise PydanticCustomError("percent", str(exc)) from None


def _plain_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("number", f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or abs(number) > MAX_NUMBER:  # prices times GPU counts must stay finite
        raise PydanticCustomError("number", f"{value!r} is not a finite number of at most {MAX_NUMBER:g}")
    return number


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise PydanticCustomError("text", f"expected text ({what}), got {value!r}")
        if not regex.fullmatch(value):
            raise PydanticCustomError("pattern", f"{value!r} is not {what}")
        return value

    return PlainValidator(check)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("text", f"expected text, got {value!r}")
    if not value.strip():
        raise PydanticCustomError("text", "must not be empty")
    if CONTROL.search(value):
        raise PydanticCustomError("text", "must not contain newlines or control characters")
    if len(value) > 1024:
        raise PydanticCustomError("text", "is longer than 1024 characters")
    return value


Duration = Annotated[
    DurationValue,
    PlainValidator(_duration),
    PlainSerializer(str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+(\.\d+)?(y|w|d|h|m|s|ms))+$",
                    "description": "Prometheus duration: 500ms, 0.25s, 2s, 5m, 1h30m, 30d"}),
]
Percent = Annotated[
    float,
    PlainValidator(_percent),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\s*[0-9.]+\s*%?\s*$"}],
                    "description": "a percentage: 99.9 or \"99.9%\" (never a 0-1 ratio)"}),
]
Number = Annotated[float, PlainValidator(_plain_number), WithJsonSchema({"type": "number"})]
Text = Annotated[str, PlainValidator(_text), WithJsonSchema({"type": "string", "minLength": 1})]


def _version(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise PydanticCustomError("version", f"quote the version, e.g. \"0.10\": YAML reads {value!r} as a number, "
                                  "and 0.10 as 0.1")
    return _text(value)


EngineVersion = Annotated[str, PlainValidator(_version), WithJsonSchema({"type": "string", "minLength": 1})]
DnsLabel = Annotated[str, _pattern(DNS_LABEL, "a DNS-1123 label (lowercase letters, digits, '-'; 63 at most)"),
                     WithJsonSchema({"type": "string", "pattern": DNS_LABEL.pattern})]
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # Service names: a DNS-1123 label led by a letter
SpecName = Annotated[str, _pattern(DNS_1035, "a DNS-1035 label (a lowercase letter, then lowercase letters, digits, "
                                             "'-'; 63 at most): it prefixes object names, Services included"),
                     WithJsonSchema({"type": "string", "pattern": DNS_1035.pattern})]
ModelName = Annotated[str, _pattern(MODEL_NAME, "a model name (lowercase letters, digits, '-', '.', '_'; "
                                                 "63 at most, starting and ending alphanumeric)"),
                      WithJsonSchema({"type": "string", "pattern": MODEL_NAME.pattern})]
Ident = Annotated[str, _pattern(IDENT, "a name of letters, digits, '-', '.', '_' (63 at most)"),
                  WithJsonSchema({"type": "string", "pattern": IDENT.pattern})]
Url = Annotated[str, _pattern(URL, "an http(s) URL without spaces, quotes or braces"),
                WithJsonSchema({"type": "string", "pattern": URL.pattern})]
LabelKey = Annotated[str, _pattern(LABEL_KEY, "a Kubernetes label key"),
                     WithJsonSchema({"type": "string", "pattern": LABEL_KEY.pattern})]
LabelValue = Annotated[str, _pattern(LABEL_VALUE, "a Kubernetes label value (letters, digits, '-', '_', '.'; "
                                                   "63 at most; quote numbers and yes/no)"),
                       WithJsonSchema({"type": "string", "pattern": LABEL_VALUE.pattern})]
def _at_least(low: float, inclusive: bool) -> Any:
    def check(value: Any) -> float:
        number = _plain_number(value)
        if number < low or (number == low and not inclusive):
            kind = "greater_than_equal" if inclusive else "greater_than"
            bound = f"{'or equal to ' if inclusive else ''}{low:g}"
            raise PydanticCustomError(kind, f"Input should be greater than {bound}")
        return number

    return PlainValidator(check)


# Bounds checked in the validator, so the JSON Schema carries them as real keywords (minimum, exclusiveMinimum).
Positive = Annotated[float, _at_least(0, inclusive=False), WithJsonSchema({"type": "number", "exclusiveMinimum": 0})]
NonNegative = Annotated[float, _at_least(0, inclusive=True), WithJsonSchema({"type": "number", "minimum": 0})]
Price = Positive
Tier = Literal["critical", "warning", "info"]
Role = Literal["sre", "ml-engineer", "finops"]
# Kubernetes values (issue 5): container port name (IANA_SVC_NAME), quantity, image repository and tag.
PORT_NAME = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")


def _port_ref(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535:
        return value
    if isinstance(value, str) and PORT_NAME.fullmatch(value):
        return value
    raise PydanticCustomError("port", f"{value!r} is neither a port number (1-65535) nor a container port name "
                              "(15 characters at most: lowercase letters, digits and '-', with a letter)")


PortRef = Annotated[str | int, PlainValidator(_port_ref), WithJsonSchema({"anyOf": [
    {"type": "integer", "minimum": 1, "maximum": 65535}, {"type": "string", "pattern": PORT_NAME.pattern}]})]
_QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"
_IMAGE = r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?){0,8}$"
_TAG = r"^(?!latest$)([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|sha256:[a-f0-9]{64})$"
_PATH = r"^/[A-Za-z0-9._~/-]{0,200}$"
_VERSION = r"^1\.[0-9]{2}$"
Quantity = Annotated[str, _pattern(re.compile(_QUANTITY), "a quantity such as 100m, 0.5, 128Mi or 1Gi"),
                     WithJsonSchema({"type": "string", "pattern": _QUANTITY})]
Image = Annotated[str, _pattern(re.compile(_IMAGE), "an image repository without tag, e.g. "
                                "registry.example.com/nvidia/dcgm-exporter"),
                  WithJsonSchema({"type": "string", "pattern": _IMAGE})]
ImageTag = Annotated[str, _pattern(re.compile(_TAG), "a pinned image tag or sha256:<digest> (never `latest`)"),
                     WithJsonSchema({"type": "string", "pattern": _TAG})]
UrlPath = Annotated[str, _pattern(re.compile(_PATH), "an absolute path such as /metrics"),
                    WithJsonSchema({"type": "string", "pattern": _PATH})]
HostPath = Annotated[str, _pattern(re.compile(_PATH), "an absolute path on the node"),
                     WithJsonSchema({"type": "string", "pattern": _PATH})]
KubeVersion = Annotated[str, _pattern(re.compile(_VERSION), "a Kubernetes minor version such as \"1.34\""),
                        WithJsonSchema({"type": "string", "pattern": _VERSION})]


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Metadata(Strict):
    """Names and labels of the generated objects."""

    name: SpecName = Field(description=(
        "DNS-1035 label (it starts with a letter: it prefixes every object name, Services included)."))
    namespace: DnsLabel = Field("monitoring", description="Namespace of PrometheusRule, dashboards, exporter.")
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, description=(
        "Labels added to PrometheusRule and ServiceMonitor objects, e.g. `release: kube-prometheus-stack` so "
        "the Prometheus Operator's ruleSelector picks them up."))
    runbook_base_url: Url | None = Field(None, description=(
        "runbook_url of each alert = base/<alert-name-lowercase>; ErrorBudgetBurn adds #<slo>."))
    grafana_url: Url | None = Field(None, description=(
        "Base URL of Grafana, e.g. https://grafana.example.com: alerts then carry a dashboard_url to the SRE "
        "dashboard filtered on their model and cluster."))


class LatencyObjective(Strict):
    """A latency objective: `target` percent of requests finish within `threshold`."""

    threshold: Duration | None = Field(None, description="Latency bound; must be a bucket of the engine's histogram.")
    target: Percent | None = Field(None, description="Percent of requests that must finish within the threshold.")


class Slo(Strict):
    """Service level objectives of a model; every key may be inherited from `defaults.slo`."""

    availability: Percent | None = Field(None, description="Percent of requests that succeed over slo_window.")
    latency: LatencyObjective | None = Field(None, description="End-to-end latency objective.")
    ttft: LatencyObjective | None = Field(None, description="Time-to-first-token objective (optional).")
    itl: LatencyObjective | None = Field(None, description=(
        "Inter-token latency objective (optional): `target` percent of output tokens follow the previous one "
        "within `threshold`; engines with an ITL histogram (vLLM, SGLang, TGI)."))
    min_request_rate: NonNegative | None = Field(None, description=(
        "Requests per second below which burn-rate alerts stay quiet (low traffic makes ratios noisy)."))


class AlertOverride(Strict):
    """One threshold alert: its threshold, the tier it is routed to, `for` and whether it is on."""

    threshold: Any = Field(None, description="Threshold; its unit depends on the alert (duration, %, req/s).")
    tier: Tier | None = Field(None, description="critical | warning | info; sets the `severity` label.")
    for_: Duration | None = Field(None, alias="for", description="Pending period; default: the tier's `for`.")
    enabled: StrictBool | None = Field(None, description="Default true (throughput_low: false).")


class DurationAlert(AlertOverride):
    """An alert whose threshold is a duration."""

    threshold: Duration | None = Field(None, description="A duration, e.g. 2s.")


class PercentAlert(AlertOverride):
    """An alert whose threshold is a percentage."""

    threshold: Percent | None = Field(None, description="A percentage, e.g. 1% or 30%.")


class RateAlert(AlertOverride):
    """An alert whose threshold is a request rate."""

    threshold: Positive | None = Field(None, description="Requests per second.")


class StatusAlert(AlertOverride):
    """An alert without a threshold."""

    threshold: None = Field(None, description="Not used.")


class NumberAlert(AlertOverride):
    """An alert whose threshold is a plain number in the alert's own unit."""

    threshold: Positive | None = Field(None, description="A number in the alert's unit (see the alert).")


class Alerts(Strict):
    """Threshold alerts (the reference rules of the LLM observability chapter and more), each routed to a tier."""

    latency_p99: DurationAlert | None = Field(None, description="HighInferenceLatency: p99 latency above threshold.")
    error_rate: PercentAlert | None = Field(None, description=(
        "HighErrorRate: share of failed requests above threshold."))
    gpu_utilization_low: PercentAlert | None = Field(None, description=(
        "LowGPUUtilization: mean utilisation of the model's GPUs below threshold while it serves traffic."))
    ttft_p95: DurationAlert | None = Field(None, description="HighTimeToFirstToken: p95 TTFT above threshold.")
    throughput_low: RateAlert | None = Field(None, description=(
        "LowThroughput: request rate below threshold (req/s) while the model had traffic in the last hour."))
    metrics_absent: StatusAlert | None = Field(None, description="LLMMetricsAbsent: the model's metrics are gone.")
    itl_p99: DurationAlert | None = Field(None, description=(
        "HighInterTokenLatency: p99 time between output tokens above threshold (default off; 100ms when on)."))
    kv_cache_high: PercentAlert | None = Field(None, description=(
        "LLMKVCacheNearFull: KV-cache usage of the model's replicas above threshold (default 90%)."))
    queue_high: NumberAlert | None = Field(None, description=(
        "LLMQueueBuildUp: requests waiting per serving replica above threshold (default 10)."))
    preemptions: NumberAlert | None = Field(None, description=(
        "LLMPreemptions: requests preempted per second above threshold (default 0.1/s)."))
    replicas_missing: StatusAlert | None = Field(None, description=(
        "LLMReplicasMissing: fewer replicas report metrics than expected while others still do."))
    replica_outlier: NumberAlert | None = Field(None, description=(
        "LLMReplicaOutlier: one replica's error ratio (or p99) is more than threshold times its siblings' "
        "(default 3)."))
    pod_restarts: NumberAlert | None = Field(None, description=(
        "LLMPodRestartLoop: a serving pod restarted at least threshold times in the last hour (default 3; "
        "kube-state-metrics)."))
    pods_pending: StatusAlert | None = Field(None, description=(
        "LLMPodsPending: a serving pod is stuck in phase Pending (kube-state-metrics)."))
    gpu_xid: StatusAlert | None = Field(None, description=(
        "GPUXidError: a GPU of the model reported an XID error (dcgm-exporter)."))
    gpu_row_remap_failure: StatusAlert | None = Field(None, description=(
        "GPURowRemapFailure: a GPU of the model failed to remap a memory row (dcgm-exporter)."))
    gpu_temperature: NumberAlert | None = Field(None, description=(
        "GPUTemperatureHigh: a GPU of the model is hotter than threshold degrees C (default 85; dcgm-exporter)."))


class Gpus(Strict):
    """GPUs allocated to a model in total."""

    type: Ident = Field(description="GPU type; must have a rate in costs.gpu_hourly.")
    count: int = Field(ge=1, le=100_000, description="Number of GPUs allocated to the model.")


class ErrorSource(Strict):
    """Where a model's requests and errors are counted when not by its engine: in front of it."""

    source: Literal["ingress-nginx", "istio", "http"] = Field(description=(
        "ingress-nginx: nginx_ingress_controller_requests; istio: istio_requests_total (reporter=destination); "
        "http: plain HTTP instrumentation on the serving pods."))
    name: Ident | None = Field(None, description="The Ingress (ingress-nginx) or workload (istio); default: the "
                               "model's name.")
    metric: Text | None = Field(None, description="http only: the request counter; default http_requests_total.")
    status_label: Ident | None = Field(None, description="http only: the label holding the status; default status.")


class Defaults(Strict):
    """Settings every model inherits; a model may override any key."""

    engine: Literal[ENGINES] | None = Field(None, description="Metric preset of the serving engine.")  # type: ignore[valid-type]
    engine_version: EngineVersion | None = Field(None, description=(
        "Version line of the engine (vllm: 0.5, 0.8, 0.10; sglang: 0.4, 0.5): picks the bucket sets and names "
        "that version exposes; default: the newest (see `llmmon engines`)."))
    namespace: DnsLabel | None = Field(None, description="Kubernetes namespace of the serving pods.")
    slo: Slo | None = None
    alerts: Alerts | None = None
    metrics_port: PortRef | None = Field(None, description=(
        "Container port (name or number) the serving pods expose metrics on, scraped by the generated "
        "PodMonitor; default per engine: vllm 8000, sglang 30000, tgi 80, triton 8002, otherwise `http`."))
    metrics_path: UrlPath | None = Field(None, description="HTTP path of the serving pods' metrics; default /metrics.")
    errors: ErrorSource | None = Field(None, description=(
        "Count requests and errors at the edge (ingress, mesh, HTTP instrumentation) instead of from the engine: "
        "a crashed engine counts nothing, the proxy in front of it sees the 5xx."))


class Autoscaling(Strict):
    """A KEDA ScaledObject (or an HPA read through prometheus-adapter) for one model, scaling on the series llmmon
    records (and its alerts read)."""

    min_replicas: int = Field(1, ge=0, le=10_000, description="minReplicaCount of the ScaledObject.")
    max_replicas: int = Field(ge=1, le=10_000, description="maxReplicaCount of the ScaledObject.")
    signal: Literal["waiting", "kv_cache", "requests"] = Field("waiting", description=(
        "What to scale on: requests waiting per replica, KV-cache usage, or requests per second per replica."))
    target: Positive | None = Field(None, description=(
        "Target value per replica: default 5 waiting requests, 0.8 KV-cache usage, or 1 req/s."))
    workload: Ident | None = Field(None, description="Name of the Deployment to scale; default: the model name.")
    kind: Literal["Deployment", "StatefulSet"] = Field("Deployment", description="Kind of the scaled workload.")
    prometheus_url: Url = Field("http://prometheus-operated.monitoring.svc:9090", description=(
        "Prometheus server KEDA queries (serverAddress of the trigger)."))
    autoscaler: Literal["keda", "hpa"] = Field("keda", description=(
        "keda: a KEDA ScaledObject; hpa: an autoscaling/v2 HorizontalPodAutoscaler on an External metric, plus the "
        "prometheus-adapter rules (a ConfigMap) that serve it from the same recorded series."))


class ModelSpec(Defaults):
    """One served model."""

    name: ModelName = Field(description="Value of the `model` label on every generated series.")
    served_name: Text | None = Field(None, description="The engine's own model label value; default: name.")
    pods: Text | None = Field(None, description="Regex of pod names (RE2, anchored); default `<name>-.*`.")
    gpus: Gpus | None = Field(None, description="GPUs allocated to this model in total.")
    replicas: int | None = Field(None, ge=1, le=10_000, description=(
        "Serving replicas expected; LLMReplicasMissing compares the replicas reporting metrics with it "
        "(default: the model's pods kube-state-metrics reports Ready)."))
    autoscaling: Autoscaling | None = Field(None, description=(
        "Generate a KEDA ScaledObject scaling the model's workload on a recorded series."))


class Tier_(Strict):
    """An alert tier: its default `for` and the receiver it routes to."""

    for_: Duration = Field(alias="for", description="Default pending period of the tier's alerts.")
    receiver: Ident = Field(description="Name of a receiver in `receivers`.")


class AlertTiers(Strict):
    """Exactly three tiers; each name is a `severity` label value."""

    critical: Tier_
    warning: Tier_
    info: Tier_


class PagerDuty(Strict):
    """PagerDuty receiver; the key is read from a file."""

    routing_key_file: Text | None = Field(None, description="File holding the Events API v2 routing key.")
    service_key_file: Text | None = Field(None, description="File holding the legacy service key.")

    @model_validator(mode="after")
    def _one_key(self) -> PagerDuty:
        if (self.routing_key_file is None) == (self.service_key_file is None):
            raise PydanticCustomError("receiver", "set exactly one of routing_key_file or service_key_file")
        return self


class Slack(Strict):
    """Slack receiver; the webhook URL is read from a file."""

    api_url_file: Text = Field(description="File holding the incoming-webhook URL.")
    channel: Text | None = Field(None, description="Channel, e.g. #llm-alerts.")


class Webhook(Strict):
    """Generic webhook receiver."""

    url: Url = Field(description="Endpoint; must not carry credentials.")

    @field_validator("url")
    @classmethod
    def _no_credentials(cls, url: str) -> str:
        if "@" in url.split("//", 1)[1].split("/", 1)[0]:
            raise PydanticCustomError("secret", "the URL carries credentials; put them in a file, not in the spec")
        return url


class Receiver(Strict):
    """An Alertmanager receiver: exactly one of pagerduty, slack, webhook."""

    pagerduty: PagerDuty | None = None
    slack: Slack | None = None
    webhook: Webhook | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Receiver:
        if sum(x is not None for x in (self.pagerduty, self.slack, self.webhook)) != 1:
            raise PydanticCustomError("receiver", "a receiver has exactly one of pagerduty, slack or webhook")
        return self


class Alertmanager(Strict):
    """How alerts reach the receivers; either way only alerts carrying `llmmon_spec: <metadata.name>` do."""

    mode: Literal["operator", "standalone"] = Field("operator", description=(
        "operator: an AlertmanagerConfig in metadata.namespace for the Prometheus Operator (kube-prometheus-stack) "
        "to merge into its Alertmanager; standalone: a complete alertmanager.yaml whose default receiver drops "
        "every other alert."))
    catch_all: Ident | None = Field(None, description=(
        "standalone only: a receiver in `receivers` for alerts of other rule sets (not Watchdog or "
        "InfoInhibitor); default none, they go nowhere."))


class Costs(Strict):
    """Prices used for cost per hour and cost per million tokens."""

    currency: Annotated[str, _pattern(re.compile(r"^[A-Z]{3}$"), "an ISO 4217 currency code such as USD"),
                        WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})] = Field(
        "USD", description="ISO 4217 code of the prices; the `currency` label of cost series.")
    gpu_hourly: dict[Ident, Price] = Field(default_factory=dict, description="Price of one GPU for one hour, by type.")
    cpu_core_hourly: NonNegative | None = Field(None, description="Adds container CPU cost of the model's pods.")


def _scrape_interval(value: Any) -> DurationValue:
    duration = _duration(value)
    if not 1000 <= duration.ms <= 600_000 or duration.ms % 1000:
        raise PydanticCustomError("duration", f"{value!r}: a scrape interval is whole seconds from 1s to 10m")
    return duration


ScrapeInterval = Annotated[DurationValue, PlainValidator(_scrape_interval), PlainSerializer(str),
                           WithJsonSchema({"type": "string", "pattern": r"^(\d+(m|s))+$"})]


class Toleration(Strict):
    """A toleration of the exporter pods (Kubernetes' own fields)."""

    key: LabelKey | None = Field(None, description="Taint key to tolerate; none with Exists tolerates every taint.")
    operator: Literal["Exists", "Equal"] = Field("Exists", description="Exists: any value; Equal: `value` only.")
    value: LabelValue | None = Field(None, description="Taint value, with operator Equal.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(None, description=(
        "Taint effect to tolerate; none tolerates every effect."))


class GpuExporter(Strict):
    """Which GPU exporter provides GPU series, and how llmmon deploys it (a DaemonSet on the GPU nodes)."""

    kind: Literal["dcgm", "nvml", "none"] = Field("dcgm", description="dcgm-exporter, nvidia_gpu_exporter or none.")
    namespace: DnsLabel = Field("gpu-monitoring", description="Namespace the exporter runs in.")
    deploy: StrictBool = Field(True, description=(
        "Generate the exporter (DaemonSet, Service, ServiceMonitor); false when it is installed otherwise, e.g. by "
        "the GPU Operator: the rules still query its metric names."))
    image: Image | None = Field(None, description=(
        "Image repository (a mirror, say); default nvcr.io/nvidia/k8s/dcgm-exporter or "
        "docker.io/utkuozdemir/nvidia_gpu_exporter."))
    tag: ImageTag | None = Field(None, description="Pinned image tag or sha256:<digest>; default a tested release.")
    profiling: StrictBool = Field(False, description=(
        "dcgm: also collect the DCGM_FI_PROF_* fields (needed under MIG); adds the SYS_ADMIN capability."))
    scrape_interval: ScrapeInterval = Field(DurationValue.parse("30s"), json_schema_extra={"default": "30s"},
                                            description=(
        "Scrape interval of the exporter's ServiceMonitor (dcgm also collects at this interval)."))
    create_namespace: StrictBool = Field(True, description=(
        "Generate the exporter's Namespace with its Pod Security label (dcgm needs `privileged` for its hostPath); "
        "never done when the namespace is metadata.namespace or a serving namespace."))
    runtime_class: DnsLabel | None = Field("nvidia", description=(
        "RuntimeClass that injects the GPUs (the GPU Operator's `nvidia`); null when it is the nodes' default."))
    priority_class: DnsLabel = Field("system-node-critical", description="PriorityClass of the exporter pods.")
    node_selector: dict[LabelKey, LabelValue] = Field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"},
        description="Node labels of the GPU nodes; default the label of NVIDIA GPU Feature Discovery.")
    tolerations: list[Toleration] = Field(
        default_factory=lambda: [Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")],
        description="Tolerations of the exporter pods; default the `nvidia.com/gpu` taint.")
    resources: dict[Literal["requests", "limits"], dict[Literal["cpu", "memory"], Quantity]] = Field(
        default_factory=dict, description="Container requests and limits, each key overriding llmmon's default.")
    pod_resources_path: HostPath = Field("/var/lib/kubelet/pod-resources", description=(
        "dcgm: the kubelet's pod-resources folder, mounted read-only (maps GPUs to pods)."))


class Kubernetes(Strict):
    """The Kubernetes output: the version manifests are checked against, and how the serving pods are scraped."""

    version: KubeVersion = Field("1.34", description=(
        "Kubernetes version the manifests are validated against (kubernetes-validate)."))
    serving_monitors: StrictBool = Field(True, description=(
        "Generate a PodMonitor per serving namespace so Prometheus scrapes what the rules query; false when the "
        "pods are scraped already (a second scrape doubles every rate)."))
    scrape_interval: ScrapeInterval = Field(DurationValue.parse("30s"), json_schema_extra={"default": "30s"},
                                            description=(
        "Scrape interval of the serving pods."))


class Elasticsearch(Strict):
    """Where logs go."""

    host: Annotated[str, _pattern(re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$"), "a host name")] = Field(
        description="Host name of Elasticsearch, e.g. a Service name.")
    port: int = Field(9200, ge=1, le=65535, description="Port of Elasticsearch's HTTP API.")
    index: Annotated[str, _pattern(re.compile(r"^[a-z0-9][a-z0-9._-]{0,254}$"),
                                   "an Elasticsearch index name (lowercase, no spaces)")] = Field(
        description="Index (or index prefix) the logs are written to.")


class Retention(Strict):
    """How long logs stay in hot and cold storage."""

    hot: Duration = Field(description="Days in hot storage, e.g. 30d.")
    cold: Duration = Field(description="Further days in cold storage before deletion, e.g. 90d.")


class Logging(Strict):
    """JSON logs shipped by Fluentd to Elasticsearch."""

    source: Literal["containers", "files"] = Field("containers", description=(
        "Where Fluentd reads: `containers`, the serving pods' container logs under /var/log/containers (CRI "
        "format, the pods of `models` only); `files`, JSON log files matching `path`."))
    path: Text | None = Field(None, description=(
        "Glob of the JSON log files on the nodes (source: files only; several separated by commas)."))
    elasticsearch: Elasticsearch
    retention: Retention


class Tracing(Strict):
    """Distributed tracing through an OpenTelemetry Collector."""

    sampling: Percent = Field(description="Percent of ordinary traces kept; error and slow traces always kept.")
    otlp_endpoint: Annotated[str, _pattern(re.compile(r"^[A-Za-z0-9.-]+:\d{1,5}$"), "host:port")] = Field(
        description="host:port the collector exports traces to over OTLP/gRPC, e.g. tempo.monitoring.svc:4317.")


class Dashboards(Strict):
    """Which per-role dashboards to build."""

    roles: list[Role] = Field(default_factory=lambda: list(typing.get_args(Role)), description=(
        "Roles that get a Grafana dashboard of their own: sre, ml-engineer, finops."))


class MonitoringSpec(Strict):
    """An llmmon spec, version 1."""

    model_config = ConfigDict(title="llmmon MonitoringSpec v1")

    api_version: Literal["llmmon/v1"] = Field(alias="apiVersion", description="Version of the spec format.")
    kind: Literal["MonitoringSpec"] = Field(description="Always MonitoringSpec.")
    metadata: Metadata
    cluster: Annotated[str, _pattern(LABEL_VALUE, "a label value (letters, digits, '-', '_', '.')"),
                       WithJsonSchema({"type": "string", "pattern": LABEL_VALUE.pattern})] | None = Field(
        None, description="Name of the cluster: the `cluster` label of recorded series, cluster_id in logs.")
    slo_window: Duration = Field(DurationValue.parse("30d"), json_schema_extra={"default": "30d"}, description=(
        "SLO window; burn-rate factors derive from it."))
    defaults: Defaults = Field(default_factory=Defaults)
    models: list[ModelSpec] = Field(min_length=1, max_length=5000)
    alert_tiers: AlertTiers
    receivers: dict[Ident, Receiver] = Field(default_factory=dict)
    alertmanager: Alertmanager = Field(default_factory=Alertmanager)
    costs: Costs | None = None
    gpu_exporter: GpuExporter = Field(default_factory=GpuExporter)
    kubernetes: Kubernetes = Field(default_factory=Kubernetes)
    logging: Logging | None = None
    tracing: Tracing | None = None
    dashboards: Dashboards = Field(default_factory=Dashboards)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the spec, for editors (yaml-language-server) and docs."""
    schema = MonitoringSpec.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://llmmon.dev/schema/v1/spec.json", **schema}


def json_schema_text() -> str:
    """The JSON Schema as `llmmon schema` and `llmmon init` write it: sorted keys, trailing newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
