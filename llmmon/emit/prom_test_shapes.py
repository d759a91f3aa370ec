"""Which models a promtool test scenario feeds: the whole fleet, or one representative per rule shape.

The healthy scenario feeds every model: it checks each model's recorded values (error ratio, budget, cost per
token, p99), which hold per-model constants (prices, GPU counts) and its silence. Every other scenario tests
alert logic, which is the same for models of the same shape: models whose rules differ only in names (model,
served name, namespace, pod regex) and in constants the incident scenarios never read (prices, GPU counts above
the two GPUs a test writes). Those scenarios feed the first model of each shape, so a fleet's generated tests
grow with the number of distinct shapes rather than with models × scenarios × replicas.
"""

from __future__ import annotations

from dataclasses import replace

from llmmon.emit.prom_test_load import pod_names
from llmmon.model import Model

FULL_FLEET = ("healthy",)  # scenarios that feed every model


def shape(m: Model) -> str:
    """What an incident scenario's series and expectations of a model depend on, names and prices left out.

    Everything else of the model stays in the key (engine, objectives, alerts with thresholds and `for`, replicas,
    autoscaling, edge counting), so two models share a shape only when their alert logic is the same; the pod
    counts are the ones the tests write (replicas, and one more pod for the pending scenario)."""
    pods = len(pod_names(m))
    anonymous = replace(m, name="", served_name="", namespace="", pods="",
                        pod_example="" if m.pod_example is not None else None,
                        gpu_count=min(m.gpu_count, 2), gpu_hourly_cost=float(m.gpu_hourly_cost > 0))
    return repr((anonymous, pods, len(pod_names(m, pods + 1))))  # repr: a preset holds dicts, not hashable


def representatives(models: tuple[Model, ...]) -> tuple[Model, ...]:
    """The first model of each shape, in the spec's order."""
    seen: set[str] = set()
    out = []
    for m in models:
        key = shape(m)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return tuple(out)


def scenario_models(scenario: str, models: tuple[Model, ...], shapes: tuple[Model, ...]) -> tuple[Model, ...]:
    """The models a scenario feeds and asserts on."""
    return models if scenario in FULL_FLEET else shapes
