"""Per-model settings as small static series (model info, objectives, minimum request rates, GPU prices and
counts) that the other rules join by `model`."""

from __future__ import annotations

from collections.abc import Iterable

from llmmon.emit import health
from llmmon.emit.rules.builder import Builder
from llmmon.emit.rules.names import GPU_COST, GPUS, INFO, MIN_RATE, OBJECTIVE
from llmmon.model import Model
from llmmon.promql import number


def static(b: Builder, models: Iterable[Model]) -> None:
    for m in models:
        b.record(INFO, "vector(1)", [m], model=m.name, served_model=m.served_name, namespace=m.namespace,
                 engine=m.engine.key)
        for o in m.objectives:
            b.record(OBJECTIVE, f"vector({number(o.target)})", [m], model=m.name, slo=o.kind)
        b.record(MIN_RATE, f"vector({number(m.min_request_rate)})", [m], model=m.name)
        b.record(GPU_COST, f"vector({number(round(m.gpu_hourly_cost, 9))})", [m], model=m.name,
                 currency=b.plan.currency)
        if m.gpu_type:
            b.record(GPUS, f"vector({m.gpu_count})", [m], model=m.name, gpu_type=m.gpu_type)
    health.static(b, list(models))

