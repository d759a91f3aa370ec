"""The alerting sections of the spec: threshold alerts and their overrides, alert tiers, receivers (PagerDuty,
Slack, webhook) and how alerts reach them (Alertmanager)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, field_validator, model_validator
from pydantic_core import PydanticCustomError

from llmmon.spec_values import Duration, Ident, Percent, Positive, Strict, Text, Tier, Url


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
