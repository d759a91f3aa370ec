"""What every custom-resource model shares: patterns of the CRDs (durations, names, labels), a closed object that
rejects unknown fields, and ObjectMeta. Both crds.py and crds_alertmanager.py build on it."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"  # DNS-1123 subdomain
LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
METRIC = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
CrdDuration = Annotated[str, Field(pattern=DURATION)]
Str = Annotated[str, Field(strict=True)]
Obj = dict[str, Any]  # a sub-object llmmon does not generate: accepted as any object


class Closed(BaseModel):
    """A CRD object: fields outside the CRD are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectMeta(Closed):
    """metadata: the fields a client sets (server-set ones such as uid or resourceVersion do not belong here)."""

    name: Annotated[str, Field(pattern=NAME, max_length=253)]
    namespace: Annotated[str, Field(pattern=LABEL, max_length=63)]
    generateName: Str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    finalizers: list[str] | None = None
    ownerReferences: list[Obj] | None = None

