"""The spec format, version 1: pydantic models of the YAML a user writes.

Only the loader reads these models; everything downstream works on the resolved model (model.py, by resolver/).
Model-level `slo` and `alerts` are partial: every key may be left out and is inherited from `defaults`.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, WithJsonSchema

from llmmon.spec_alerting import (
    Alertmanager,
    AlertOverride,
    Alerts,
    AlertTiers,
    DurationAlert,
    NumberAlert,
    PagerDuty,
    PercentAlert,
    RateAlert,
    Receiver,
    Slack,
    StatusAlert,
    Tier_,
    Webhook,
)
from llmmon.spec_outputs import (
    Dashboards,
    Elasticsearch,
    GpuExporter,
    Kubernetes,
    Logging,
    Retention,
    ScrapeInterval,
    Toleration,
    Tracing,
)
from llmmon.spec_values import (
    _IMAGE,
    _PATH,
    _QUANTITY,
    _TAG,
    _VERSION,
    CONTROL,
    DNS_1035,
    DNS_LABEL,
    ENGINES,
    IDENT,
    LABEL_KEY,
    LABEL_VALUE,
    MAX_NUMBER,
    MODEL_NAME,
    PORT_NAME,
    ROLES,
    TIERS,
    URL,
    DnsLabel,
    Duration,
    EngineVersion,
    HostPath,
    Ident,
    Image,
    ImageTag,
    KubeVersion,
    LabelKey,
    LabelValue,
    ModelName,
    NonNegative,
    Number,
    Percent,
    PortRef,
    Positive,
    Price,
    Quantity,
    Role,
    SpecName,
    Strict,
    Text,
    Tier,
    Url,
    UrlPath,
    _at_least,
    _duration,
    _pattern,
    _percent,
    _plain_number,
    _port_ref,
    _text,
    _version,
)
from llmmon.units import Duration as DurationValue


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
    clusters: list[Text] | None = Field(None, min_length=1, description=(
        "Names of the `clusters` serving this model; default: all of them."))


class Cluster(Strict):
    """One cluster of a fleet (llmmon.fleet): its name, and what differs there from the rest of the spec."""

    name: Annotated[str, _pattern(LABEL_VALUE, "a label value (letters, digits, '-', '_', '.')"),
                    WithJsonSchema({"type": "string", "pattern": LABEL_VALUE.pattern})] = Field(description=(
        "The `cluster` external label its Prometheus (or agent) sends with every series and alert."))
    namespace: DnsLabel | None = Field(None, description="Serving namespace of every model in this cluster.")
    gpu_hourly: dict[Ident, Price] = Field(default_factory=dict, description=(
        "GPU prices in this cluster, by type; other types keep costs.gpu_hourly."))
    gpu_exporter: Literal["dcgm", "nvml", "none"] | None = Field(None, description=(
        "The GPU exporter the rules of this cluster read; default gpu_exporter.kind."))


class Costs(Strict):
    """Prices used for cost per hour and cost per million tokens."""

    currency: Annotated[str, _pattern(re.compile(r"^[A-Z]{3}$"), "an ISO 4217 currency code such as USD"),
                        WithJsonSchema({"type": "string", "pattern": "^[A-Z]{3}$"})] = Field(
        "USD", description="ISO 4217 code of the prices; the `currency` label of cost series.")
    gpu_hourly: dict[Ident, Price] = Field(default_factory=dict, description="Price of one GPU for one hour, by type.")
    cpu_core_hourly: NonNegative | None = Field(None, description="Adds container CPU cost of the model's pods.")


class MonitoringSpec(Strict):
    """An llmmon spec, version 1."""

    model_config = ConfigDict(title="llmmon MonitoringSpec v1")

    api_version: Literal["llmmon/v1"] = Field(alias="apiVersion", description="Version of the spec format.")
    kind: Literal["MonitoringSpec"] = Field(description="Always MonitoringSpec.")
    metadata: Metadata
    cluster: Annotated[str, _pattern(LABEL_VALUE, "a label value (letters, digits, '-', '_', '.')"),
                       WithJsonSchema({"type": "string", "pattern": LABEL_VALUE.pattern})] | None = Field(
        None, description="Name of the cluster: the `cluster` label of recorded series, cluster_id in logs.")
    clusters: list[Cluster] | None = Field(None, min_length=1, max_length=100, description=(
        "A fleet: the clusters serving the models; rules are split into a tier per cluster and a global tier "
        "(docs/fleets.md). Replaces `cluster`."))
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


# Re-exported: `from llmmon import spec as s` reads every section and value type here (and llmmon.reference names
# the value types from this module's namespace).
__all__ = [
    "CONTROL",
    "DNS_1035",
    "DNS_LABEL",
    "ENGINES",
    "IDENT",
    "LABEL_KEY",
    "LABEL_VALUE",
    "MAX_NUMBER",
    "MODEL_NAME",
    "PORT_NAME",
    "ROLES",
    "TIERS",
    "URL",
    "_IMAGE",
    "_PATH",
    "_QUANTITY",
    "_TAG",
    "_VERSION",
    "AlertOverride",
    "AlertTiers",
    "Alertmanager",
    "Alerts",
    "Dashboards",
    "DnsLabel",
    "Duration",
    "DurationAlert",
    "Elasticsearch",
    "EngineVersion",
    "GpuExporter",
    "HostPath",
    "Ident",
    "Image",
    "ImageTag",
    "KubeVersion",
    "Kubernetes",
    "LabelKey",
    "LabelValue",
    "Logging",
    "ModelName",
    "NonNegative",
    "Number",
    "NumberAlert",
    "PagerDuty",
    "Percent",
    "PercentAlert",
    "PortRef",
    "Positive",
    "Price",
    "Quantity",
    "RateAlert",
    "Receiver",
    "Retention",
    "Role",
    "ScrapeInterval",
    "Slack",
    "SpecName",
    "StatusAlert",
    "Strict",
    "Text",
    "Tier",
    "Tier_",
    "Toleration",
    "Tracing",
    "Url",
    "UrlPath",
    "Webhook",
    "_at_least",
    "_duration",
    "_pattern",
    "_percent",
    "_plain_number",
    "_port_ref",
    "_text",
    "_version",
]
