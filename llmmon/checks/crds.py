"""Pydantic models of the Prometheus Operator's custom resources, written from the CRDs' documented fields.

kubernetes-validate has no schema for CRDs, so PrometheusRule, ServiceMonitor and PodMonitor
(monitoring.coreos.com/v1) are checked here, and AlertmanagerConfig (v1alpha1) in crds_alertmanager.py:
every field the CRDs define (up to operator 0.91) is known and any other is rejected, as
`kubectl apply --validate=strict` would, plus what the operator refuses at reconcile time (a scrape timeout
above the interval, a rule that is both or neither alert and record, repeated group names).
Sub-objects llmmon never writes (TLS, OAuth2, credentials) are accepted as objects without a closer look.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool, StrictInt, ValidationError, model_validator

from llmmon.checks.crd_types import DURATION, LABEL, LABEL_NAME, METRIC, Closed, CrdDuration, Obj, ObjectMeta, Str
from llmmon.checks.crds_alertmanager import AlertmanagerConfig
from llmmon.units import Duration

Action = Literal["replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod", "labelmap", "LabelMap",
                 "labeldrop", "LabelDrop", "labelkeep", "LabelKeep", "lowercase", "Lowercase", "uppercase", "Uppercase",
                 "keepequal", "KeepEqual", "dropequal", "DropEqual"]
Protocol = Literal["PrometheusProto", "OpenMetricsText0.0.1", "OpenMetricsText1.0.0", "PrometheusText0.0.4",
                   "PrometheusText1.0.0"]


class _Expression(Closed):
    key: Str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(Closed):
    """A label selector (matchLabels and matchExpressions)."""

    matchLabels: dict[str, str] | None = None
    matchExpressions: list[_Expression] | None = None


class NamespaceSelector(Closed):
    """Where targets are discovered: any namespace, or the listed ones."""

    any: StrictBool | None = None
    matchNames: list[Annotated[str, Field(pattern=LABEL)]] | None = None


class RelabelConfig(Closed):
    """A relabelling rule; targetLabel is required where the action writes a label."""

    action: Action = "replace"
    modulus: StrictInt | None = None
    regex: Str | None = None
    replacement: Str | None = None
    separator: Str | None = None
    sourceLabels: list[Annotated[str, Field(pattern=LABEL_NAME)]] | None = None
    targetLabel: Str | None = None

    @model_validator(mode="after")
    def _semantics(self) -> RelabelConfig:
        action = self.action.lower()
        writes = ("replace", "hashmod", "lowercase", "uppercase", "keepequal", "dropequal")
        if action in writes and not self.targetLabel:
            raise ValueError(f"action {self.action} needs targetLabel")
        if action == "hashmod" and not self.modulus:
            raise ValueError("action hashmod needs modulus")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"regex {self.regex!r} does not compile: {exc}") from None
        return self


class _Endpoint(Closed):
    """Fields shared by ServiceMonitor endpoints and PodMonitor podMetricsEndpoints."""

    path: Annotated[str, Field(pattern=r"^/")] | None = None
    scheme: Literal["http", "https", "HTTP", "HTTPS"] | None = None
    params: dict[str, list[str]] | None = None
    interval: CrdDuration | None = None
    scrapeTimeout: CrdDuration | None = None
    honorLabels: StrictBool | None = None
    honorTimestamps: StrictBool | None = None
    trackTimestampsStaleness: StrictBool | None = None
    metricRelabelings: list[RelabelConfig] | None = None
    relabelings: list[RelabelConfig] | None = None
    tlsConfig: Obj | None = None
    authorization: Obj | None = None
    basicAuth: Obj | None = None
    bearerTokenSecret: Obj | None = None
    oauth2: Obj | None = None
    proxyUrl: Annotated[str, Field(pattern=r"^(http|https|socks5)://.+$")] | None = None
    noProxy: Str | None = None
    proxyFromEnvironment: StrictBool | None = None
    proxyConnectHeader: Obj | None = None
    followRedirects: StrictBool | None = None
    enableHttp2: StrictBool | None = None
    filterRunning: StrictBool | None = None

    @model_validator(mode="after")
    def _timeout(self) -> _Endpoint:
        if self.interval and self.scrapeTimeout and self.interval != "0" and \
                Duration.parse(self.scrapeTimeout).ms > Duration.parse(self.interval).ms:
            raise ValueError(f"scrapeTimeout {self.scrapeTimeout} exceeds interval {self.interval}: "
                             "the operator rejects the resource")
        return self


class Endpoint(_Endpoint):
    """A ServiceMonitor endpoint: a Service port by name, or the target port behind it."""

    port: Str | None = None
    targetPort: StrictInt | Str | None = None
    bearerTokenFile: Str | None = None


class PodMetricsEndpoint(_Endpoint):
    """A PodMonitor endpoint: a container port by name or number."""

    port: Str | None = None
    portNumber: Annotated[StrictInt, Field(ge=1, le=65535)] | None = None
    targetPort: StrictInt | Str | None = None

    @model_validator(mode="after")
    def _port(self) -> PodMetricsEndpoint:
        if self.port is None and self.portNumber is None and self.targetPort is None:
            raise ValueError("no port, portNumber or targetPort: every container port of every pod would be scraped")
        return self


class _ScrapeSpec(Closed):
    """Fields shared by ServiceMonitor and PodMonitor specs."""

    selector: LabelSelector
    namespaceSelector: NamespaceSelector | None = None
    jobLabel: Str | None = None
    podTargetLabels: list[str] | None = None
    sampleLimit: StrictInt | None = None
    targetLimit: StrictInt | None = None
    labelLimit: StrictInt | None = None
    labelNameLengthLimit: StrictInt | None = None
    labelValueLengthLimit: StrictInt | None = None
    keepDroppedTargets: StrictInt | None = None
    attachMetadata: dict[Literal["node"], bool] | None = None
    scrapeClass: Annotated[str, Field(min_length=1)] | None = None
    bodySizeLimit: Annotated[str, Field(pattern=r"(^0|([0-9]*[.])?[0-9]+((K|M|G|T|E|P)i?)?B)$")] | None = None
    scrapeProtocols: list[Protocol] | None = None
    fallbackScrapeProtocol: Protocol | None = None
    scrapeClassicHistograms: StrictBool | None = None
    scrapeNativeHistograms: StrictBool | None = None
    convertClassicHistogramsToNHCB: StrictBool | None = None
    nativeHistogramBucketLimit: StrictInt | None = None
    nativeHistogramMinBucketFactor: StrictInt | Str | None = None
    selectorMechanism: Literal["RelabelConfig", "RoleSelector"] | None = None


class ServiceMonitorSpec(_ScrapeSpec):
    """spec of a ServiceMonitor."""

    endpoints: list[Endpoint]
    targetLabels: list[str] | None = None
    serviceDiscoveryRole: Literal["Endpoints", "EndpointSlice"] | None = None


class PodMonitorSpec(_ScrapeSpec):
    """spec of a PodMonitor."""

    podMetricsEndpoints: list[PodMetricsEndpoint] | None = None


class Rule(Closed):
    """A recording or alerting rule."""

    record: Annotated[str, Field(pattern=METRIC)] | None = None
    alert: Annotated[str, Field(min_length=1)] | None = None
    expr: StrictInt | Annotated[str, Field(min_length=1)]
    for_: CrdDuration | None = Field(None, alias="for")
    keep_firing_for: Annotated[str, Field(pattern=DURATION, min_length=1)] | None = None
    labels: dict[Annotated[str, Field(pattern=LABEL_NAME)], str] | None = None
    annotations: dict[Annotated[str, Field(pattern=LABEL_NAME)], str] | None = None

    @model_validator(mode="after")
    def _kind(self) -> Rule:
        if (self.record is None) == (self.alert is None):
            raise ValueError("a rule has exactly one of record and alert")
        if self.record is not None and (self.for_ or self.keep_firing_for or self.annotations):
            raise ValueError(f"recording rule {self.record}: for, keep_firing_for and annotations are for alerts")
        return self


class RuleGroup(Closed):
    """A rule group."""

    name: Annotated[str, Field(min_length=1)]
    interval: CrdDuration | None = None
    labels: dict[str, str] | None = None
    limit: StrictInt | None = None
    partial_response_strategy: Annotated[str, Field(pattern=r"^(?i)(abort|warn)?$")] | None = None
    query_offset: CrdDuration | None = None
    rules: list[Rule] | None = None


class PrometheusRuleSpec(Closed):
    """spec of a PrometheusRule: groups with unique names (a list-map keyed by name)."""

    groups: list[RuleGroup] | None = None

    @model_validator(mode="after")
    def _unique(self) -> PrometheusRuleSpec:
        names = [g.name for g in self.groups or []]
        if dupes := sorted({n for n in names if names.count(n) > 1}):
            raise ValueError(f"group names must be unique, repeated: {', '.join(dupes)}")
        return self


class PrometheusRule(Closed):
    """monitoring.coreos.com/v1 PrometheusRule."""

    apiVersion: Literal["monitoring.coreos.com/v1"]
    kind: Literal["PrometheusRule"]
    metadata: ObjectMeta
    spec: PrometheusRuleSpec


class ServiceMonitor(Closed):
    """monitoring.coreos.com/v1 ServiceMonitor."""

    apiVersion: Literal["monitoring.coreos.com/v1"]
    kind: Literal["ServiceMonitor"]
    metadata: ObjectMeta
    spec: ServiceMonitorSpec


class PodMonitor(Closed):
    """monitoring.coreos.com/v1 PodMonitor."""

    apiVersion: Literal["monitoring.coreos.com/v1"]
    kind: Literal["PodMonitor"]
    metadata: ObjectMeta
    spec: PodMonitorSpec


def models() -> dict[tuple[str, str], type[BaseModel]]:
    """(apiVersion, kind) → the model of every custom resource llmmon checks."""
    return {("monitoring.coreos.com/v1", "PrometheusRule"): PrometheusRule,
            ("monitoring.coreos.com/v1", "ServiceMonitor"): ServiceMonitor,
            ("monitoring.coreos.com/v1", "PodMonitor"): PodMonitor,
            ("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"): AlertmanagerConfig}


def known(document: dict[str, Any]) -> bool:
    """True when a document is a custom resource modelled here (or KEDA's, checked by crds_keda)."""
    from llmmon.checks import crds_keda

    return (document.get("apiVersion"), document.get("kind")) in models() or crds_keda.known(document)


def problems(document: dict[str, Any]) -> list[str]:
    """What is wrong with a custom resource, as `dotted.path: message` lines (empty when it is valid)."""
    from llmmon.checks import crd_schema, crds_keda

    if crds_keda.known(document):
        return crds_keda.problems(document)
    if crd_schema.covers(document) and (found := crd_schema.problems(document)):  # the operator's own schema
        return found
    model = models()[(document["apiVersion"], document["kind"])]  # then what the operator refuses at reconcile
    try:
        model.model_validate(document)
    except ValidationError as exc:
        return [_render(error) for error in exc.errors()]
    return []


def _render(error: Any) -> str:
    loc = [str(p) for p in error["loc"] if not str(p).startswith(("function-", "constrained-", "literal["))]
    path = ".".join(p.rstrip("_") if p in ("for_", "continue_", "class_") else p for p in loc)
    if error["type"] == "extra_forbidden":
        message = "unknown field (not in the CRD)"
    elif error["type"] == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == DURATION:
        message = f"{error['input']!r} is not a duration the CRD accepts (whole units: 30s, 1m30s, 500ms)"
    elif error["type"] == "string_pattern_mismatch":
        message = f"{error['input']!r} does not match {error['ctx']['pattern']}"
    else:
        message = error["msg"].removeprefix("Value error, ")
    return f"{path}: {message}" if path else message
