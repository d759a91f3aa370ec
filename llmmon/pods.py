"""Pod regexes of models that share a namespace must not select each other's pods.

CPU and GPU series (and, for engines without a model label, every series) are attributed to a model by
namespace and pod regex. The default regex `<name>-.*` of a model `llama-3` also matches `llama-3-70b-0`, a pod
of model `llama-3-70b`: its series would count for both models, silently. Overlaps are found with each model's
example pod name (the one the generated tests use); default regexes are looked up by prefix, so the check stays
linear for fleets of thousands of models.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol


class _Pods(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def namespace(self) -> str: ...

    @property
    def pods(self) -> str: ...

    @property
    def pod_example(self) -> str | None: ...


def default_regex(name: str) -> str:
    """The pods regex of a model that sets none: its name, then '-' and anything."""
    return f"{name.replace('.', chr(92) + '.')}-.*"


def overlaps(models: Sequence[_Pods | None]) -> list[tuple[int, int]]:
    """(i, j) for every model i whose pods regex matches the example pod of model j in the same namespace."""
    by_default: dict[tuple[str, str], int] = {}  # (namespace, name) of models with the default regex
    custom: dict[str, list[int]] = defaultdict(list)
    for i, m in enumerate(models):
        if m is None:
            continue
        if m.pods == default_regex(m.name):
            by_default[(m.namespace, m.name)] = i
        else:
            custom[m.namespace].append(i)
    found = set()
    for j, other in enumerate(models):
        if other is None or other.pod_example is None:
            continue
        pod = other.pod_example
        for cut in (k for k, char in enumerate(pod) if char == "-"):  # `<name>-.*` matches when name = pod[:cut]
            owner = by_default.get((other.namespace, pod[:cut]))
            if owner is not None and owner != j:
                found.add((owner, j))
        for i in custom[other.namespace]:
            model = models[i]
            if i != j and model is not None and re.fullmatch(model.pods, pod):
                found.add((i, j))
    return sorted(found)
