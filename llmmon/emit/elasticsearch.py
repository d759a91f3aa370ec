"""Elasticsearch retention: an ILM policy (hot → cold → delete) and the index template that binds it.

Fluentd writes one index a day (`<index>-YYYY.MM.DD`). Without rollover, an ILM phase's `min_age` counts from
the index's creation, so each day of logs is hot for `retention.hot`, cold for `retention.cold`, then deleted.
Both files are request bodies: `PUT _ilm/policy/<name>` and `PUT _index_template/<name>`; each names its own
request in `_meta.request`.
"""

from __future__ import annotations

import json
from typing import Any

from llmmon import logrecord
from llmmon.model import Plan
from llmmon.units import Duration

TEMPLATE_PRIORITY = 200  # above the built-in templates (100), so ours wins for its own pattern
# Elasticsearch time units, largest first; it reads neither weeks nor compound durations such as 1d12h.
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))


def policy_name(index: str) -> str:
    """The ILM policy (and index template) name of an index prefix."""
    return f"{index}-retention"


def index_glob(index: str) -> str:
    """The pattern of the daily indices Fluentd writes for an index prefix."""
    return f"{index}-*"


def es_time(duration: Duration) -> str:
    """A duration in one Elasticsearch time unit: 30d, 36h, 90m, 500ms."""
    for unit, size in _UNITS:
        if duration.ms % size == 0:
            return f"{duration.ms // size}{unit}"
    raise AssertionError("unreachable: every duration is whole milliseconds")


def _meta(head: str, request: str) -> dict[str, str]:
    return {"description": " ".join(head.splitlines()), "managed_by": "llmmon", "request": request}


def ilm_policy(plan: Plan, head: str) -> dict[str, Any]:
    """The ILM policy body: hot, then cold at retention.hot, deleted at hot + cold."""
    logging = plan.spec.logging
    assert logging is not None
    hot, cold = logging.retention.hot, logging.retention.cold
    name = policy_name(logging.elasticsearch.index)
    phases: dict[str, Any] = {"hot": {"min_age": "0ms", "actions": {"set_priority": {"priority": 100}}}}
    if cold.ms > 0:
        phases["cold"] = {"min_age": es_time(hot), "actions": {"set_priority": {"priority": 0}, "readonly": {}}}
    phases["delete"] = {"min_age": es_time(Duration(hot.ms + cold.ms)), "actions": {"delete": {}}}
    return {"policy": {"_meta": _meta(head, f"PUT _ilm/policy/{name}"), "phases": phases}}


def mappings() -> dict[str, Any]:
    """Field types of the log record contract (llmmon.logrecord). Its timestamp is the event time, which Fluentd
    writes as @timestamp; the ids and names are keywords cut at 1024 characters, not analysed text."""
    properties: dict[str, Any] = {}
    for field in logrecord.FIELDS:
        name = "@timestamp" if field.name == logrecord.TIME_KEY else field.name
        properties[name] = {"type": field.es_type, **({"ignore_above": 1024} if field.es_type == "keyword" else {})}
    return {"properties": dict(sorted(properties.items()))}


def index_template(plan: Plan, head: str) -> dict[str, Any]:
    """The composable index template: the policy and field types for the daily indices."""
    logging = plan.spec.logging
    assert logging is not None
    index = logging.elasticsearch.index
    return {
        "_meta": _meta(head, f"PUT _index_template/{policy_name(index)}"),
        "index_patterns": [index_glob(index)],
        "priority": TEMPLATE_PRIORITY,
        "template": {
            "settings": {"index.lifecycle.name": policy_name(index)},
            "mappings": mappings(),
        },
    }


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def emit(plan: Plan, head: str) -> dict[str, str]:
    """out/elasticsearch/ilm-policy.json and index-template.json, when the spec has a logging section."""
    if plan.spec.logging is None:
        return {}
    return {"elasticsearch/ilm-policy.json": _json(ilm_policy(plan, head)),
            "elasticsearch/index-template.json": _json(index_template(plan, head))}
