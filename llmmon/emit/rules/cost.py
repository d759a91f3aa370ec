"""GPU utilisation and cost: which model each pod belongs to, GPU busy ratios by exporter, CPU cores, and the
cost per hour and per million tokens."""

from __future__ import annotations

from llmmon.emit.rules.builder import Builder, per_model, union
from llmmon.emit.rules.names import (
    COST_PER_HOUR,
    COST_PER_MTOK,
    CPU_CORES,
    CPU_SECONDS,
    DCGM_UTIL,
    GPU_COST,
    GPU_UTIL,
    POD_MODEL,
    TOKENS_1H,
)
from llmmon.model import Model
from llmmon.promql import eq, number, re_in, regex_of, selector
from llmmon.slo import BASE_WINDOW


def pod_models(b: Builder) -> None:
    """Which model each pod belongs to, by the models' pod regexes: recorded once every POD_MAP_EVERY, so
    the per-model regexes run there and not at every evaluation. A pod two regexes match goes to the first
    model of the spec (the compiler already refuses regexes that select each other's pods)."""
    names = [n for n, wanted in ((DCGM_UTIL, dcgm_models(b)), (CPU_SECONDS, b.plan.cpu_core_hourly))
             if wanted]
    if not names:
        return
    metric = eq("__name__", names[0]) if len(names) == 1 else ("__name__", "=~", regex_of(names))
    terms = [per_model(m, f"group by (namespace, pod) ({selector('', metric, eq('namespace', m.namespace), ('pod', '=~', m.pods))})")  # noqa: E501
             for m in b.plan.models]
    b.record(POD_MODEL, union(terms, "or on (namespace, pod)"), b.plan.models)


def dcgm_models(b: Builder) -> list[Model]:
    return [m for m in b.plan.models if m.gpu_type] if b.plan.gpu_exporter == "dcgm" else []


def cost(b: Builder) -> None:
    plan = b.plan
    namespaces = re_in("namespace", (m.namespace for m in plan.models))
    if dcgm := dcgm_models(b):
        util = selector(DCGM_UTIL, re_in("namespace", (m.namespace for m in dcgm)))
        b.record(GPU_UTIL, f"{b.pods_to_models(util, 'avg', dcgm)} / 100", dcgm)
    elif gpu_terms := [(m, t) for m in plan.models if (t := gpu_term(b, m))]:
        b.record(GPU_UTIL, union([t for _, t in gpu_terms], "or"), [m for m, _ in gpu_terms])
    gpu_cost = b.rec(GPU_COST)
    if plan.cpu_core_hourly:
        cpu = selector(CPU_SECONDS, namespaces, ("container", "!=", ""))
        b.record(CPU_CORES, f"sum by (model) (\n  sum by (namespace, pod) (rate({cpu}[{BASE_WINDOW}]))\n  "
                 f"{b.pod_join(plan.models)}\n)", plan.models)
        cpu = f"{number(plan.cpu_core_hourly)} * {b.rec(CPU_CORES)}"
        cost = (f"{gpu_cost}\n+ on (model) group_left ()\n(\n  {cpu}\n"
                f"  or on (model)\n  0 * {gpu_cost}\n)")
    else:
        cost = gpu_cost
    b.record(COST_PER_HOUR, cost, plan.models)
    b.record(COST_PER_MTOK, f"{b.rec(COST_PER_HOUR)}\n/ on (model) group_left ()\n"
             f"({b.rec(TOKENS_1H)} * 3600 / 1e6 > 0)", plan.models)


def gpu_term(b: Builder, m: Model) -> str | None:
    kind = b.plan.gpu_exporter
    pods = ("pod", "=~", m.pods)
    if kind == "nvml" and m.gpu_type:
        nodes = f"max by (node) ({selector('kube_pod_info', eq('namespace', m.namespace), pods)})"
        return per_model(m, f"avg(nvidia_smi_utilization_gpu_ratio * on (node) group_left () {nodes})")
    gauge = m.engine.gpu_utilization
    if kind == "none" and gauge:
        who = (eq(m.engine.model_label, m.served_name) if gauge.per_model and m.engine.model_label
               else pods)
        inner = selector(gauge.metric, eq("namespace", m.namespace), who)
        return per_model(m, f"avg({inner}) * {number(gauge.scale)}")
    return None

