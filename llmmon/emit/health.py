"""Rules that warn before an SLO burns (issue 21): saturation, per-replica health and GPU health.

Everything else llmmon records is summed per model; these rules keep the `pod` (and the GPU) apart, so one bad
replica of four, a pod in a restart loop or one failing GPU shows up while the model as a whole still looks
healthy. Their alerts are warnings by default and carry the `model` label like every other alert, so routing and
inhibition treat them the same. Series names below are the shared vocabulary of rules, tests and dashboards.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import TYPE_CHECKING

from llmmon.emit.rules.builder import per_model, union
from llmmon.engines import Counter, Preset
from llmmon.engines.base import Matcher
from llmmon.model import Alert, Model
from llmmon.promql import SPEC_LABEL, eq, number, regex_of, selector

if TYPE_CHECKING:
    from llmmon.emit.rules.builder import Builder as _Builder
    from llmmon.emit.rules.engine_reading import Raw as _Raw

# per replica (`model`, `pod`), every DETAIL_EVERY
POD_REQUESTS = "model_pod:llm_requests:rate5m"
POD_ERRORS = "model_pod:llm_request_errors:rate5m"
POD_ERROR_RATIO = "model_pod:llm_request_errors:ratio_rate5m"
POD_LATENCY_P99 = "model_pod:llm_request_duration_seconds:p99"
POD_WAITING = "model_pod:llm_requests_waiting:sum"
POD_KV = "model_pod:llm_kv_cache_usage:ratio"
# per model
PREEMPTIONS = "model:llm_preemptions:rate5m"
REPLICAS_SPEC = "llmmon:replicas_expected"  # static: the spec's `replicas`
REPLICAS_SERVING = "model:llm_replicas_serving:count"
REPLICAS_EXPECTED = "model:llm_replicas_expected:count"
WAITING_PER_REPLICA = "model:llm_requests_waiting:per_replica"
KV_MAX = "model:llm_kv_cache_usage:max"
# GPUs of each model (dcgm-exporter, or nvidia_gpu_exporter for temperature, power and clock)
GPU_TEMP = "model:gpu_temperature_celsius:max"
GPU_POWER = "model:gpu_power_watts:sum"
GPU_CLOCK = "model:gpu_sm_clock_hertz:avg"
GPU_TENSOR = "model:gpu_tensor_active:ratio"
GPU_PCIE_REPLAYS = "model:gpu_pcie_replays:rate5m"
GPU_XID = "model:gpu_xid_errors:max10m"  # per GPU: also `pod`, `gpu`, `UUID`
GPU_REMAP_FAILURE = "model:gpu_row_remap_failure:max"  # per GPU, like GPU_XID
GPU_REMAPPED_ROWS = "model:gpu_uncorrectable_remapped_rows:max"
# kube-state-metrics
KSM_RESTARTS = "kube_pod_container_status_restarts_total"
KSM_PHASE = "kube_pod_status_phase"
KSM_READY = "kube_pod_status_ready"
# an outlier replica's error ratio must also be at least this, so one failed request of a quiet pod is no outlier
OUTLIER_MIN_ERROR_RATIO = 0.05
# the p99 comparison needs this many replicas: with two, "far above the median" cannot single one out
OUTLIER_MIN_REPLICAS_P99 = 3
ORDER = ("itl_p99", "kv_cache_high", "queue_high", "preemptions", "replicas_missing", "replica_outlier", "pod_restarts",
         "pods_pending", "gpu_xid", "gpu_row_remap_failure", "gpu_temperature")


def condition(key: str, threshold: float | None) -> str:
    """When an alert of this module fires, in words (for `llmmon explain` and the generated summary)."""
    t = number(threshold or 0)
    return {
        "itl_p99": f"p99 time between output tokens over 5m is above {t}s",
        "kv_cache_high": f"the fullest KV cache of the model's replicas is above {_pct(threshold)}",
        "queue_high": f"more than {t} requests wait per serving replica",
        "preemptions": f"more than {t} requests/s are preempted",
        "replicas_missing": "fewer replicas report metrics than expected, while some still do",
        "replica_outlier": f"one replica's error ratio (or p99) is more than {t}x its siblings'",
        "pod_restarts": f"a pod restarted at least {t} times in the last hour",
        "pods_pending": "a pod of the model is Pending",
        "gpu_xid": "a GPU of the model reported an XID error in the last 10m",
        "gpu_row_remap_failure": "a GPU of the model failed to remap a memory row",
        "gpu_temperature": f"the hottest GPU of the model is above {t} C",
    }[key]


def threshold_text(key: str, threshold: float) -> str:
    """A threshold of this module's alerts with its unit."""
    unit = {"itl_p99": "s", "kv_cache_high": "", "queue_high": " waiting/replica", "preemptions": "/s",
            "replica_outlier": "x", "pod_restarts": " restarts/h", "gpu_temperature": " C"}[key]
    return _pct(threshold) if key == "kv_cache_high" else f"{number(threshold)}{unit}"


def engine_pods(b: _Builder, preset: Preset, models: list[Model]) -> None:
    """Per-replica requests, errors, p99 and load gauges of one engine's models, and its preemption rate."""
    from llmmon.emit.rules.builder import scaled as _scaled
    from llmmon.emit.rules.engine_reading import Raw as _Raw

    raw = _Raw(b, preset, models)
    record = functools.partial(b.record, engine=preset.key)  # versions of one engine record apart
    record(POD_REQUESTS, _per_pod_total(raw, preset.requests), models)
    record(POD_ERRORS, raw.by_model(raw.rate(preset.errors), "pod", by_pod=preset.errors.by_pod), models)
    if preset.latency is not None:
        p99 = raw.quantile_by_model(0.99, raw.rate(Counter(preset.latency.metric), "_bucket"), "pod")
        scale = "" if preset.latency.scale == 1 else f" * {number(preset.latency.scale)}"
        # an idle replica has no p99 (not NaN): guard on its request rate, recorded just above in this group
        record(POD_LATENCY_P99, f"{p99}{scale}\nand on (model, pod)\n"
               f"({b.rec(POD_REQUESTS, eq('engine', preset.key))} > 0)", models)
    for key, name, how in (("waiting", POD_WAITING, "sum"), ("kv_cache", POD_KV, "avg")):
        if (gauge := preset.gauges.get(key)) is not None:
            record(name, _scaled(raw.by_model(functools.partial(_select, gauge.metric), "pod", how=how), gauge),
                   models)
    if preset.preemptions is not None:
        record(PREEMPTIONS, raw.by_model(raw.rate(preset.preemptions)), models)


def _per_pod_total(raw: _Raw, counter: Counter) -> str:
    """A counter summed over its metric names, per replica (each name rated apart, like _Raw.total)."""
    parts = [raw.by_model(raw.rate(Counter(name, counter.labels, counter.select)), "pod", by_pod=counter.by_pod)
             for name in counter.names]
    out = parts[0]
    for part in parts[1:]:
        out = f"{out}\n+ on (model, pod)\n(\n{part}\nor on (model, pod)\n0 * {parts[0]}\n)"
    return out


def static(b: _Builder, models: list[Model]) -> None:
    """The spec's expected replica counts."""
    for m in models:
        if m.replicas:
            b.record(REPLICAS_SPEC, f"vector({m.replicas})", [m], model=m.name)


def replicas(b: _Builder) -> None:
    """Replicas serving (reporting requests) and expected: the spec's count, else the pods kube-state-metrics
    reports Ready (a pod still loading its model is not Ready, so a rollout does not count as missing replicas);
    the per-replica queue and the fleet's fullest KV cache."""
    models = list(b.plan.models)
    # a replica reports when any of its series exists: request counters may appear only with the first request
    # (HTTP status counters), the engine's load gauges exist from its start
    names = ("__name__", "=~", regex_of([POD_REQUESTS, POD_WAITING, POD_KV]))
    serving = selector("", names, eq(SPEC_LABEL, b.plan.name))
    b.record(REPLICAS_SERVING, f"count by (model) (group by (model, pod) ({serving}))", models)
    pods = b.rec(POD_REQUESTS)
    b.record(POD_ERROR_RATIO, f"{b.rec(POD_ERRORS)}\n/ on (model, pod)\n({pods} > 0)", models)
    spec = [m for m in models if m.replicas]
    running = [m for m in models if not m.replicas]
    terms = []
    if spec:
        terms.append(f"max by (model) ({b.rec(REPLICAS_SPEC, *b.among(spec))})")
    if running:
        terms += [per_model(m, f"count({selector(KSM_READY, eq('namespace', m.namespace), ('pod', '=~', m.pods), eq('condition', 'true'))} == 1)")  # noqa: E501
                  for m in running]
    b.record(REPLICAS_EXPECTED, union(terms, "or"), models)
    if any("waiting" in m.engine.gauges for m in models):
        b.record(WAITING_PER_REPLICA, f"sum by (model) ({b.rec(POD_WAITING)})\n/ on (model)\n"
                 f"({b.rec(REPLICAS_SERVING)} > 0)", [m for m in models if "waiting" in m.engine.gauges])
    if any("kv_cache" in m.engine.gauges for m in models):
        b.record(KV_MAX, f"max by (model) ({b.rec(POD_KV)})", [m for m in models if "kv_cache" in m.engine.gauges])


def gpus(b: _Builder) -> None:
    """Temperature, power, SM clock, tensor activity, PCIe replays, XID and row remapping of each model's GPUs."""
    plan = b.plan
    gpu_models = [m for m in plan.models if m.gpu_type]
    if not gpu_models:
        return
    if plan.gpu_exporter == "dcgm":
        join = b._pod_join(gpu_models)
        ns = ("namespace", "=~", "|".join(sorted({m.namespace for m in gpu_models})))

        def gpu_series(metric: str, how: str, keys: str = "model", inner: str = "") -> str:
            series = inner or selector(metric, ns)
            if keys == "model":  # by pod first: the join then touches one series per pod, not one per GPU
                return b.pods_to_models(series, how, gpu_models)
            return f"{how} by ({keys}) (\n  {series}\n  {join}\n)"

        b.record(GPU_TEMP, gpu_series("DCGM_FI_DEV_GPU_TEMP", "max"), gpu_models)
        b.record(GPU_POWER, gpu_series("DCGM_FI_DEV_POWER_USAGE", "sum"), gpu_models)
        b.record(GPU_CLOCK, gpu_series("DCGM_FI_DEV_SM_CLOCK", "avg") + " * 1e6", gpu_models)
        if plan.spec.gpu_exporter.profiling:
            b.record(GPU_TENSOR, gpu_series("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "avg"), gpu_models)
        replays = f"rate({selector('DCGM_FI_DEV_PCIE_REPLAY_COUNTER', ns)}[5m])"
        b.record(GPU_PCIE_REPLAYS, gpu_series("", "sum", inner=replays), gpu_models)
        b.record(GPU_REMAPPED_ROWS, gpu_series("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "max"), gpu_models)
        xid = f"max_over_time({selector('DCGM_FI_DEV_XID_ERRORS', ns)}[10m])"
        b.record(GPU_XID, gpu_series("", "max", "model, pod, gpu, UUID", inner=xid), gpu_models)
        b.record(GPU_REMAP_FAILURE, gpu_series("DCGM_FI_DEV_ROW_REMAP_FAILURE", "max", "model, pod, gpu, UUID"),
                 gpu_models)
    elif plan.gpu_exporter == "nvml":
        for name, metric, how, scale in ((GPU_TEMP, "nvidia_smi_temperature_gpu", "max", ""),
                                         (GPU_POWER, "nvidia_smi_power_draw_watts", "sum", ""),
                                         (GPU_CLOCK, "nvidia_smi_clocks_current_sm_clock_hz", "avg", "")):
            terms = []
            for m in gpu_models:
                nodes = (f"max by (node) ({selector('kube_pod_info', eq('namespace', m.namespace), ('pod', '=~', m.pods))})")  # noqa: E501
                terms.append(per_model(m, f"{how}({metric} * on (node) group_left () {nodes}){scale}"))
            b.record(name, union(terms, "or"), gpu_models)


def alerts(b: _Builder) -> None:
    """The saturation, replica and GPU alerts: one rule per (alert, threshold, tier, for), like the others."""
    groups: dict[tuple[str, float | None, str, int], list[Model]] = defaultdict(list)
    for m in b.plan.models:
        for a in m.alerts:
            if a.key in ORDER:
                groups[(a.key, a.threshold, a.tier, a.for_.ms)].append(m)
    shared: dict[tuple[str, float | None, str], set[int]] = defaultdict(set)
    for key, threshold, tier, for_ms in groups:
        shared[(key, threshold, tier)].add(for_ms)
    for (key, threshold, tier, _), models in sorted(groups.items(),
                                                         key=lambda kv: (ORDER.index(kv[0][0]), kv[1][0].name)):
        alert = models[0].alert(key)
        assert alert is not None
        extra = {"threshold": number(threshold)} if threshold is not None else {}
        if len(shared[(key, threshold, tier)]) > 1:
            extra["pending"] = str(alert.for_)
        _alert(b, alert, models, extra)


def _alert(b: _Builder, alert: Alert, models: list[Model], extra: dict[str, str]) -> None:
    own = b.among(models)
    t = number(alert.threshold or 0)
    model = "{{ $labels.model }}"
    labels = {"severity": alert.tier, **extra}
    key = alert.key
    if key == "itl_p99":
        from llmmon.emit.insight import ITL

        expr = f"{b.rec(ITL + ':p99', *own)} > {t}"
        summary = "Tokens of an LLM model stream slowly"
        text = (f"p99 time between output tokens of {model} is {{{{ $value | humanizeDuration }}}} over the last 5m "
                f"(threshold {t}s): the decode batch is too large or the GPUs are throttled.")
    elif key == "kv_cache_high":
        expr = f"{b.rec(KV_MAX, *own)} > {t}"
        summary = "An LLM model's KV cache is nearly full"
        text = (f"The fullest KV cache of {model}'s replicas is {{{{ $value | humanizePercentage }}}} used "
                f"(threshold {_pct(alert.threshold)}): the engine starts preempting and queueing requests, and "
                "latency follows.")
    elif key == "queue_high":
        expr = f"{b.rec(WAITING_PER_REPLICA, *own)} > {t}"
        summary = "Requests are queueing at an LLM model"
        text = (f"{model} has {{{{ $value | printf \"%.1f\" }}}} requests waiting per serving replica "
                f"(threshold {t}): it needs more replicas or its load is uneven.")
    elif key == "preemptions":
        expr = f"{b.rec(PREEMPTIONS, *own)} > {t}"
        summary = "An LLM model is preempting requests"
        text = (f"{model} preempts {{{{ $value | printf \"%.2f\" }}}} requests/s (threshold {t}/s): its KV cache "
                "cannot hold the running batch, so requests are evicted and recomputed.")
    elif key == "replicas_missing":
        expr = (f"{b.rec(REPLICAS_SERVING, *own)}\n< on (model)\n{b.rec(REPLICAS_EXPECTED, *own)}")
        summary = "Some replicas of an LLM model stopped reporting"
        text = (f"Only {{{{ $value }}}} replicas of {model} report request metrics, fewer than expected: the "
                "others are down, not ready or no longer scraped, while the rest carry their load.")
    elif key == "replica_outlier":
        ratio, pods, errors = b.rec(POD_ERROR_RATIO, *own), b.rec(POD_REQUESTS, *own), b.rec(POD_ERRORS, *own)
        siblings = (f"(\n    sum by (model) ({errors})\n    - on (model) group_right () {errors}\n  )\n"
                    "  / on (model, pod)\n"
                    f"  (\n    (sum by (model) ({pods})\n    - on (model) group_right () {pods}) > 0\n  )")
        terms = [f"label_replace(\n  {ratio} > {number(OUTLIER_MIN_ERROR_RATIO)}\n  and on (model, pod)\n  "
                 f"{ratio} > on (model, pod) {t} * {siblings},\n  \"signal\", \"error_ratio\", \"\", \"\"\n)"]
        if any(m.engine.latency for m in models):
            p99 = b.rec(POD_LATENCY_P99, *own)
            enough = f"{b.rec(REPLICAS_SERVING, *own)} >= {OUTLIER_MIN_REPLICAS_P99}"
            terms.append(f"label_replace(\n  {p99} > on (model) group_left () ({t} * quantile by (model) (0.5, {p99}))"
                         f"\n  and on (model) ({enough}),\n  \"signal\", \"p99\", \"\", \"\"\n)")
        expr = "\nor\n".join(terms)
        summary = "One replica of an LLM model is far worse than its siblings"
        text = (f"Pod {{{{ $labels.pod }}}} of {model}: its {{{{ $labels.signal }}}} is {{{{ $value }}}}, more "
                f"than {t} times its sibling replicas': drain or restart it.")
    elif key == "pod_restarts":
        terms = [per_model(m, f"sum by (pod) (increase({selector(KSM_RESTARTS, eq('namespace', m.namespace), ('pod', '=~', m.pods))}[1h]))")  # noqa: E501
                 for m in models]
        expr = f"(\n{union(terms, 'or')}\n) >= {t}"
        summary = "A pod of an LLM model is in a restart loop"
        text = (f"Pod {{{{ $labels.pod }}}} of {model} restarted {{{{ $value | printf \"%.0f\" }}}} times in the "
                f"last hour (threshold {t}): look at its previous container's logs and its OOM kills.")
    elif key == "pods_pending":
        terms = [per_model(m, f"sum by (pod) ({selector(KSM_PHASE, eq('namespace', m.namespace), ('pod', '=~', m.pods), eq('phase', 'Pending'))})")  # noqa: E501
                 for m in models]
        expr = f"(\n{union(terms, 'or')}\n) > 0"
        summary = "A pod of an LLM model cannot be scheduled"
        text = (f"Pod {{{{ $labels.pod }}}} of {model} has been Pending for {alert.for_}: no node has the GPUs, "
                "memory or taint tolerations it asks for, or its image cannot be pulled.")
    elif key == "gpu_xid":
        expr = f"{b.rec(GPU_XID, *own)} > 0"
        summary = "A GPU of an LLM model reported an XID error"
        text = (f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.UUID }}}}) of {model}, pod {{{{ $labels.pod }}}}, "
                "reported XID {{ $value }} in the last 10m: a driver or hardware fault (48, 63, 64, 74, 79 and 94/95 "
                "usually need the GPU drained and reset).")
    elif key == "gpu_row_remap_failure":
        expr = f"{b.rec(GPU_REMAP_FAILURE, *own)} > 0"
        summary = "A GPU of an LLM model failed to remap memory rows"
        text = (f"GPU {{{{ $labels.gpu }}}} ({{{{ $labels.UUID }}}}) of {model}, pod {{{{ $labels.pod }}}}, could "
                "not remap a failing memory row: its memory is unreliable; drain the node and replace the GPU.")
    else:  # gpu_temperature
        expr = f"{b.rec(GPU_TEMP, *own)} > {t}"
        summary = "A GPU of an LLM model is running hot"
        text = (f"The hottest GPU of {model} is at {{{{ $value }}}} C for {alert.for_} (threshold {t} C): it "
                "throttles its clocks, and latency rises.")
    # summaries name the model first, like every alert's (llmmon.emit.alert_text)
    summary = f"{model}: {summary[0].lower()}{summary[1:]}"
    b.alert(alert.name, expr, alert.for_, models, labels, summary, text)


def _select(metric: str, where: list[Matcher]) -> str:
    return selector(metric, *where)


def _pct(ratio: float | None) -> str:
    return f"{number(round((ratio or 0) * 100, 9))}%"
