"""KEDA's ScaledObject (keda.sh/v1alpha1) checked against the schema of KEDA's own CRD.

keda_scaledobject.schema.json is the CRD's openAPIV3Schema as KEDA publishes it (its `$comment` says which
commit; descriptions removed). The API server prunes fields a CRD schema does not name, silently; here every
object with `properties` is closed (additionalProperties false) unless the schema keeps unknown fields, so a
misspelt field is an error instead of a trigger that quietly lost its setting.

To refresh it: take config/crd/bases/keda.sh_scaledobjects.yaml of github.com/kedacore/keda, drop every
`description`, write the v1alpha1 openAPIV3Schema as JSON with a `$comment` naming the commit.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).with_name("keda_scaledobject.schema.json")
KINDS = {("keda.sh/v1alpha1", "ScaledObject")}


@functools.cache
def schema() -> dict[str, Any]:
    """The closed schema of a ScaledObject."""
    raw = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    raw.pop("$comment", None)
    closed: dict[str, Any] = _closed(raw)
    return closed


def _closed(node: Any) -> Any:
    if isinstance(node, list):
        return [_closed(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _closed(v) for k, v in node.items()}
    keeps_unknown = out.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in out and "additionalProperties" not in out and not keeps_unknown:
        out["additionalProperties"] = False
    return out


def known(document: dict[str, Any]) -> bool:
    """True when the document is a KEDA kind checked here."""
    return (document.get("apiVersion"), document.get("kind")) in KINDS


def problems(document: dict[str, Any]) -> list[str]:
    """What the CRD schema rejects, as `dotted.path: message` lines (empty when the object is valid)."""
    from jsonschema import Draft7Validator

    out = []
    for error in sorted(Draft7Validator(schema()).iter_errors(document), key=lambda e: list(map(str, e.path))):
        path = ".".join(str(p) for p in error.path)
        message = ("unknown field (not in the CRD)" if error.validator == "additionalProperties"
                   else error.message)
        if error.validator == "additionalProperties":
            extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            path = ".".join(x for x in (path, ",".join(extra)) if x)
        out.append(f"{path}: {message}" if path else message)
    return out
