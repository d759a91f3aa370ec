"""One model of the spec resolved: engine preset (and version), namespace, pods regex, GPU cost, SLOs, alerts,
the edge that counts its requests, autoscaling."""

from __future__ import annotations

from llmmon import spec as s
from llmmon.diagnostics import has_errors
from llmmon.engines import PRESETS, Preset, edge, preset_for, variants
from llmmon.engines.edge import Edge
from llmmon.model import Model
from llmmon.regex import check_re2, example_match
from llmmon.resolver.alerts import AlertsMixin
from llmmon.resolver.base import _re_escape, _squash
from llmmon.resolver.objectives import ObjectivesMixin


class ModelsMixin(ObjectivesMixin, AlertsMixin):
    """One model: its own values, else the defaults'."""

    def _model(self, index: int) -> Model | None:
        ms = self.spec.models[index]
        start = len(self.diagnostics)
        engine_name, engine_path = self.pick(index, "engine")
        engine_name = engine_name or "openai-compatible"
        engine = PRESETS.get(engine_name)
        if engine is None:
            self.report(engine_path, f"engine {engine_name!r} has no preset in this version of llmmon",
                        f"available: {', '.join(sorted(PRESETS))}")
        version, version_path = self.pick(index, "engine_version")
        if engine is not None and version is not None:
            engine = preset_for(engine_name, version)
            if engine is None:
                known = [v.version for v in variants(engine_name) if v.version]
                self.report(version_path, f"model {ms.name!r}: engine {engine_name} has no preset for version "
                            f"{version!r}", f"known versions: {', '.join(known)}" if known else
                            f"engine {engine_name} has one preset; remove engine_version")
        namespace, _ = self.pick(index, "namespace")
        if namespace is None:
            self.report(("models", index), f"model {ms.name!r}: namespace is not set here or in defaults")
        pods = ms.pods or f"{_re_escape(ms.name)}-.*"
        pod_example = None
        problem = check_re2(pods)
        if problem:
            self.report(("models", index, "pods"), f"model {ms.name!r}: {problem}")
        else:
            pod_example = example_match(pods)
        gpu_cost = 0.0
        if ms.gpus:
            rates = self.spec.costs.gpu_hourly if self.spec.costs else {}
            if ms.gpus.type not in rates:
                # Another type's name is the fix only when it is this one spelt differently (h100, H-100);
                # H200 beside H100 is a GPU without a price, not a typo.
                same = [t for t in rates if _squash(t) == _squash(ms.gpus.type)]
                self.report(("models", index, "gpus", "type"),
                            f"model {ms.name!r}: GPU type {ms.gpus.type!r} has no rate in costs.gpu_hourly",
                            f"did you mean {same[0]!r}?" if same
                            else f"add `{ms.gpus.type}: <price per hour>` under costs.gpu_hourly")
            else:
                gpu_cost = ms.gpus.count * rates[ms.gpus.type]
        by_pod = engine and (engine.by_pod or engine.requests.by_pod or engine.errors.by_pod)
        if engine and by_pod and not problem and pod_example is None:
            self.report(("models", index, "pods"), f"model {ms.name!r}: engine {engine.name} has no model label, "
                        f"so its series are selected by pod name, and llmmon cannot build a pod name matching "
                        f"{pods!r} for the generated tests", "use a simpler regex such as `<name>-.*`")
        objectives = self._objectives(index, engine)
        min_rate, _ = self.pick(index, "slo", "min_request_rate")
        alerts = self._alerts(index, engine)
        if (len(self.diagnostics) > start and has_errors(self.diagnostics[start:])) or engine is None:
            return None
        return Model(name=ms.name, engine=engine, namespace=namespace, served_name=ms.served_name or ms.name,
                     pods=pods, pod_example=pod_example, gpu_type=ms.gpus.type if ms.gpus else None,
                     gpu_count=ms.gpus.count if ms.gpus else 0, gpu_hourly_cost=gpu_cost,
                     objectives=objectives, min_request_rate=min_rate or 0.0, alerts=alerts, edge=self._edge(index),
                     replicas=ms.replicas, autoscaling=self._autoscaling(index, engine))

    def _edge(self, index: int) -> Edge | None:
        errors, _ = self.pick(index, "errors")
        if errors is None:
            return None
        ms = self.spec.models[index]
        namespace, _ = self.pick(index, "namespace")
        return edge.resolve(errors.source, errors.name or ms.name, namespace or "", errors.metric, errors.status_label)


    def _autoscaling(self, index: int, engine: Preset | None) -> s.Autoscaling | None:
        auto = self.spec.models[index].autoscaling
        if auto is None or engine is None:
            return auto
        name = self.spec.models[index].name
        if auto.min_replicas > auto.max_replicas:
            self.report(("models", index, "autoscaling", "min_replicas"),
                        f"model {name!r}: min_replicas ({auto.min_replicas}) is above max_replicas "
                        f"({auto.max_replicas})")
        if auto.autoscaler == "hpa" and auto.min_replicas < 1:  # HPAScaleToZero is an alpha feature gate
            self.report(("models", index, "autoscaling", "min_replicas"),
                        f"model {name!r}: a HorizontalPodAutoscaler cannot scale to zero replicas",
                        "min_replicas: 1, or `autoscaler: keda`")
        if auto.signal in ("waiting", "kv_cache") and auto.signal not in engine.gauges:
            self.report(("models", index, "autoscaling", "signal"),
                        f"model {name!r}: engine {engine.name} exposes no {auto.signal} signal to scale on",
                        "use `signal: requests`")
        return auto
