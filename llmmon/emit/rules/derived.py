"""Fleet-wide series derived from the per-model ones: the error ratio, quantiles, mean latency, token totals and
the 1h request rate."""

from __future__ import annotations

from llmmon.emit.rules.builder import Builder
from llmmon.emit.rules.names import (
    ERROR_RATIO,
    ERRORS,
    INPUT_TOKENS,
    LATENCY,
    LATENCY_MEAN,
    OUTPUT_TOKENS,
    QUANTILES,
    REQUESTS,
    REQUESTS_1H,
    TOKENS,
    TOKENS_1H,
    TTFT,
)
from llmmon.promql import SPEC_LABEL, eq, number, regex_of, selector


def derived(b: Builder) -> None:
    """The error ratio the error-rate alert reads, at every evaluation."""
    requests = b.rec(REQUESTS)
    b.record(ERROR_RATIO, f"{b.rec(ERRORS)}\n/\n({requests} > 0)\nor\n0 * {requests}", b.plan.models)


def derived_detail(b: Builder) -> None:
    """Quantiles, mean latency, tokens and the 1h request rate, every DETAIL_EVERY."""
    models = b.plan.models
    b.record(REQUESTS_1H, f"avg_over_time({b.rec(REQUESTS)}[1h])", models)
    seconds = {LATENCY: [m.engine.latency for m in models], TTFT: [m.engine.ttft for m in models]}
    for record, histograms in seconds.items():
        if not any(h and h.scale == 1 for h in histograms):
            continue
        for label, q in QUANTILES.items():
            b.record(f"{record}:{label}",
                     f"histogram_quantile({number(q)}, {b.rec(record + '_bucket:rate5m')})\n"
                     f"and on (model)\n({b.rec(record + '_count:rate5m')} > 0)", models)
    spent, count = b.rec(LATENCY + "_sum:rate5m"), b.rec(LATENCY + "_count:rate5m")
    b.record(LATENCY_MEAN, f"{spent}\n/\n({count} > 0)", models)
    names = ("__name__", "=~", regex_of([INPUT_TOKENS, OUTPUT_TOKENS]))
    tokens = selector("", names, eq(SPEC_LABEL, b.plan.name))
    b.record(TOKENS, f"sum by (model) ({tokens})", models)
    b.record(TOKENS_1H, f"avg_over_time({b.rec(TOKENS)}[1h])", models)

