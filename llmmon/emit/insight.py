"""Rules behind "why is it slow" (issue 21): inter-token latency, where a request's time goes (queue, prefill,
decode), prefix-cache hit rate, finish reasons and prompt / generation lengths.

Each is recorded only for engines whose preset names the series (`llmmon engines` lists them, and marks the
ones not yet checked against a real /metrics page), per model and every DETAIL_EVERY, like the other detail
series. Quantiles are computed once for the fleet, from the per-model bucket rates.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from llmmon.emit.rules.builder import per_model, union
from llmmon.engines import Counter, Preset
from llmmon.engines.base import Matcher
from llmmon.model import Model
from llmmon.promql import eq, number, quote, selector

if TYPE_CHECKING:
    from llmmon.emit.rules.builder import Builder as _Builder
    from llmmon.emit.rules.engine_reading import Raw as _Raw

ITL = "model:llm_inter_token_latency_seconds"  # _bucket:rate5m, _count:rate5m, :p50, :p95, :p99
PHASE_MEAN = "model:llm_request_phase_seconds:mean"  # label `phase`: queue, prefill, decode, inference
PREFIX_HIT = "model:llm_prefix_cache_hit:ratio"
FINISHED = "model:llm_requests_finished:rate5m"  # label `reason`
LENGTH_MEAN = "model:llm_request_tokens:mean"  # label `kind`: prompt, generation
LENGTH_P95 = "model:llm_request_tokens:p95"
ITL_QUANTILES = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
SPEC_ACCEPT = "model:llm_spec_decode_acceptance:ratio"  # accepted / proposed draft tokens (5m)
# Each replica's adapters (labels namespace, pod, adapter, state), split once for every pod of the engine's
# namespaces; LORA_POD then maps pods to models with one small term per model. (Splitting inside each model's term
# wrote 16 selectors per model: 1.9 kB of PromQL a model, parsed at every evaluation.)
LORA_SPLIT = "namespace_pod:llm_lora_adapters:info"
LORA_POD = "model_pod:llm_lora_adapters:info"  # labels pod, adapter, state (running | waiting); adapter "" kept
LORA = "model:llm_lora_adapter_replicas:count"  # labels adapter, state: replicas running / queueing the adapter
# vLLM joins adapter names with commas into one label value: PromQL splits the first LORA_POSITIONS of them
LORA_POSITIONS = 8


def engine(b: _Builder, preset: Preset, models: list[Model]) -> None:
    """One engine's ITL buckets, phase means, prefix-cache ratio, finish reasons and length statistics."""
    from llmmon.emit.rules.engine_reading import Raw as _Raw

    raw = _Raw(b, preset, models)
    record = functools.partial(b.record, engine=preset.key)  # versions of one engine record apart
    if preset.itl is not None:
        # with an ITL SLO the token count is recorded at every evaluation instead (engine_slo)
        suffixes = (("_bucket", "le"),) if _slo_models(models) else (("_bucket", "le"), ("_count", ""))
        for suffix, extra in suffixes:
            record(f"{ITL}{suffix}:rate5m", _itl(raw, preset, suffix, extra), models)
    for phase, metric in preset.phases:
        spent, count = (raw.by_model(raw.rate(Counter(metric), s)) for s in ("_sum", "_count"))
        record(PHASE_MEAN, f"{spent}\n/ on (model)\n(\n{count}\n> 0)", models, phase=phase)
    if preset.prefix_cache is not None:
        hits, queries = (raw.by_model(raw.rate(Counter(n))) for n in preset.prefix_cache)
        record(PREFIX_HIT, f"{hits}\n/ on (model)\n(\n{queries}\n> 0)", models)
    if preset.finish_reason_label is not None:
        label = preset.finish_reason_label
        per_reason = raw.by_model(raw.rate(Counter((preset.finished or preset.requests).metric)), label)
        record(FINISHED, f"sum by (model, reason) (\n  label_replace(\n{per_reason},\n  \"reason\", \"$1\", "
               f"\"{label}\", \"(.*)\")\n)", models)
    for kind, metric in preset.lengths:
        spent, count = (raw.by_model(raw.rate(Counter(metric), s)) for s in ("_sum", "_count"))
        record(LENGTH_MEAN, f"{spent}\n/ on (model)\n(\n{count}\n> 0)", models, kind=kind)
        buckets = raw.by_model(raw.rate(Counter(metric), "_bucket"), "le")
        record(LENGTH_P95, f"histogram_quantile(0.95, {buckets})\nand on (model)\n(\n{count}\n> 0)", models,
               kind=kind)
    if preset.spec_decode is not None:
        accepted, proposed = (raw.by_model(raw.rate(Counter(n))) for n in preset.spec_decode)
        record(SPEC_ACCEPT, f"{accepted}\n/ on (model)\n(\n{proposed}\n> 0)", models)
    elif preset.spec_accept_gauge is not None:
        gauge = preset.spec_accept_gauge
        record(SPEC_ACCEPT, raw.by_model(lambda where: selector(gauge, *where), how="avg"), models)
    if preset.lora_info is not None:
        record(LORA_SPLIT, _lora_split(preset.lora_info, raw.namespaces), models)
        split = functools.partial(b.rec, LORA_SPLIT, eq("engine", preset.key))
        record(LORA_POD, union([per_model(m, f"group by (pod, adapter, state) "
                                             f"({split(eq('namespace', m.namespace), ('pod', '=~', m.pods))})")
                                for m in models], "or"), models)


def engine_slo(b: _Builder, preset: Preset, models: list[Model]) -> None:
    """What an ITL SLO reads at every evaluation, like the latency SLO: output tokens per second and the rate
    of the bucket at each objective's threshold (SLO_BUCKET), for the engine's models that have one."""
    from llmmon.emit.rules.engine_reading import Raw as _Raw
    from llmmon.emit.rules.names import SLO_BUCKET
    from llmmon.emit.rules.slo_windows import threshold_le as _threshold_le

    if preset.itl is None or not (slo_models := _slo_models(models)):
        return
    raw = _Raw(b, preset, models)
    record = functools.partial(b.record, engine=preset.key)
    record(f"{ITL}_count:rate5m", _itl(raw, preset, "_count", ""), models)
    alternatives = set()
    for m in slo_models:
        objective = m.objective("itl")
        assert objective is not None
        _, op, value = _threshold_le(preset.itl, objective)
        alternatives.add(value if op == "=~" else re.escape(value))
    matcher = ("le", "=~", "|".join(sorted(alternatives)))
    record(f"{ITL}{SLO_BUCKET}", _itl(raw, preset, "_bucket", "le", matcher), models)


def _lora_split(metric: str, namespaces: Matcher) -> str:
    """Each adapter named in the newest series of each replica's LoRA gauge (the gauge's value is the time it was
    set; older label sets linger), one series per (namespace, pod, adapter, state). Positions past the list leave
    `adapter` empty; the count below skips those."""
    newest = f"topk by (namespace, pod) (1, {selector(metric, namespaces)})"
    terms = []
    for state in ("running", "waiting"):
        for i in range(LORA_POSITIONS):
            position = f"(?:[^,]*,){{{i}}}([^,]+)(?:,.*)?" if i else "([^,]+)(?:,.*)?"
            terms.append(f"label_replace(label_replace({newest}, \"adapter\", \"$1\", \"{state}_lora_adapters\", "
                         f"{quote(position)}), \"state\", \"{state}\", \"\", \"\")")
    return f"group by (namespace, pod, adapter, state) (\n{union(terms, 'or')}\n)"


def _slo_models(models: list[Model]) -> list[Model]:
    return [m for m in models if m.objective("itl")]


def _itl(raw: _Raw, preset: Preset, suffix: str, extra: str, *where: Matcher) -> str:
    """One ITL series per model (and `extra`): the current name wins; an older vLLM exposes only the deprecated
    one."""
    assert preset.itl is not None
    terms = [raw.by_model(raw.rate(Counter(n), suffix, *where), extra) for n in (preset.itl.metric, *preset.itl_also)]
    return "\nor\n".join(f"({t})" for t in terms) if len(terms) > 1 else terms[0]


def fleet(b: _Builder) -> None:
    """ITL quantiles of every model whose engine has the histogram (no value while it generates nothing), and the
    replicas serving each LoRA adapter."""
    models = [m for m in b.plan.models if m.engine.itl is not None]
    for label, q in ITL_QUANTILES.items() if models else ():
        b.record(f"{ITL}:{label}", f"histogram_quantile({number(q)}, {b.rec(ITL + '_bucket:rate5m')})\n"
                 f"and on (model)\n({b.rec(ITL + '_count:rate5m')} > 0)", models)
    lora(b)


def lora(b: _Builder) -> None:
    """Replicas running and queueing each LoRA adapter, per model (engines with a LoRA gauge)."""
    if models := [m for m in b.plan.models if m.engine.lora_info is not None]:
        b.record(LORA, f"count by (model, adapter, state) ({b.rec(LORA_POD, ('adapter', '!=', ''))})", models)


# Scripted test traffic (llmmon.emit.prom_tests) of the signals above: half the output tokens are proposed by the
# draft model and 60% of those accepted; every replica runs two adapters and queues one of them.
SPEC_DRAFTED, SPEC_ACCEPTED = 0.5, 0.6
LORA_TEST_LABELS = {"max_lora": "4", "running_lora_adapters": "sql-tuned,support-tuned",
                    "waiting_lora_adapters": "sql-tuned"}
LORA_SET_AT = 1.7e9  # the gauge's value: the Unix time it was set


def feed(add: Callable[[str, dict[str, str], str], None], preset: Preset, base: dict[str, str],
         pod_only: dict[str, str], tokens_per_s: float, steps: int) -> None:
    """Input series of one replica for the scripted promtool scenarios: spec-decode counters (or gauge) and the
    LoRA gauge, in the engine's names and labels (vLLM's LoRA gauge carries no model label: the pod tells)."""
    from llmmon.emit.prom_test_series import _counter, _gauge

    if preset.spec_decode is not None:
        accepted, proposed = preset.spec_decode
        add(proposed, base, _counter(tokens_per_s * SPEC_DRAFTED, steps))
        add(accepted, base, _counter(tokens_per_s * SPEC_DRAFTED * SPEC_ACCEPTED, steps))
    elif preset.spec_accept_gauge is not None:
        add(preset.spec_accept_gauge, base, _gauge(SPEC_ACCEPTED, steps))
    if preset.lora_info is not None:
        add(preset.lora_info, {**pod_only, **LORA_TEST_LABELS}, _gauge(LORA_SET_AT, steps))
