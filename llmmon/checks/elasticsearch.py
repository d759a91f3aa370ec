"""Checks of the Elasticsearch ILM policy and index template without Elasticsearch: the request bodies' shape,
phases in order with growing min_age, only actions a phase allows, a delete phase, and a template that binds the
policy to the indices Fluentd writes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PHASES = ("hot", "warm", "cold", "frozen", "delete")
# Actions each phase allows (Elasticsearch ILM reference, 7.x and 8.x).
ACTIONS: dict[str, frozenset[str]] = {
    "hot": frozenset({"set_priority", "unfollow", "rollover", "readonly", "shrink", "forcemerge",
                      "searchable_snapshot", "downsample"}),
    "warm": frozenset({"set_priority", "unfollow", "readonly", "allocate", "migrate", "shrink", "forcemerge",
                       "downsample"}),
    "cold": frozenset({"set_priority", "unfollow", "readonly", "searchable_snapshot", "allocate", "migrate",
                       "downsample"}),
    "frozen": frozenset({"searchable_snapshot", "unfollow"}),
    "delete": frozenset({"wait_for_snapshot", "delete"}),
}
NEEDS_ROLLOVER_IN_HOT = {"readonly", "shrink", "forcemerge", "searchable_snapshot", "downsample"}
_TIME = re.compile(r"^(?P<n>\d+)(?P<unit>d|h|m|s|ms|micros|nanos)$")
_NANOS = {"d": 86_400 * 10**9, "h": 3600 * 10**9, "m": 60 * 10**9, "s": 10**9, "ms": 10**6, "micros": 1000,
          "nanos": 1}
_REQUEST = re.compile(r"^PUT _(ilm/policy|index_template)/(?P<name>[a-z0-9][a-z0-9._-]*)$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class _Meta(_Strict):
    description: str = Field(min_length=1)
    managed_by: Literal["llmmon"]
    request: str = Field(pattern=_REQUEST.pattern)


class _Phase(_Strict):
    min_age: str = Field("0ms", pattern=_TIME.pattern)
    actions: dict[str, dict[str, Any]]


class _Policy(_Strict):
    meta: _Meta = Field(alias="_meta")
    phases: dict[Literal["hot", "warm", "cold", "frozen", "delete"], _Phase] = Field(min_length=1)


class IlmPolicy(_Strict):
    """The body of PUT _ilm/policy/<name>."""

    policy: _Policy


class _Template(_Strict):
    settings: dict[str, Any]
    mappings: dict[str, Any] | None = None
    aliases: dict[str, Any] | None = None


class IndexTemplate(_Strict):
    """The body of PUT _index_template/<name> (composable templates, Elasticsearch 7.8 and later)."""

    meta: _Meta = Field(alias="_meta")
    index_patterns: list[str] = Field(min_length=1)
    priority: int = Field(0, ge=0)
    template: _Template
    composed_of: list[str] | None = None
    version: int | None = None


def nanos(text: str) -> int:
    """An Elasticsearch time value in nanoseconds."""
    match = _TIME.fullmatch(text)
    assert match, text
    return int(match["n"]) * _NANOS[match["unit"]]


def _errors(exc: ValidationError, prefix: str) -> list[str]:
    return [f"{prefix}{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]


def check_policy(data: Any) -> tuple[list[str], str | None]:
    """Problems of an ILM policy body, and the policy's name (from `_meta.request`)."""
    try:
        body = IlmPolicy.model_validate(data)
    except ValidationError as exc:
        return _errors(exc, ""), None
    found: list[str] = []
    phases = body.policy.phases
    ordered = [p for p in PHASES if p in phases]
    ages = [nanos(phases[p].min_age) for p in ordered]
    for before, after, age_before, age_after in zip(ordered, ordered[1:], ages, ages[1:], strict=False):
        if age_after < age_before:
            found.append(f"policy.phases.{after}.min_age: {phases[after].min_age} is before the {before} phase "
                         f"starts ({phases[before].min_age})")
    for name in ordered:
        for action in sorted(set(phases[name].actions) - ACTIONS[name]):
            found.append(f"policy.phases.{name}.actions.{action}: not allowed in the {name} phase")
    hot = phases.get("hot")
    if hot and "rollover" not in hot.actions:
        for action in sorted(NEEDS_ROLLOVER_IN_HOT & set(hot.actions)):
            found.append(f"policy.phases.hot.actions.{action}: needs rollover in the hot phase")
    priority = [p for p in ordered if "set_priority" in phases[p].actions]
    for name in priority:
        value = phases[name].actions["set_priority"].get("priority")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            found.append(f"policy.phases.{name}.actions.set_priority.priority: must be a whole number >= 0")
    if "delete" not in phases or "delete" not in phases["delete"].actions:
        found.append("policy.phases.delete: no delete phase: logs are kept forever")
    match = _REQUEST.fullmatch(body.policy.meta.request)
    return found, match["name"] if match and match[1] == "ilm/policy" else None


def lifecycle_name(settings: dict[str, Any]) -> Any:
    """index.lifecycle.name, written flat or nested."""
    if "index.lifecycle.name" in settings:
        return settings["index.lifecycle.name"]
    return ((settings.get("index") or {}).get("lifecycle") or {}).get("name")


def check_template(data: Any, policy: str | None, index_example: str | None) -> list[str]:
    """Problems of an index template body: it must bind `policy` to indices such as `index_example`."""
    try:
        body = IndexTemplate.model_validate(data)
    except ValidationError as exc:
        return _errors(exc, "")
    found: list[str] = []
    bound = lifecycle_name(body.template.settings)
    if bound is None:
        found.append("template.settings: index.lifecycle.name is not set: the policy applies to no index")
    elif policy and bound != policy:
        found.append(f"template.settings.index.lifecycle.name: {bound!r} is not the policy {policy!r}")
    for i, pattern in enumerate(body.index_patterns):
        if not re.fullmatch(r"[a-z0-9*][a-z0-9._*-]*", pattern):
            found.append(f"index_patterns.{i}: {pattern!r} is not an index pattern")
    if index_example and not any(covers(p, index_example) for p in body.index_patterns):
        found.append(f"index_patterns: no pattern matches {index_example!r}, an index Fluentd writes")
    return found


def covers(pattern: str, index: str) -> bool:
    """Whether an index pattern (only `*` is special) matches an index name."""
    return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("*")), index) is not None
