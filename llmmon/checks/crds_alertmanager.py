"""Pydantic model of the AlertmanagerConfig custom resource (monitoring.coreos.com/v1alpha1), from the CRD's fields.

Receivers of the integrations llmmon writes (PagerDuty, Slack, webhook) are checked field by field; the other
integrations are accepted as lists of objects. Every receiver a route names must be defined.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from llmmon.checks.crd_types import Closed, CrdDuration, Obj, ObjectMeta, Str


class Matcher(Closed):
    """An AlertmanagerConfig label matcher."""

    name: Annotated[str, Field(min_length=1)]
    value: Str | None = None
    matchType: Literal["=", "!=", "=~", "!~"] | None = None
    regex: StrictBool | None = None


class Route(Closed):
    """A node of the routing tree; child routes have the same shape."""

    receiver: Str | None = None
    groupBy: list[str] | None = None
    groupWait: CrdDuration | None = None
    groupInterval: CrdDuration | None = None
    repeatInterval: CrdDuration | None = None
    matchers: list[Matcher] | None = None
    continue_: StrictBool | None = Field(None, alias="continue")
    routes: list[Route] | None = None
    muteTimeIntervals: list[str] | None = None
    activeTimeIntervals: list[str] | None = None


class SecretKey(Closed):
    """A key of a Secret in the object's namespace."""

    key: Str
    name: Str | None = None
    optional: StrictBool | None = None


class _Notifier(Closed):
    sendResolved: StrictBool | None = None
    httpConfig: Obj | None = None
    timeout: CrdDuration | None = None


class PagerDutyConfig(_Notifier):
    """pagerdutyConfigs entry."""

    routingKey: SecretKey | None = None
    serviceKey: SecretKey | None = None
    url: Annotated[str, Field(pattern=r"^https?://.+$")] | None = None
    client: Str | None = None
    clientURL: Str | None = None
    description: Str | None = None
    severity: Str | None = None
    class_: Str | None = Field(None, alias="class")
    group: Str | None = None
    component: Str | None = None
    source: Str | None = None
    details: list[dict[Literal["key", "value"], str]] | None = None
    pagerDutyImageConfigs: list[Obj] | None = None
    pagerDutyLinkConfigs: list[Obj] | None = None


class SlackConfig(_Notifier):
    """slackConfigs entry."""

    apiURL: SecretKey | None = None
    channel: Str | None = None
    username: Str | None = None
    color: Str | None = None
    title: Str | None = None
    titleLink: Str | None = None
    pretext: Str | None = None
    text: Str | None = None
    fields: list[Obj] | None = None
    shortFields: StrictBool | None = None
    footer: Str | None = None
    fallback: Str | None = None
    callbackId: Str | None = None
    iconEmoji: Str | None = None
    iconURL: Str | None = None
    imageURL: Str | None = None
    thumbURL: Str | None = None
    linkNames: StrictBool | None = None
    mrkdwnIn: list[str] | None = None
    actions: list[Obj] | None = None


class WebhookConfig(_Notifier):
    """webhookConfigs entry."""

    url: Str | None = None
    urlSecret: SecretKey | None = None
    maxAlerts: Annotated[StrictInt, Field(ge=0)] | None = None


class Receiver(Closed):
    """A receiver; the integrations llmmon does not write are accepted as lists of objects."""

    name: Annotated[str, Field(min_length=1)]
    pagerdutyConfigs: list[PagerDutyConfig] | None = None
    slackConfigs: list[SlackConfig] | None = None
    webhookConfigs: list[WebhookConfig] | None = None
    opsgenieConfigs: list[Obj] | None = None
    discordConfigs: list[Obj] | None = None
    wechatConfigs: list[Obj] | None = None
    emailConfigs: list[Obj] | None = None
    victoropsConfigs: list[Obj] | None = None
    pushoverConfigs: list[Obj] | None = None
    snsConfigs: list[Obj] | None = None
    telegramConfigs: list[Obj] | None = None
    webexConfigs: list[Obj] | None = None
    msteamsConfigs: list[Obj] | None = None
    msteamsv2Configs: list[Obj] | None = None
    rocketchatConfigs: list[Obj] | None = None
    mattermostConfigs: list[Obj] | None = None


class AlertmanagerConfigSpec(Closed):
    """spec of an AlertmanagerConfig; every receiver a route names must be defined."""

    route: Route | None = None
    receivers: list[Receiver] | None = None
    inhibitRules: list[dict[Literal["targetMatch", "sourceMatch", "equal"], Any]] | None = None
    muteTimeIntervals: list[Obj] | None = None

    @model_validator(mode="after")
    def _receivers(self) -> AlertmanagerConfigSpec:
        defined = [r.name for r in self.receivers or []]
        if dupes := sorted({n for n in defined if defined.count(n) > 1}):
            raise ValueError(f"receiver names must be unique, repeated: {', '.join(dupes)}")
        stack, missing = [self.route] if self.route else [], set()
        while stack:
            route = stack.pop()
            if route.receiver and route.receiver not in defined:
                missing.add(route.receiver)
            stack += route.routes or []
        if missing:
            raise ValueError(f"routes name undefined receivers: {', '.join(sorted(missing))}")
        return self


class AlertmanagerConfig(Closed):
    """monitoring.coreos.com/v1alpha1 AlertmanagerConfig."""

    apiVersion: Literal["monitoring.coreos.com/v1alpha1"]
    kind: Literal["AlertmanagerConfig"]
    metadata: ObjectMeta
    spec: AlertmanagerConfigSpec
