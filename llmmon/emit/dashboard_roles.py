"""The three role dashboards of a plan: which panels each shows, and the queries behind them.

A panel appears only when the rules record the series it reads (a spec without GPUs gets no GPU panels,
a fleet without vLLM no KV-cache panel), so no panel is empty because its series cannot exist.
"""

from __future__ import annotations

from collections.abc import Callable

from llmmon.emit import dashboard_depth
from llmmon.emit import prometheus as p
from llmmon.emit.dashboards import (
    BAD,
    GOOD,
    TOKENS_PER_S,
    WARN,
    Board,
    Context,
    Panel,
    Query,
    Row,
    few,
)
from llmmon.model import Plan
from llmmon.slo import BURN_WINDOWS

KIND_TITLES = {"availability": "Availability", "latency": "Latency SLO", "ttft": "Time-to-first-token SLO",
               "itl": "Inter-token latency SLO"}
BUDGET_STEPS = ((BAD, None), (WARN, 0.0), (GOOD, 0.25))
BURN_UNIT = "suffix:×"


def _rows(*rows: Row) -> tuple[Row, ...]:
    return tuple(r for r in rows if r.panels)


def _panels(*panels: Panel | None) -> tuple[Panel, ...]:
    return tuple(x for x in panels if x is not None)


def _quantiles(ctx: Context, record: str) -> tuple[Query, ...]:
    return tuple(Query(ctx.by_model(f"{record}:{q}"), f"{{{{model}}}} {q}") for q in p.QUANTILES)


def sre(ctx: Context) -> Board:
    """Service health: SLO status, burn rates, traffic, errors, latency and firing alerts."""
    plan, window = ctx.plan, str(ctx.plan.slo_window)
    requests, errors = ctx.sel(p.REQUESTS), ctx.sel(p.ERRORS)
    overview = Row("Overview", _panels(
        Panel("stat", "Requests per second", "All selected models, over the last 5 minutes.",
              (Query(f"sum({requests})", "requests"),), "reqps", 6, 4),
        Panel("stat", "Error ratio", "Failed requests / all requests of the selected models, over 5 minutes.",
              (Query(f"sum({errors})\n/\n(sum({requests}) > 0)\nor\n0 * sum({requests})", "errors"),),
              "percentunit", 6, 4, limit=ctx.uniform("error_rate"), decimals=2),
        Panel("stat", "Worst P99 latency", "The highest p99 end-to-end latency among the selected models.",
              (Query(f"max({ctx.sel(p.LATENCY + ':p99')})", "p99"),), "s", 6, 4,
              limit=ctx.uniform("latency_p99")) if ctx.has(p.LATENCY + ":p99") else None,
        Panel("stat", "Firing alerts", "Alerts of this spec firing now for the selected models.",
              (Query(f"count({ctx.alerts()})\nor\nvector(0)", "firing", instant=True),), "none", 6, 4,
              steps=((GOOD, None), (BAD, 1.0))),
    ))
    kinds = ctx.slo_kinds()
    slo_panels: list[Panel | None] = []
    if kinds:
        factors = {str(w.long): w.factor(plan.slo_window) for w in BURN_WINDOWS}
        slo_panels.append(Panel(
            "table", "SLO status",
            f"Every SLO of the selected models: objective, share of good requests over the {window} SLO window, "
            f"error budget left, and burn rates (1 spends exactly the budget over {window}; the page alerts fire "
            f"at {factors['1h']:g} over 1h and {factors['6h']:g} over 6h).",
            (Query(ctx.by_model(p.OBJECTIVE, keys="model, slo"), instant=True, column="Objective"),
             Query(ctx.by_model(p.GOOD, keys="model, slo"), instant=True, column=f"Good over {window}"),
             Query(ctx.by_model(p.BUDGET, keys="model, slo"), instant=True, column="Error budget left",
                   steps=BUDGET_STEPS),
             Query(ctx.burn_rate("1h"), instant=True, column="Burn rate 1h", unit=BURN_UNIT,
                   steps=((GOOD, None), (BAD, factors["1h"]))),
             Query(ctx.burn_rate("6h"), instant=True, column="Burn rate 6h", unit=BURN_UNIT,
                   steps=((GOOD, None), (BAD, factors["6h"])))),
            "percentunit", 24, 8, labels=("model", "slo"), decimals=3, sort=("Error budget left", False)))
        slo_panels.append(Panel(
            "stat", "Error budget left", f"Share of the {window} error budget not yet spent, per model and SLO "
            "(below 0: the objective is missed).",
            (Query(ctx.by_model(p.BUDGET, keys="model, slo"), "{{model}} · {{slo}}"),),
            "percentunit", 8, 8, steps=BUDGET_STEPS, decimals=1))
        for tier, title, windows in (("critical", "Burn rate: paging windows", ("1h", "6h")),
                                     ("warning", "Burn rate: ticket windows", ("1d", "3d"))):
            slo_panels.append(Panel(
                "timeseries", title, f"Error ratio / error budget over {' and '.join(windows)}; lines at the "
                f"factors the {tier} ErrorBudgetBurn alerts fire at (derived from the {window} SLO window).",
                tuple(Query(ctx.burn_rate(w), f"{{{{model}}}} · {{{{slo}}}} · {w}") for w in windows),
                BURN_UNIT, 8, 8, steps=ctx.burn_steps(tier)))
        for kind in kinds:
            slo_panels.append(Panel(
                "timeseries", f"{KIND_TITLES[kind]} over {window} vs objective",
                f"Share of good requests over the SLO window (solid) and the objective (dashed). "
                f"Objectives: {ctx.objective_text(kind)}.",
                (Query(ctx.by_model(p.GOOD, ("slo", "=", kind))),
                 Query(ctx.by_model(p.OBJECTIVE, ("slo", "=", kind)), "{{model}} objective")),
                "percentunit", 8, 8, dashed=".* objective", decimals=3))
    traffic = Row("Traffic, errors and latency", _panels(
        Panel("timeseries", "Requests per second", "Finished requests per second, per model (5m rate). "
              "Lines: the LowThroughput threshold of models that have it.",
              (Query(ctx.by_model(p.REQUESTS, how="sum")),), "reqps", 8,
              limit=ctx.limit("throughput_low", bad_below=True)),
        Panel("timeseries", "Error ratio", "Failed / all requests per model (5m). Lines: the HighErrorRate threshold.",
              (Query(ctx.by_model(p.ERROR_RATIO)),), "percentunit", 8, limit=ctx.limit("error_rate"), decimals=2),
        Panel("timeseries", "Latency P50 / P95 / P99", "End-to-end request latency quantiles per model (5m). "
              "Lines: the HighInferenceLatency threshold on p99.", _quantiles(ctx, p.LATENCY), "s", 8,
              limit=ctx.limit("latency_p99", suffix=" p99")) if ctx.has(p.LATENCY + ":p99") else None,
    ))
    alerts = Row("Alerts", (Panel(
        "table", "Firing alerts", "Alerts of this spec firing now (severity = the spec's tier).",
        (Query(f"max by (alertname, severity, model, slo, long_window) ({ctx.alerts()})", instant=True),),
        "none", 24, 8, labels=("alertname", "severity", "model", "slo", "long_window"),
        no_value="No alerts firing", sort=("severity", False)),))
    return Board("sre", f"{plan.name} · SRE: SLOs and service health",
                 "SRE view: SLO status, error budgets and burn rates, traffic, errors, latency, firing alerts.",
                 _rows(overview, Row("Service level objectives", _panels(*slo_panels)), traffic, alerts))


def ml_engineer(ctx: Context) -> Board:
    """Serving performance: time to first token, token throughput, engine load, GPUs."""
    plan = ctx.plan
    ttft = p.TTFT + ":p95"
    tokens_in, tokens_out = ctx.sel(p.INPUT_TOKENS), ctx.sel(p.OUTPUT_TOKENS)
    has_in, has_out = ctx.has(p.INPUT_TOKENS), ctx.has(p.OUTPUT_TOKENS)
    per_request = (f"{ctx.by_model(p.OUTPUT_TOKENS, how='sum')}\n/\n"
                   f"({ctx.by_model(p.REQUESTS, how='sum')} > 0)")
    overview = Row("Overview", _panels(
        Panel("stat", "Worst TTFT P95", "The highest p95 time to first token among the selected models.",
              (Query(f"max({ctx.sel(ttft)})", "p95"),), "s", 6, 4, limit=ctx.uniform("ttft_p95"))
        if ctx.has(ttft) else None,
        Panel("stat", "Output tokens per second", "Generated tokens per second, all selected models.",
              (Query(f"sum({tokens_out})", "output"),), TOKENS_PER_S, 6, 4) if has_out else None,
        Panel("stat", "Input tokens per second", "Prompt tokens per second, all selected models.",
              (Query(f"sum({tokens_in})", "input"),), TOKENS_PER_S, 6, 4) if has_in else None,
        Panel("stat", "Output tokens per request", "Generated tokens per finished request, all selected models.",
              (Query(f"sum({tokens_out})\n/\n(sum({ctx.sel(p.REQUESTS)}) > 0)", "per request"),), "short", 6, 4,
              decimals=0) if has_out else None,
    ))
    experience = Row("User experience", _panels(
        Panel("timeseries", "Time to first token P50 / P95 / P99", "Time until the first token streams back, "
              "per model (5m). Lines: the HighTimeToFirstToken threshold on p95.", _quantiles(ctx, p.TTFT), "s", 12,
              limit=ctx.limit("ttft_p95", suffix=" p95")) if ctx.has(ttft) else None,
        Panel("timeseries", "Output tokens per request", "Generated tokens per finished request, per model (5m).",
              (Query(per_request),), "short", 12, decimals=0) if has_out else None,
    ))
    throughput = Row("Token throughput", _panels(
        Panel("timeseries", "Input and output tokens per second", "Prompt (input) and generated (output) tokens "
              "per second, per model (5m).", (
                  *((Query(ctx.by_model(p.INPUT_TOKENS, how="sum"), "{{model}} input"),) if has_in else ()),
                  *((Query(ctx.by_model(p.OUTPUT_TOKENS, how="sum"), "{{model}} output"),) if has_out else ())),
              TOKENS_PER_S, 24) if has_in or has_out else None,
    ))
    running, waiting = p.GAUGE_RECORDS["running"][0], p.GAUGE_RECORDS["waiting"][0]
    kv = p.GAUGE_RECORDS["kv_cache"][0]
    engines = few([m.name for m in plan.models if {"running", "waiting"} & set(m.engine.gauges)])
    kv_engines = few([m.name for m in plan.models if "kv_cache" in m.engine.gauges])
    load = Row("Engine load", _panels(
        Panel("timeseries", "Running and waiting requests", f"Requests being processed and queued by the engine "
              f"(reported by engines that expose it: {engines}).",
              (Query(ctx.by_model(running, how="sum"), "{{model}} running"),
               Query(ctx.by_model(waiting, how="sum"), "{{model}} waiting")), "short", 12)
        if ctx.has(running, waiting) else None,
        Panel("timeseries", "KV cache usage", f"Share of the KV cache in use; near 100% the engine preempts "
              f"requests ({kv_engines}).", (Query(ctx.by_model(kv)),), "percentunit", 12, min=0.0, max=1.0)
        if ctx.has(kv) else None,
    ))
    return Board("ml-engineer", f"{plan.name} · ML engineer: serving performance",
                 "ML engineer view: time to first token, token throughput, engine load, GPU utilisation and memory.",
                 _rows(overview, experience, throughput, load, dashboard_depth.why_slow_row(ctx),
                       dashboard_depth.heatmap_row(ctx),
                       dashboard_depth.replicas_row(ctx), _gpu_row(ctx)))


def _gpu_row(ctx: Context) -> Row:
    memory = ctx.gpu_memory()
    exporter = {"dcgm": "dcgm-exporter", "nvml": "nvidia_gpu_exporter"}.get(ctx.plan.gpu_exporter, "")
    return Row("GPUs", _panels(
        Panel("timeseries", "GPU utilisation", "Mean utilisation of each model's GPUs. Lines: the "
              "LowGPUUtilization threshold (it fires below it while the model serves traffic).",
              (Query(ctx.by_model(p.GPU_UTIL)),), "percentunit", 12, limit=ctx.limit("gpu_utilization_low",
                                                                                     bad_below=True),
              min=0.0, max=1.0) if ctx.has(p.GPU_UTIL) else None,
        Panel("timeseries", "GPU memory used", f"Framebuffer memory used by each model's GPUs ({exporter}, "
              "joined to models like the utilisation rule).", (Query(memory[0]),), memory[1], 12)
        if memory else None,
        *dashboard_depth.gpu_health_panels(ctx),
    ))


def finops(ctx: Context) -> Board:
    """Spend: cost per hour and per million tokens, idle GPU spend, token volume."""
    plan = ctx.plan
    money = ctx.currency_unit()
    cost = ctx.sel(p.COST_PER_HOUR)
    has_util = ctx.has(p.GPU_UTIL)
    idle = (f"{ctx.by_model(p.GPU_COST, how='sum')}\n* on (model)\n"
            f"(1 - {ctx.by_model(p.GPU_UTIL)})")
    cpu = " + CPU cores used × core-hour price" if plan.cpu_core_hourly else ""
    tokens = ctx.tokens()
    per_mtok = f"sum({cost})\n/\n(sum({ctx.sel(p.TOKENS_1H)}) * 3600 / 1e6 > 0)"
    overview = Row("Overview", _panels(
        Panel("stat", "Cost per hour", f"GPUs allocated × hourly price{cpu}, all selected models ({plan.currency}).",
              (Query(f"sum({cost})", "cost"),), money, 6, 4, decimals=2),
        Panel("stat", "30-day run rate", "Cost per hour × 24 × 30, at the current allocation.",
              (Query(f"sum({cost}) * 24 * 30", "30 days"),), money, 6, 4, decimals=0),
        Panel("stat", "Idle GPU spend per hour", "GPU cost per hour × (1 - GPU utilisation): paid for, not used.",
              (Query(f"sum(\n{idle}\n)", "idle"),), money, 6, 4, decimals=2) if has_util else None,
        Panel("stat", "Cost per million tokens", "Cost per hour / (input + output tokens per hour / 1e6), all "
              "selected models, tokens averaged over 1h.", (Query(per_mtok, "per 1M tokens"),), money, 6, 4,
              decimals=2) if tokens else None,
    ))
    by_model = Row("Cost by model", _panels(
        Panel("timeseries", "Cost per hour by model", f"Hourly cost per model ({plan.currency}), stacked.",
              (Query(ctx.by_model(p.COST_PER_HOUR, how="sum")),), money, 12, stacked=True, decimals=2),
        Panel("timeseries", "Cost per million tokens by model", "Cost per hour / tokens per hour × 1e6, per model "
              "(tokens averaged over 1h; no value while a model serves no tokens).",
              (Query(ctx.by_model(p.COST_PER_MTOK)),), money, 12, decimals=2) if tokens else None,
        Panel("table", "Cost by model", "Now, per model: spend, efficiency and allocation.",
              tuple(_cost_columns(ctx, idle)), money, 24, 7, decimals=2, sort=("Cost per hour", True)),
    ))
    allocation = Row("GPU allocation", _panels(
        Panel("timeseries", "Allocated vs busy GPUs", "GPUs allocated to each model (solid) and how many of them "
              "are busy on average (dashed: allocated × utilisation); the gap is idle capacity.",
              (Query(ctx.by_model(p.GPUS, how="sum"), "{{model}} allocated"),
               Query(f"{ctx.by_model(p.GPUS, how='sum')}\n* on (model)\n{ctx.by_model(p.GPU_UTIL)}", "{{model}} busy")),
              "none", 12, dashed=".* busy", decimals=1) if has_util and ctx.has(p.GPUS) else None,
        Panel("timeseries", "Idle GPU spend per hour by model", "GPU cost per hour × (1 - utilisation), per model.",
              (Query(idle),), money, 12, stacked=True, decimals=2) if has_util else None,
        Panel("gauge", "GPU utilisation", "Mean GPU utilisation per model now; red below the LowGPUUtilization "
              "threshold.", (Query(ctx.by_model(p.GPU_UTIL)),), "percentunit", 24, 6,
              limit=ctx.limit("gpu_utilization_low", bad_below=True), min=0.0, max=1.0) if has_util else None,
    ))
    volume = Row("Token volume", _panels(
        Panel("stat", "Tokens in the time range", "Input + output tokens of the selected models over the "
              "dashboard's time range.", (Query(f"sum(avg_over_time({ctx.sel(p.TOKENS)}[$__range])) * $__range_s",
                                                "tokens", instant=True),), "short", 6, 8, decimals=1),
        Panel("timeseries", "Tokens per hour by model", "Input + output tokens per hour, per model (1h average).",
              (Query(ctx.by_model(p.TOKENS_1H, how="sum") + " * 3600"),), "short", 18, stacked=True),
    )) if tokens else Row("Token volume", ())
    return Board("finops", f"{plan.name} · FinOps: cost and efficiency",
                 f"FinOps view: cost per hour and per million tokens ({plan.currency}), idle GPU spend, token volume.",
                 _rows(overview, by_model, allocation, volume), time_from="now-7d")


def _cost_columns(ctx: Context, idle: str) -> list[Query]:
    money = ctx.currency_unit()
    columns = [Query(ctx.by_model(p.COST_PER_HOUR, how="sum"), instant=True, column="Cost per hour")]
    if ctx.tokens():
        columns += [Query(ctx.by_model(p.COST_PER_MTOK), instant=True, column="Cost per 1M tokens"),
                    Query(ctx.by_model(p.TOKENS_1H, how="sum") + " * 3600", instant=True, column="Tokens per hour",
                          unit="short")]
    if ctx.has(p.GPUS):
        columns.append(Query(ctx.by_model(p.GPUS, how="sum"), instant=True, column="GPUs allocated", unit="none"))
    if ctx.has(p.GPU_UTIL):
        low = ctx.uniform("gpu_utilization_low", bad_below=True)
        columns += [Query(ctx.by_model(p.GPU_UTIL), instant=True, column="GPU utilisation", unit="percentunit",
                          steps=((BAD, None), (GOOD, low.values[0])) if low else ()),
                    Query(idle, instant=True, column="Idle spend per hour", unit=money)]
    return columns


BUILDERS: dict[str, Callable[[Context], Board]] = {"sre": sre, "ml-engineer": ml_engineer, "finops": finops}


def boards(plan: Plan) -> list[Board]:
    """The dashboards of the spec's roles, in the spec's order."""
    recorded = set(p.recorded(plan))
    ctx = Context(plan, recorded)
    return [BUILDERS[role](ctx) for role in dict.fromkeys(plan.spec.dashboards.roles)]
