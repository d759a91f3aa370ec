"""Panels of the engine-depth series (llmmon.emit.health): replicas, saturation and GPU health.

Like every panel, each appears only when the rules record the series it reads.
"""

from __future__ import annotations

from llmmon.emit import health as h
from llmmon.emit.dashboards import Context, Panel, Query, Row


def _panels(*panels: Panel | None) -> tuple[Panel, ...]:
    return tuple(x for x in panels if x is not None)


def replicas_row(ctx: Context) -> Row:
    """Replicas serving vs expected, and the per-replica breakdown of p99, queue and KV cache."""
    per_pod = "{{model}} · {{pod}}"
    return Row("Replicas", _panels(
        Panel("timeseries", "Replicas serving vs expected", "Replicas reporting request metrics (solid) and "
              "how many should (dashed: the spec's `replicas`, else pods Ready per kube-state-metrics). "
              "LLMReplicasMissing fires while some, not all, are gone.",
              (Query(ctx.by_model(h.REPLICAS_SERVING, how="sum"), "{{model}} serving"),
               Query(ctx.by_model(h.REPLICAS_EXPECTED, how="sum"), "{{model}} expected")), "none", 8,
              dashed=".* expected", decimals=0, min=0.0) if ctx.has(h.REPLICAS_SERVING) else None,
        Panel("timeseries", "P99 latency by replica", "End-to-end p99 of each replica (5m): one line far above "
              "its siblings is LLMReplicaOutlier's case.",
              (Query(ctx.by_model(h.POD_LATENCY_P99, keys="model, pod"), per_pod),), "s", 8)
        if ctx.has(h.POD_LATENCY_P99) else None,
        Panel("timeseries", "Error ratio by replica", "Failed / all requests of each replica (5m).",
              (Query(ctx.by_model(h.POD_ERROR_RATIO, keys="model, pod"), per_pod),), "percentunit", 8, decimals=2)
        if ctx.has(h.POD_ERROR_RATIO) else None,
        Panel("timeseries", "Waiting requests by replica", "Requests queued at each replica; "
              "LLMQueueBuildUp compares their mean with its threshold.",
              (Query(ctx.by_model(h.POD_WAITING, how="sum", keys="model, pod"), per_pod),), "short", 12)
        if ctx.has(h.POD_WAITING) else None,
        Panel("timeseries", "KV cache usage by replica", "KV-cache usage of each replica; LLMKVCacheNearFull "
              "fires on the fullest.",
              (Query(ctx.by_model(h.POD_KV, keys="model, pod"), per_pod),), "percentunit", 12,
              min=0.0, max=1.0) if ctx.has(h.POD_KV) else None,
        Panel("timeseries", "Preemptions per second", "Requests the engine evicted from the KV cache and will "
              "recompute (5m rate): the KV cache cannot hold the running batch. Lines: LLMPreemptions' threshold.",
              (Query(ctx.by_model(h.PREEMPTIONS, how="sum")),), "short", 12, limit=ctx.limit("preemptions"))
        if ctx.has(h.PREEMPTIONS) else None,
    ))


def gpu_health_panels(ctx: Context) -> tuple[Panel, ...]:
    """Temperature, power, SM clock, tensor activity and PCIe replays of each model's GPUs."""
    return _panels(
        Panel("timeseries", "GPU temperature (hottest)", "The hottest GPU of each model. Lines: the "
              "GPUTemperatureHigh threshold.", (Query(ctx.by_model(h.GPU_TEMP)),), "celsius", 8,
              limit=ctx.limit("gpu_temperature")) if ctx.has(h.GPU_TEMP) else None,
        Panel("timeseries", "GPU power draw", "Power drawn by all GPUs of each model.",
              (Query(ctx.by_model(h.GPU_POWER, how="sum")),), "watt", 8) if ctx.has(h.GPU_POWER) else None,
        Panel("timeseries", "SM clock", "Mean streaming-multiprocessor clock of each model's GPUs: a drop under "
              "load is thermal or power throttling.", (Query(ctx.by_model(h.GPU_CLOCK)),), "hertz", 8)
        if ctx.has(h.GPU_CLOCK) else None,
        Panel("timeseries", "Tensor core activity", "Share of cycles the tensor pipes are busy (dcgm profiling).",
              (Query(ctx.by_model(h.GPU_TENSOR)),), "percentunit", 12, min=0.0, max=1.0)
        if ctx.has(h.GPU_TENSOR) else None,
        Panel("timeseries", "PCIe replays per second", "PCIe retries of each model's GPUs (5m rate): a rising "
              "count points at a bad riser, slot or GPU.", (Query(ctx.by_model(h.GPU_PCIE_REPLAYS, how="sum")),),
              "short", 12) if ctx.has(h.GPU_PCIE_REPLAYS) else None,
    )


def why_slow_row(ctx: Context) -> Row:
    """Where a request's time goes, inter-token latency, prefix-cache hits, finish reasons, lengths."""
    from llmmon.emit import insight as i

    return Row("Why is it slow", _panels(
        Panel("timeseries", "Where request time goes", "Mean seconds a request spends queued, in prefill and in "
              "decode (TGI: queue and inference), per model (5m): a growing queue share means too few replicas, "
              "a growing prefill share long prompts, a growing decode share long answers or a crowded batch.",
              (Query(ctx.by_model(i.PHASE_MEAN, keys="model, phase"), "{{model}} · {{phase}}"),), "s", 12,
              stacked=True) if ctx.has(i.PHASE_MEAN) else None,
        Panel("timeseries", "Inter-token latency P50 / P95 / P99", "Time between streamed output tokens, per "
              "model (5m). Lines: the HighInterTokenLatency threshold on p99.",
              tuple(Query(ctx.by_model(f"{i.ITL}:{q}"), f"{{{{model}}}} {q}") for q in i.ITL_QUANTILES), "s", 12,
              limit=ctx.limit("itl_p99", suffix=" p99")) if ctx.has(f"{i.ITL}:p99") else None,
        Panel("timeseries", "Prefix-cache hit rate", "Share of prompt tokens served from the prefix cache (5m): "
              "a drop makes prefill, and time to first token, longer.", (Query(ctx.by_model(i.PREFIX_HIT)),),
              "percentunit", 8, min=0.0, max=1.0) if ctx.has(i.PREFIX_HIT) else None,
        Panel("timeseries", "Finish reasons", "Finished requests per second by why they finished (5m): `length` "
              "rising means answers cut at max_tokens, `abort` clients giving up.",
              (Query(ctx.by_model(i.FINISHED, how="sum", keys="model, reason"), "{{model}} · {{reason}}"),),
              "reqps", 8, stacked=True) if ctx.has(i.FINISHED) else None,
        Panel("timeseries", "Speculative decoding acceptance", "Share of the draft tokens the target model "
              "accepted (5m): a falling rate means the draft model no longer predicts this traffic, and speculation "
              "costs more than it saves.", (Query(ctx.by_model(i.SPEC_ACCEPT)),), "percentunit", 8, min=0.0,
              max=1.0) if ctx.has(i.SPEC_ACCEPT) else None,
        Panel("timeseries", "LoRA adapters: replicas running and queueing each", "Per adapter, how many replicas "
              "run requests for it (solid) and how many have requests for it waiting (dashed): a queued adapter "
              "waits for a free LoRA slot (vLLM --max-loras).",
              (Query(ctx.by_model(i.LORA, ("state", "=", "running"), how="sum", keys="model, adapter"),
                     "{{model}} · {{adapter}} running"),
               Query(ctx.by_model(i.LORA, ("state", "=", "waiting"), how="sum", keys="model, adapter"),
                     "{{model}} · {{adapter}} waiting")), "none", 8, dashed=".* waiting", decimals=0, min=0.0)
        if ctx.has(i.LORA) else None,
        Panel("timeseries", "Prompt and generation length", "Tokens per request: mean (solid) and p95 (dashed), "
              "prompt and generation, per model (5m).",
              (Query(ctx.by_model(i.LENGTH_MEAN, keys="model, kind"), "{{model}} · {{kind}} mean"),
               Query(ctx.by_model(i.LENGTH_P95, keys="model, kind"), "{{model}} · {{kind}} p95")), "short", 8,
              dashed=".* p95", decimals=0) if ctx.has(i.LENGTH_MEAN) else None,
    ))


def heatmap_row(ctx: Context) -> Row:
    """Latency distributions over time: request, first-token and inter-token latency, from the recorded bucket
    rates (requests or tokens per second in each bucket), summed over the selected models."""
    from llmmon.emit import insight as i
    from llmmon.emit import prometheus as p

    def heatmap(record: str, title: str, what: str) -> Panel | None:
        series = f"{record}_bucket:rate5m"
        if not ctx.has(series):
            return None
        return Panel("heatmap", title, f"{what} per second in each latency bucket of the engines' histogram (5m), "
                     "summed over the selected models; select one model to read it exactly (engines differ in "
                     "their buckets).", (Query(ctx.by_model(series, how="sum", keys="le"), "{{le}}"),), "s", 8)

    return Row("Latency heatmaps", _panels(
        heatmap(p.LATENCY, "Request latency heatmap", "Finished requests"),
        heatmap(p.TTFT, "Time-to-first-token heatmap", "First tokens"),
        heatmap(i.ITL, "Inter-token latency heatmap", "Output tokens"),
    ))
