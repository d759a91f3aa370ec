"""prometheus-adapter's rules config (the ConfigMap llmmon writes for HPAs): its structure, and that each rule
reads a series the generated rules record.

The schema follows the adapter's config types (`MetricsDiscoveryConfig`, `DiscoveryRule`, `ResourceMapping`,
`NameMapping`, `RegexFilter` in pkg/config/config.go of kubernetes-sigs/prometheus-adapter): closed objects, so a
misspelt key (the adapter's YAML decoder ignores unknown keys) is an error instead of a rule that silently serves
nothing. Templates may use only the placeholders the adapter fills: `<<.Series>>`, `<<.LabelMatchers>>`,
`<<.GroupBy>>`.
"""

from __future__ import annotations

import re
from typing import Any

_STRING = {"type": "string"}
_RULE = {
    "type": "object", "additionalProperties": False, "required": ["seriesQuery"],
    "properties": {
        "seriesQuery": {"type": "string", "minLength": 1},
        "seriesFilters": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
            "properties": {"is": _STRING, "isNot": _STRING}}},
        "resources": {"type": "object", "additionalProperties": False, "properties": {
            "template": _STRING, "namespaced": {"type": "boolean"},
            "overrides": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["resource"],
                "properties": {"group": _STRING, "resource": _STRING}}}}},
        "name": {"type": "object", "additionalProperties": False, "required": ["matches"],
                 "properties": {"matches": _STRING, "as": _STRING}},
        "metricsQuery": _STRING,
    },
}
SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {"rules": {"type": "array", "items": _RULE}, "externalRules": {"type": "array", "items": _RULE},
                   "resourceRules": {"type": "object"}},
}
PLACEHOLDERS = {".Series", ".LabelMatchers", ".GroupBy"}
_TEMPLATE = re.compile(r"<<\s*([^>]*?)\s*>>")
_NAME = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)")


def problems(config: Any, recorded: set[str]) -> list[str]:
    """What is wrong with an adapter config, as `path: message` lines; `recorded`: the series the rules record."""
    from jsonschema import Draft7Validator

    out = []
    for error in sorted(Draft7Validator(SCHEMA).iter_errors(config), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.path) or "config"
        message = ("unknown key" if error.validator == "additionalProperties" else error.message)
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            path = ".".join(x for x in (path if path != "config" else "", ",".join(extra)) if x)
        out.append(f"{path}: {message}")
    if out or not isinstance(config, dict):
        return out
    for kind in ("rules", "externalRules"):
        for i, rule in enumerate(config.get(kind) or []):
            where = f"{kind}.{i}"
            for placeholder in _TEMPLATE.findall(rule.get("metricsQuery", "")):
                if placeholder not in PLACEHOLDERS:
                    out.append(f"{where}.metricsQuery: <<{placeholder}>> is not a placeholder the adapter fills "
                               f"({', '.join(sorted(PLACEHOLDERS))})")
            name = _NAME.match(rule["seriesQuery"])
            if name is None or name.group(1) not in recorded:
                out.append(f"{where}.seriesQuery: {rule['seriesQuery']!r} reads no series the generated rules record")
            matches = (rule.get("name") or {}).get("matches")
            if matches and name and not re.search(matches, name.group(1)):
                out.append(f"{where}.name.matches: {matches!r} does not match the series {name.group(1)!r}")
    return out
