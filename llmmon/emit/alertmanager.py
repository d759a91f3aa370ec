"""Alertmanager routing that touches only this spec's alerts (those labelled `llmmon_spec: <metadata.name>`).

Two shapes, chosen by `alertmanager.mode`:
- operator (default, kube-prometheus-stack): an AlertmanagerConfig in metadata.namespace. The operator merges it
  into its Alertmanager as one first-level route; its receivers read their secrets from Secret keys in that
  namespace (named by the `/etc/alertmanager/secrets/<secret>/<key>` path of the spec).
- standalone: a complete alertmanager.yaml (and a Secret holding it, for a `configSecret`) whose root receiver
  is a null receiver: other teams' alerts, Watchdog and InfoInhibitor reach none of the spec's receivers, unless
  `catch_all` names one for the others.
alertmanager/alertmanager.yaml is written in both modes: in operator mode it is the same routing as a standalone
config, for `amtool config routes test` and for reading.

Inside the spec's route each tier (`severity`) goes to its receiver; an alert without a known severity to the
warning tier's receiver. Inhibition keeps one notification per incident: a model's critical alert silences its
warning and info alerts, and a model's SLO page silences the threshold alert that says the same thing
(HighErrorRate under the availability page, HighInferenceLatency under the latency page, HighTimeToFirstToken
under the TTFT page): the page carries the SLO, the budget left and a burn rate weighed by traffic.

Matchers are written `name="value"`, which Alertmanager 0.25's parser and the UTF-8 parser of 0.27+ both read.
Secrets are only file paths (standalone) or Secret key references (operator).
"""

from __future__ import annotations

from typing import Any

from llmmon import spec as s
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan, fallback_secret, secret_ref
from llmmon.promql import SPEC_LABEL
from llmmon.yamlout import dump

GROUP_BY = ["alertname", "model", "cluster", SPEC_LABEL]
FALLBACK_TIER = "warning"
NULL = "null"  # the receiver without integrations: what reaches it is dropped
SILENT = ("Watchdog", "InfoInhibitor")  # kube-prometheus-stack's always-firing alerts: never notified here
# How soon a tier's first notification goes out, and how often an unresolved group is sent again.
TIMING: dict[str, dict[str, str]] = {
    "critical": {"group_wait": "10s", "group_interval": "5m", "repeat_interval": "1h"},
    "warning": {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"},
    "info": {"group_wait": "1m", "group_interval": "15m", "repeat_interval": "24h"},
}
# (source alert and SLO, target alert): the SLO page that says what the threshold alert says, with more context.
SLO_INHIBITS = (("availability", "HighErrorRate"), ("latency", "HighInferenceLatency"),
                ("ttft", "HighTimeToFirstToken"), ("itl", "HighInterTokenLatency"))
FIRST = "(index .Alerts 0)"
PAGERDUTY_SEVERITY = ('{{ if eq .CommonLabels.severity "critical" }}critical'
                      '{{ else if eq .CommonLabels.severity "warning" }}warning'
                      '{{ else if eq .CommonLabels.severity "info" }}info{{ else }}error{{ end }}')
# The incident title: the alert's own summary (model and SLO), with a count when the group holds several.
TITLE = (f'{{{{ {FIRST}.Annotations.summary }}}}{{{{ if gt (len .Alerts.Firing) 1 }}}} '
         '(+{{ len .Alerts.Firing }} firing){{ end }}')
SLACK_TITLE = '[{{ .Status | toUpper }}] ' + TITLE
SLACK_TEXT = ('{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n'
              '{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}'
              '{{ if .Annotations.dashboard_url }}Dashboard: {{ .Annotations.dashboard_url }}\n{{ end }}{{ end }}')
PAGERDUTY_DETAILS = {
    "model": "{{ .CommonLabels.model }}", "cluster": "{{ .CommonLabels.cluster }}",
    "slo": f"{{{{ {FIRST}.Labels.slo }}}}", "description": f"{{{{ {FIRST}.Annotations.description }}}}",
    "runbook_url": f"{{{{ {FIRST}.Annotations.runbook_url }}}}",
    "dashboard_url": f"{{{{ {FIRST}.Annotations.dashboard_url }}}}",
    "firing": "{{ len .Alerts.Firing }}", "spec": f"{{{{ .CommonLabels.{SPEC_LABEL} }}}}",
}
LINKS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


def template_literal(text: str) -> str:
    """Text for a templated Alertmanager field that renders as exactly `text`."""
    return text.replace("{{", '{{ "{{" }}')


def matcher(name: str, value: str, op: str = "=") -> str:
    """`name="value"`: a matcher both Alertmanager 0.25 and the UTF-8 parser of 0.27+ read the same way."""
    return f'{name}{op}"{value.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'


def _link_urls(plan: Plan) -> list[tuple[str, str]]:
    """(annotation, text) of the links the alerts carry."""
    have = {"runbook_url": plan.runbook_base_url is not None,
            "dashboard_url": plan.grafana_url is not None and "sre" in plan.spec.dashboards.roles}
    return [(key, text) for key, text in LINKS if have[key]]


def _receiver(plan: Plan, name: str, receiver: s.Receiver) -> dict[str, Any]:
    if receiver.pagerduty:
        pd = receiver.pagerduty
        key = {"routing_key_file": pd.routing_key_file} if pd.routing_key_file else {
            "service_key_file": pd.service_key_file}
        config: dict[str, Any] = {
            **key, "send_resolved": True, "severity": PAGERDUTY_SEVERITY, "description": TITLE,
            "class": "{{ .CommonLabels.alertname }}", "component": "{{ .CommonLabels.model }}",
            "group": f"{{{{ .CommonLabels.{SPEC_LABEL} }}}}", "details": PAGERDUTY_DETAILS}
        if links := _link_urls(plan):
            config["links"] = [{"href": f"{{{{ {FIRST}.Annotations.{key} }}}}", "text": text} for key, text in links]
        return {"name": name, "pagerduty_configs": [config]}
    if receiver.slack:
        slack: dict[str, Any] = {"api_url_file": receiver.slack.api_url_file, "send_resolved": True}
        if receiver.slack.channel:
            slack["channel"] = template_literal(receiver.slack.channel)
        slack.update({"title": SLACK_TITLE, "text": SLACK_TEXT})
        if any(key == "dashboard_url" for key, _ in _link_urls(plan)):
            slack["title_link"] = f"{{{{ {FIRST}.Annotations.dashboard_url }}}}"
        return {"name": name, "slack_configs": [slack]}
    assert receiver.webhook is not None
    return {"name": name, "webhook_configs": [{"url": receiver.webhook.url, "send_resolved": True}]}


def inhibit_rules(plan: Plan) -> list[dict[str, Any]]:
    """A model's critical alert silences its warning and info alerts; its SLO page the threshold alert saying
    the same. Both only within this spec's alerts, equal on model and cluster."""
    own = matcher(SPEC_LABEL, plan.name)
    equal = ["model", "cluster", SPEC_LABEL]
    rules = [{"source_matchers": [own, matcher("severity", "critical"), matcher("model", ".+", "=~")],
              "target_matchers": [own, matcher("severity", "warning|info", "=~")], "equal": equal}]
    kinds = {o.kind for m in plan.models for o in m.objectives}
    alerts = {a.name for m in plan.models for a in m.alerts}
    for kind, target in SLO_INHIBITS:
        if kind in kinds and target in alerts:
            rules.append({"source_matchers": [own, matcher("alertname", "ErrorBudgetBurn"), matcher("slo", kind),
                                              matcher("severity", "critical")],
                          "target_matchers": [own, matcher("alertname", target)], "equal": equal})
    return rules


def _used(plan: Plan) -> list[str]:
    return sorted({t.receiver for t in plan.tiers} | ({plan.catch_all} if plan.catch_all else set()))


def config(plan: Plan) -> dict[str, Any]:
    """The standalone Alertmanager configuration as data."""
    receivers = plan.spec.receivers
    tiers = [{"receiver": t.receiver, "matchers": [matcher("severity", t.name)], **TIMING[t.name]}
             for t in plan.tiers]
    routes: list[dict[str, Any]] = [
        {"receiver": NULL, "matchers": [matcher("alertname", "|".join(SILENT), "=~")]},
        {"receiver": plan.tier(FALLBACK_TIER).receiver, "matchers": [matcher(SPEC_LABEL, plan.name)],
         **TIMING[FALLBACK_TIER], "routes": tiers},
    ]
    if plan.catch_all:
        routes.append({"receiver": plan.catch_all})
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {"receiver": NULL, "group_by": GROUP_BY, **TIMING[FALLBACK_TIER], "routes": routes},
        "inhibit_rules": inhibit_rules(plan),
        "receivers": [{"name": NULL}, *(_receiver(plan, name, receivers[name]) for name in _used(plan))],
    }


# -- operator mode: the same routing as an AlertmanagerConfig ------------------------------------------------------

def _crd_matcher(text: str) -> dict[str, str]:
    """A `name="value"` / `name=~"value"` matcher as the CRD's {name, value, matchType}."""
    for op in ("=~", "!~", "!=", "="):
        if op in text:
            name, value = text.split(op, 1)
            return {"name": name, "matchType": op, "value": value[1:-1].replace('\\"', '"').replace("\\\\", "\\")}
    raise ValueError(text)


def _secret(plan: Plan, path: str) -> dict[str, str]:
    """The Secret key a file path names; a path outside the operator's layout (validate warns) falls back to the
    spec's own Secret, keyed by the file name."""
    name, key = secret_ref(path) or fallback_secret(plan.name, path)
    return {"name": name, "key": key}


def _camel(timing: dict[str, str]) -> dict[str, str]:
    return {"groupWait": timing["group_wait"], "groupInterval": timing["group_interval"],
            "repeatInterval": timing["repeat_interval"]}


def _crd_receiver(plan: Plan, name: str, receiver: s.Receiver) -> dict[str, Any]:
    standalone = _receiver(plan, name, receiver)
    if receiver.pagerduty:
        pd = standalone["pagerduty_configs"][0]
        field = "routingKey" if receiver.pagerduty.routing_key_file else "serviceKey"
        path = receiver.pagerduty.routing_key_file or receiver.pagerduty.service_key_file
        assert path is not None
        out: dict[str, Any] = {
            field: _secret(plan, path), "sendResolved": True, "severity": pd["severity"],
            "description": pd["description"], "class": pd["class"], "component": pd["component"],
            "group": pd["group"], "details": [{"key": k, "value": v} for k, v in sorted(pd["details"].items())]}
        if "links" in pd:
            out["pagerDutyLinkConfigs"] = [{"href": link["href"], "alt": link["text"]} for link in pd["links"]]
        return {"name": name, "pagerdutyConfigs": [out]}
    if receiver.slack:
        slack = standalone["slack_configs"][0]
        out = {"apiURL": _secret(plan, receiver.slack.api_url_file), "sendResolved": True}
        if "channel" in slack:
            out["channel"] = slack["channel"]
        out.update({"title": slack["title"], "text": slack["text"]})
        if "title_link" in slack:
            out["titleLink"] = slack["title_link"]
        return {"name": name, "slackConfigs": [out]}
    hook = standalone["webhook_configs"][0]
    return {"name": name, "webhookConfigs": [{"url": hook["url"], "sendResolved": True}]}


def alertmanager_config(plan: Plan) -> dict[str, Any]:
    """The AlertmanagerConfig object: one route matching this spec's label, a child route per tier."""
    tiers = [{"receiver": t.receiver, "matchers": [_crd_matcher(matcher("severity", t.name))],
              **_camel(TIMING[t.name])} for t in plan.tiers]
    rules = [{"sourceMatch": [_crd_matcher(m) for m in r["source_matchers"]],
              "targetMatch": [_crd_matcher(m) for m in r["target_matchers"]], "equal": r["equal"]}
             for r in inhibit_rules(plan)]
    receivers = plan.spec.receivers
    return {
        "apiVersion": "monitoring.coreos.com/v1alpha1",
        "kind": "AlertmanagerConfig",
        "metadata": {"name": f"{plan.name}-routing", "namespace": plan.namespace,
                     "labels": object_labels(plan, "alertmanager")},
        "spec": {
            "route": {"receiver": plan.tier(FALLBACK_TIER).receiver, "groupBy": GROUP_BY,
                      "matchers": [_crd_matcher(matcher(SPEC_LABEL, plan.name))], **_camel(TIMING[FALLBACK_TIER]),
                      "routes": tiers},
            "inhibitRules": rules,
            "receivers": [_crd_receiver(plan, name, receivers[name]) for name in _used(plan)],
        },
    }


def emit(plan: Plan, head: str) -> dict[str, str]:
    """alertmanager/alertmanager.yaml in both modes; the AlertmanagerConfig (operator) or a Secret holding the
    config (standalone) under kubernetes/."""
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    text = comment + dump(config(plan))
    out = {"alertmanager/alertmanager.yaml": text}
    if plan.alertmanager_mode == "operator":
        out[f"kubernetes/{plan.name}-alertmanagerconfig.yaml"] = comment + dump(alertmanager_config(plan))
        return out
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": f"{plan.name}-alertmanager", "namespace": plan.namespace,
                     "labels": object_labels(plan, "alertmanager")},
        "stringData": {"alertmanager.yaml": text},
    }
    out[f"kubernetes/{plan.name}-alertmanager.yaml"] = comment + dump(secret)
    return out
