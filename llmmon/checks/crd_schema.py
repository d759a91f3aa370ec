"""Custom resources checked against the Prometheus Operator's own CRD schemas (the `openAPIV3Schema` the API server
enforces), stored in crd_schemas/ with where each came from.

The API server silently prunes fields a schema does not define; here they are errors, as
`kubectl apply --validate=strict` reports them: every object schema that lists its properties (and does not
preserve unknown fields) is closed before validating.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).with_name("crd_schemas")
# (apiVersion, kind) → the stored schema of that version of the CRD
FILES = {("monitoring.coreos.com/v1alpha1", "AlertmanagerConfig"):
         "alertmanagerconfigs.monitoring.coreos.com-v1alpha1.json"}


def provenance(api_version: str, kind: str) -> dict[str, str]:
    """Where the stored schema of a kind comes from (repository, tag, commit, file)."""
    data: dict[str, str] = _stored(FILES[(api_version, kind)])["provenance"]
    return data


@functools.cache
def _stored(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SCHEMAS / name).read_text(encoding="utf-8"))
    return data


def _closed(schema: Any) -> Any:
    """The schema with `additionalProperties: false` on every object that lists its properties."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@functools.cache
def _validator(api_version: str, kind: str) -> Any:
    import jsonschema  # only the checks need it

    schema = _closed(copy.deepcopy(_stored(FILES[(api_version, kind)])["openAPIV3Schema"]))
    return jsonschema.Draft7Validator(schema)


def covers(document: dict[str, Any]) -> bool:
    """True when a stored CRD schema exists for the document's apiVersion and kind."""
    return (document.get("apiVersion"), document.get("kind")) in FILES


def problems(document: dict[str, Any]) -> list[str]:
    """What the CRD schema refuses in a document, as `dotted.path: message` lines (empty when it is valid)."""
    validator = _validator(str(document["apiVersion"]), str(document["kind"]))
    out = []
    for error in sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        path = [str(p) for p in error.absolute_path]
        if error.validator == "additionalProperties":
            for extra in sorted(set(error.instance) - set(error.schema.get("properties", {}))):
                out.append(f"{'.'.join([*path, str(extra)])}: unknown field (not in the CRD)")
            continue
        out.append(f"{'.'.join(path)}: {error.message}" if path else error.message)
    return out
