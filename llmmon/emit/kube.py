"""Helpers of the Kubernetes emitters: object names, CRD durations and multi-document manifests."""

from __future__ import annotations

import hashlib
from typing import Any

from llmmon.units import Duration
from llmmon.yamlout import dump

LABEL_MAX = 63  # DNS-1123/1035 label: Service names, and names that end up in pod host names


def object_name(*parts: str, limit: int = LABEL_MAX) -> str:
    """`parts` joined with '-', cut to `limit` characters with a stable hash suffix when too long."""
    name = "-".join(p for p in parts if p)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:limit - 9].rstrip('-.')}-{digest}"


def crd_duration(duration: Duration) -> str:
    """A duration as the monitoring.coreos.com CRDs accept it: whole units, no decimals (30s, 1m30s)."""
    return str(duration)


def manifest(head: str, documents: list[dict[str, Any]]) -> str:
    """A multi-document YAML file that starts with the generated-by header as comments."""
    comment = "".join(f"# {line}\n" for line in head.splitlines())
    return comment + "---\n".join(dump(d) for d in documents)
