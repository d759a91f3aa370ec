"""The spec's sections for what runs beside the rules: the GPU exporter, Kubernetes scraping, logging to
Elasticsearch, tracing, dashboards."""

from __future__ import annotations

import re
import typing
from typing import Annotated, Any, Literal

from pydantic import Field, PlainSerializer, PlainValidator, StrictBool, WithJsonSchema
from pydantic_core import PydanticCustomError

from llmmon.spec_values import (
    DnsLabel,
    Duration,
    HostPath,
    Image,
    ImageTag,
    KubeVersion,
    LabelKey,
    LabelValue,
    Percent,
    Quantity,
    Role,
    Strict,
    Text,
    _duration,
    _pattern,
)
from llmmon.units import Duration as DurationValue


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
