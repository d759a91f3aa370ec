"""A fleet: the same models served by several clusters (spec `clusters:`), resolved and checked.

The spec's `clusters:` names the clusters; each model lists the clusters serving it (default all). A cluster may
override the serving namespace, GPU prices and the GPU exporter the rules read. From one resolved Plan this
module derives one Plan per cluster (what that cluster's Prometheus evaluates) without touching the model
resolver: a spec without `clusters:` never reaches this code, so its output stays what it was.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace

from llmmon import spec as s
from llmmon.diagnostics import Diagnostic, Severity
from llmmon.engines import edge
from llmmon.model import Model, Plan
from llmmon.yamlpos import Document, Path


@dataclass(frozen=True)
class Cluster:
    """One cluster of the fleet, with its overrides resolved."""

    name: str
    namespace: str | None  # serving namespace of every model here; None: the model's own
    gpu_hourly: tuple[tuple[str, float], ...]  # prices overriding costs.gpu_hourly
    gpu_exporter: str | None  # None: the spec's gpu_exporter.kind


@dataclass(frozen=True)
class Fleet:
    """The clusters of a spec and which models each serves."""

    clusters: tuple[Cluster, ...]
    serving: tuple[tuple[str, tuple[str, ...]], ...]  # model name → the clusters serving it, in spec order

    @property
    def names(self) -> tuple[str, ...]:
        """The cluster names, in spec order."""
        return tuple(c.name for c in self.clusters)

    def models_in(self, cluster: str) -> tuple[str, ...]:
        """The models a cluster serves."""
        return tuple(model for model, where in self.serving if cluster in where)

    def clusters_of(self, model: str) -> tuple[str, ...]:
        """The clusters serving a model."""
        return dict(self.serving).get(model, ())


def of(spec: s.MonitoringSpec) -> Fleet | None:
    """The fleet a valid spec declares, or None for a one-cluster spec."""
    if not spec.clusters:
        return None
    clusters = tuple(Cluster(c.name, c.namespace, tuple(sorted(c.gpu_hourly.items())), c.gpu_exporter)
                     for c in spec.clusters)
    every = tuple(c.name for c in clusters)
    serving = tuple((m.name, tuple(c for c in every if c in m.clusters) if m.clusters else every)
                    for m in spec.models)
    return Fleet(clusters, serving)


def check(spec: s.MonitoringSpec, doc: Document | None, file: str) -> list[Diagnostic]:
    """Every problem of the spec's `clusters:` and the models' `clusters`, anchored on their lines."""
    out: list[Diagnostic] = []

    def report(path: Path, message: str, suggestion: str | None = None,
               severity: Severity = Severity.ERROR) -> None:
        line, col = doc.value_position(path) if doc else (0, 0)
        out.append(Diagnostic(file, line, col, ".".join(str(p) for p in path), message, severity, suggestion))

    declared = [c.name for c in spec.clusters or []]
    if spec.clusters and spec.cluster:
        report(("cluster",), f"`cluster: {spec.cluster}` and `clusters:` are both set: a fleet names its clusters "
               "in `clusters` (each one's Prometheus sends its name as the `cluster` external label)",
               "remove `cluster`")
    seen: dict[str, int] = {}
    for i, c in enumerate(spec.clusters or []):
        if c.name in seen:
            report(("clusters", i, "name"), f"cluster {c.name!r} is declared twice (first as clusters.{seen[c.name]})")
        seen.setdefault(c.name, i)
        rates = spec.costs.gpu_hourly if spec.costs else {}
        for gpu in sorted(set(c.gpu_hourly) - set(rates)):
            if not any(m.gpus and m.gpus.type == gpu for m in spec.models):
                close = difflib.get_close_matches(gpu, sorted(rates), n=1)
                report(("clusters", i, "gpu_hourly", gpu), f"cluster {c.name!r}: GPU type {gpu!r} is used by no model",
                       f"did you mean {close[0]!r}?" if close else None, Severity.WARNING)
    served: set[str] = set()
    for i, m in enumerate(spec.models):
        if m.clusters is None:
            served.update(declared)
            continue
        if not spec.clusters:
            report(("models", i, "clusters"), f"model {m.name!r}: `clusters` names clusters of a fleet, and the spec "
                   "declares none", "declare them under a top-level `clusters:` list, or remove this key")
            continue
        for j, name in enumerate(m.clusters):
            if name not in seen:
                close = difflib.get_close_matches(name, declared, n=1)
                report(("models", i, "clusters", j), f"model {m.name!r}: cluster {name!r} is not declared in "
                       "`clusters`", f"did you mean {close[0]!r}?" if close else f"declared: {', '.join(declared)}")
            elif name in m.clusters[:j]:
                report(("models", i, "clusters", j), f"model {m.name!r}: cluster {name!r} is listed twice")
        served.update(m.clusters)
    for i, c in enumerate(spec.clusters or []):
        if c.name not in served:
            report(("clusters", i, "name"), f"cluster {c.name!r} serves no model: its rule file would be empty",
                   "list it in a model's `clusters`, or remove it", Severity.WARNING)
    return out


def cluster_plan(plan: Plan, fleet: Fleet, name: str) -> Plan:
    """The plan one cluster's Prometheus evaluates: its models, with its overrides, and no `cluster` label (the
    server's external labels add it to what leaves the cluster)."""
    cluster = next(c for c in fleet.clusters if c.name == name)
    wanted = set(fleet.models_in(name))
    prices = dict(plan.spec.costs.gpu_hourly if plan.spec.costs else {}) | dict(cluster.gpu_hourly)
    models = tuple(_in_cluster(m, cluster, prices, plan) for m in plan.models if m.name in wanted)
    return replace(plan, cluster=None, models=models, gpu_exporter=cluster.gpu_exporter or plan.gpu_exporter)


def _in_cluster(m: Model, cluster: Cluster, prices: dict[str, float], plan: Plan) -> Model:
    out = m
    if m.gpu_type and m.gpu_type in prices:
        out = replace(out, gpu_hourly_cost=m.gpu_count * prices[m.gpu_type])
    if cluster.namespace and cluster.namespace != m.namespace:
        spec_model = next(x for x in plan.spec.models if x.name == m.name)
        errors = spec_model.errors or plan.spec.defaults.errors
        moved = edge.resolve(errors.source, errors.name or m.name, cluster.namespace, errors.metric,
                             errors.status_label) if errors and m.edge else m.edge
        out = replace(out, namespace=cluster.namespace, edge=moved)
    return out
