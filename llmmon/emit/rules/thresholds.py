"""Threshold alerts (latency, TTFT, error rate, idle GPUs, low throughput, missing metrics): one rule per distinct
(threshold, tier, for), selecting its models."""

from __future__ import annotations

from collections import defaultdict

from llmmon.emit import health
from llmmon.emit.rules.builder import Builder, pct
from llmmon.emit.rules.names import ERROR_RATIO, GPU_UTIL, INFO, LATENCY, MIN_RATE, REQUESTS, REQUESTS_1H, TTFT
from llmmon.model import Alert, Model
from llmmon.promql import number
from llmmon.units import Duration


def alerts(b: Builder) -> None:
    groups: dict[tuple[str, float | None, str, Duration, bool], list[Model]] = defaultdict(list)
    for m in b.plan.models:
        for a in (a for a in m.alerts if a.key not in health.ORDER):  # those: llmmon.emit.health
            mean = a.key == "latency_p99" and m.engine.latency is None  # no histogram: the mean stands in
            groups[(a.key, a.threshold, a.tier, a.for_, mean)].append(m)
    order = {key: i for i, key in enumerate(("latency_p99", "error_rate", "ttft_p95", "gpu_utilization_low",
                                             "throughput_low", "metrics_absent"))}
    # Rules of one alert and tier must differ in their labels (promtool's duplicate-rules lint): the threshold
    # tells them apart, and `for` where two share a threshold too.
    shared: dict[tuple[str, float | None, str], list[Duration]] = defaultdict(list)
    for key, threshold, tier, for_, _ in groups:
        shared[(key, threshold, tier)].append(for_)
    for (key, threshold, tier, for_, mean), models in sorted(groups.items(),
                                                             key=lambda kv: (order[kv[0][0]], kv[1][0].name)):
        alert = models[0].alert(key)
        assert alert is not None
        extra = {"threshold": number(threshold)} if threshold is not None else {}
        if mean:
            extra["statistic"] = "mean"
        if len(set(shared[(key, threshold, tier)])) > 1:
            extra["pending"] = str(for_)
        threshold_alert(b, alert, models, extra)


def threshold_alert(b: Builder, alert: Alert, models: list[Model], extra: dict[str, str]) -> None:
    own = b.among(models)
    t = alert.threshold
    labels = {"severity": alert.tier, **extra}
    model = "{{ $labels.model }}"
    held = f"for {alert.for_}" if alert.for_.ms else "now"
    if alert.key == "latency_p99":
        stat = "p99" if models[0].engine.latency else "mean"
        expr = f"{b.rec(LATENCY + ':' + stat, *own)} > {number(t or 0)}"
        summary = f"{model}: {stat} latency above {number(t or 0)}s"
        text = (f"The {stat} end-to-end latency of {model} is {{{{ $value | humanizeDuration }}}} over the last "
                f"5m, above the {number(t or 0)}s threshold {held}.")
    elif alert.key == "ttft_p95":
        expr = f"{b.rec(TTFT + ':p95', *own)} > {number(t or 0)}"
        summary = f"{model}: p95 time to first token above {number(t or 0)}s"
        text = (f"The p95 time to first token of {model} is {{{{ $value | humanizeDuration }}}} over the last 5m, "
                f"above the {number(t or 0)}s threshold {held}.")
    elif alert.key == "error_rate":
        # Quiet below the model's minimum request rate, like the burn-rate pages: one failure in ten
        # requests is a 10% ratio that says nothing.
        expr = (f"{b.rec(ERROR_RATIO, *own)} > {number(t or 0)}\nand on (model)\n"
                f"({b.rec(REQUESTS, *own)} >= on (model) group_left () {b.rec(MIN_RATE, *own)})")
        summary = f"{model}: requests failing above {pct(t)}"
        text = (f"{{{{ $value | humanizePercentage }}}} of requests to {model} failed over the last 5m, above "
                f"the {pct(t)} threshold {held}, at no less than its min_request_rate.")
    elif alert.key == "gpu_utilization_low":
        expr = (f"{b.rec(GPU_UTIL, *own)} < {number(t or 0)}\nand on (model)\n"
                f"{b.rec(REQUESTS, *own)} > 0")
        summary = f"{model}: GPUs mostly idle (below {pct(t)})"
        text = (f"The GPUs of {model} are {{{{ $value | humanizePercentage }}}} busy while it serves traffic, "
                f"below the {pct(t)} threshold {held}: the allocation may be larger than the load needs.")
    elif alert.key == "throughput_low":
        expr = (f"{b.rec(REQUESTS, *own)} < {number(t or 0)}\nand on (model)\n"
                f"{b.rec(REQUESTS_1H, *own)} > 0")
        summary = f"{model}: request throughput below {number(t or 0)} req/s"
        text = (f"{model} serves {{{{ $value | printf \"%.2f\" }}}} requests/s over the last 5m, below the "
                f"{number(t or 0)} req/s threshold {held}, after traffic in the last hour.")
    else:
        expr = f"{b.rec(INFO, *own)}\nunless on (model)\n{b.rec(REQUESTS, *own)}"
        summary = f"{model}: request metrics missing"
        text = (f"No request metrics of {model} (engine {{{{ $labels.engine }}}}, namespace "
                f"{{{{ $labels.namespace }}}}) for {alert.for_}: its pods are down or no longer scraped.")
    b.alert(alert.name, expr, alert.for_, models, labels, summary, text)

