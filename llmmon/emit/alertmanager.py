"""Alertmanager: route each tier (`severity`) to its receiver, group by alert and model, and let a model's
critical alert silence its warning and info alerts.

Targets Alertmanager 0.25. Secrets are only file paths: PagerDuty `routing_key_file` / `service_key_file`, Slack
`api_url_file`. A webhook URL carries no credentials (the spec refuses them), and 0.25 has no `url_file`.
Alerts without a known severity (from other rule sets) go to the warning tier's receiver, so none is dropped
and none pages.
"""

from __future__ import annotations

from typing import Any

from llmmon import spec as s
from llmmon.emit.kubernetes import object_labels
from llmmon.model import Plan
from llmmon.yamlout import dump

GROUP_BY = ["alertname", "model", "cluster", "llmmon_spec"]
FALLBACK_TIER = "warning"
# How soon a tier's first notification goes out, and how often an unresolved group is sent again.
TIMING: dict[str, dict[str, str]] = {
    "critical": {"group_wait": "10s", "group_interval": "5m", "repeat_interval": "1h"},
    "warning": {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"},
    "info": {"group_wait": "1m", "group_interval": "15m", "repeat_interval": "24h"},
}
PAGERDUTY_SEVERITY = ('{{ if eq .CommonLabels.severity "critical" }}critical'
                      '{{ else if eq .CommonLabels.severity "warning" }}warning'
                      '{{ else if eq .CommonLabels.severity "info" }}info{{ else }}error{{ end }}')
SLACK_TITLE = ('[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
               '{{ .CommonLabels.alertname }} {{ .CommonLabels.model }}')
SLACK_TEXT = ('{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n'
              '{{ if .Annotations.runbook_url }}Runbook: {{ .Annotations.runbook_url }}\n{{ end }}{{ end }}')


def template_literal(text: str) -> str:
    """Text for a templated Alertmanager field that renders as exactly `text`."""
    return text.replace("{{", '{{ "{{" }}')


def _receiver(name: str, receiver: s.Receiver) -> dict[str, Any]:
    if receiver.pagerduty:
        pd = receiver.pagerduty
        key = {"routing_key_file": pd.routing_key_file} if pd.routing_key_file else {
            "service_key_file": pd.service_key_file}
        return {"name": name, "pagerduty_configs": [{
            **key, "send_resolved": True, "severity": PAGERDUTY_SEVERITY,
            "class": "{{ .CommonLabels.alertname }}", "component": "{{ .CommonLabels.model }}",
            "group": "{{ .CommonLabels.llmmon_spec }}"}]}
    if receiver.slack:
        slack: dict[str, Any] = {"api_url_file": receiver.slack.api_url_file, "send_resolved": True}
        if receiver.slack.channel:
            slack["channel"] = template_literal(receiver.slack.channel)
        slack.update({"title": SLACK_TITLE, "text": SLACK_TEXT})
        return {"name": name, "slack_configs": [slack]}
    assert receiver.webhook is not None
    return {"name": name, "webhook_configs": [{"url": receiver.webhook.url, "send_resolved": True}]}


def config(plan: Plan) -> dict[str, Any]:
    """The Alertmanager configuration as data."""
    receivers = plan.spec.receivers
    used = sorted({t.receiver for t in plan.tiers})
    routes = [{"receiver": t.receiver, "matchers": [f"severity={t.name}"], **TIMING[t.name]} for t in plan.tiers]
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {"receiver": plan.tier(FALLBACK_TIER).receiver, "group_by": GROUP_BY, **TIMING[FALLBACK_TIER],
                  "routes": routes},
        "inhibit_rules": [{
            "source_matchers": ["severity=critical", "model=~.+"],
            "target_matchers": ["severity=~warning|info"],
            "equal": ["model", "cluster", "llmmon_spec"],
        }],
        "receivers": [_receiver(name, receivers[name]) for name in used],
    }


def emit(plan: Plan, head: str) -> dict[str, str]:
    """out/alertmanager/alertmanager.yaml and a Secret holding it (Prometheus Operator `configSecret`)."""
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    text = comment + dump(config(plan))
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": f"{plan.name}-alertmanager", "namespace": plan.namespace,
                     "labels": object_labels(plan, "alertmanager")},
        "stringData": {"alertmanager.yaml": text},
    }
    return {"alertmanager/alertmanager.yaml": text, f"kubernetes/{plan.name}-alertmanager.yaml": comment + dump(secret)}
