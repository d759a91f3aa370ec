"""`llmmon explain`: the plan of a spec in words, for people reviewing it (a terminal or a pull request).

Per model: its objectives with the error budget in minutes per SLO window, every alert with its condition,
threshold, `for`, severity and receiver, and each burn-rate pair with the time a total outage takes to
fire it. One neutral structure is built here and rendered as rich tables or as Markdown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from llmmon.model import Alert, Model, Objective, Plan
from llmmon.slo import (
    BASE_WINDOW,
    BURN_WINDOWS,
    FAST_LIMIT,
    MEDIUM_EVERY,
    SAMPLE_EVERY,
    SLOW_PAIR_EVERY,
    BurnWindow,
    cadence,
    edge_weight,
)
from llmmon.units import Duration, format_number

STEP = Duration.parse("1m")  # scrape and rule-evaluation interval the outage times assume by default


def _notes(step: Duration) -> tuple[str, ...]:
    return (
        "Error budget in minutes: how long a total outage may last in one SLO window before the objective is "
        "missed; for latency objectives a total outage means every request is too slow.",
        f"Outage times are the latest a steady total outage fires the pair, with scrape and rule evaluation every "
        f"{step} and a full window of history; it fires one interval sooner when Prometheus happens to evaluate "
        "the SLO rule group before the alert group (checked with `promtool test rules` in both orders).",
        f"Only the windows of the first pair ({BURN_WINDOWS[0].long}, {BURN_WINDOWS[0].short}) are recomputed at every "
        f"evaluation; the others less often (up to {FAST_LIMIT}: every {MEDIUM_EVERY}; longer: every {SAMPLE_EVERY}) "
        f"and the pairs reading them are evaluated every {SLOW_PAIR_EVERY}, so on a running Prometheus such a pair can "
        "fire up to that much later than shown (promtool evaluates every group at every step).",
    )


def check_step(step: Duration) -> str | None:
    """Why an interval cannot be used for outage times (it must divide 5m evenly), or None."""
    if not 0 < step.ms <= BASE_WINDOW.ms or BASE_WINDOW.ms % step.ms:
        return f"{step} must divide {BASE_WINDOW} evenly, e.g. 15s, 30s or 1m"
    return None


@dataclass(frozen=True)
class Table:
    """A titled table of text cells."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Section:
    """One part of the explanation: a heading, facts as lines, and tables."""

    title: str
    facts: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class Explanation:
    """Everything `llmmon explain` prints."""

    title: str
    facts: tuple[str, ...]
    sections: tuple[Section, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def explain(plan: Plan, source: str, step: Duration = STEP) -> Explanation:
    """The explanation of a plan; `source` is the spec file as the user named it, `step` the scrape interval."""
    from llmmon.emit.prometheus import build

    rules = build(plan).rules
    recording = sum(1 for r in rules if "record" in r)
    facts = (f"spec file: {source}",
             f"{len(plan.models)} model(s)" + (f" in cluster {plan.cluster}" if plan.cluster else ""),
             f"SLO window: {plan.slo_window}",
             f"rules: {recording} recording, {len(rules) - recording} alerting, in namespace {plan.namespace}")
    routing = Table("", ("tier (severity)", "default for", "receiver", "delivered by"),
                    tuple((t.name, str(t.for_), t.receiver, _delivery(plan, t.receiver)) for t in plan.tiers))
    sections = [Section("Alert routing", _routing_facts(plan), tables=(routing,))]
    warnings: list[str] = []
    for m in plan.models:
        sections.append(_model(plan, m, step, warnings))
    return Explanation(f"llmmon plan of {plan.name}", facts, tuple(sections), _notes(step), tuple(warnings))


def _routing_facts(plan: Plan) -> tuple[str, ...]:
    """Where alerts go, and what is not routed."""
    from llmmon.emit.alertmanager import SILENT, SLO_INHIBITS, inhibit_rules

    own = f"only alerts labelled llmmon_spec={plan.name} reach the receivers below"
    if plan.alertmanager_mode == "operator":
        where = (f"operator mode: AlertmanagerConfig {plan.name}-routing in namespace {plan.namespace} "
                 f"(kubernetes/{plan.name}-alertmanagerconfig.yaml), merged into the Prometheus Operator's "
                 f"Alertmanager; {own}; every other alert keeps the routing it has there")
    else:
        other = (f"other alerts go to {plan.catch_all} (catch_all)" if plan.catch_all
                 else "every other alert goes to the null receiver and is dropped")
        where = f"standalone mode: alertmanager/alertmanager.yaml; {own}; {other}"
    kept = [f"{target} while the {kind} ErrorBudgetBurn page of its model fires" for kind, target in SLO_INHIBITS
            if any(r["target_matchers"][-1].endswith(f'"{target}"') for r in inhibit_rules(plan))]
    return (where,
            f"never notified: {' and '.join(SILENT)} (always firing by design)",
            "an alert without a known severity goes to the warning tier's receiver",
            "inhibited: a model's warning and info alerts while a critical alert of that model fires"
            + "".join(f"; {k}" for k in kept))


def _model(plan: Plan, m: Model, step: Duration, warnings: list[str]) -> Section:
    gpus = f"{m.gpu_count} × {m.gpu_type}, {m.gpu_hourly_cost:.2f} {plan.currency}/h" if m.gpu_type else "none"
    facts = (f"engine: {m.engine.name}: {m.engine.title}",
             f"series: namespace {m.namespace}, "
             + (f"{m.engine.model_label}={m.served_name}" if m.engine.model_label else f"pods {m.pods}"),
             f"GPUs: {gpus}",
             f"burn-rate alerts stay quiet below {format_number(m.min_request_rate)} req/s")
    window_min = plan.slo_window.ms / 60_000
    unit = {"itl": "output tokens"}
    objectives = tuple((o.kind, _objective(o), f"{_pct(o.budget)} of {unit.get(o.kind, 'requests')}",
                        _minutes(o.budget * window_min)) for o in m.objectives)
    alerts = tuple((a.name, _condition(a), _threshold(a), str(a.for_), a.tier, plan.tier(a.tier).receiver)
                   for a in m.alerts)
    burns = []
    for o in m.objectives:
        for pair in BURN_WINDOWS:
            factor = pair.factor(plan.slo_window)
            after = outage_time(pair, o.budget, plan.slo_window, step)
            if after is None:
                warnings.append(f"{m.name}: the {o.kind} {pair.long}/{pair.short} pair can never fire: "
                                f"{format_number(factor)} × the {_pct(o.budget)} budget is 100% or more")
            burns.append((o.kind, f"{pair.long} and {pair.short}", f"{format_number(factor)}×",
                          _pct(min(factor * o.budget, 1.0)), _pct(pair.budget_fraction), str(pair.for_),
                          f"{pair.tier} → {plan.tier(pair.tier).receiver}", str(after) if after else "never"))
    tables = (
        Table("Objectives", ("SLO", "objective", "error budget", f"budget per {plan.slo_window}"), objectives),
        Table("Alerts", ("alert", "fires when", "threshold", "for", "severity", "receiver"), alerts),
        Table("Burn-rate alerts (ErrorBudgetBurn)", ("SLO", "windows", "burn rate", "error ratio above",
                                                     "budget spent", "for", "severity → receiver",
                                                     "total outage fires it within"), tuple(burns)),
    )
    return Section(f"Model {m.name}", facts, tuple(t for t in tables if t.rows))


def outage_time(pair: BurnWindow, budget: float, slo_window: Duration, step: Duration = STEP) -> Duration | None:
    """The latest time a steady total outage fires a burn-rate pair; None when it never can (factor × budget ≥ 1).

    After k steps of outage the 5m error ratio is k/n, n steps making 5m (capped at 1: a failure counter that
    starts at zero is not extrapolated back, the slowest case); a longer window averages the recorded 5m ratios
    over window/step + 1 samples and, when averaged from the 5m rates, adds its edge term (llmmon.slo.edge_weight:
    the newest 5m ratio less the one a window ago, weighted). Both windows must exceed factor × budget; at worst
    the alert group reads the recorded series one evaluation late (groups are evaluated apart), then waits `for`.
    """
    threshold = pair.factor(slo_window) * budget
    if threshold >= 1:
        return None
    n = BASE_WINDOW.ms // step.ms

    def total(k: int) -> float:
        """Sum of the 5m ratios over the first k steps of the outage."""
        return 0.0 if k <= 0 else k * (k + 1) / (2 * n) if k <= n else (n + 1) / 2 + k - n

    def short(k: int) -> float:
        return min(max(k, 0), n) / n

    def ratio(window: Duration, k: int) -> float:
        if window == BASE_WINDOW:
            return short(k)
        samples = window.ms // step.ms + 1
        average = (total(k) - total(k - samples)) / samples
        if cadence(window) == SAMPLE_EVERY:
            return average
        return average + edge_weight(window) * (short(k) - short(k - window.ms // step.ms))

    k = 1
    while not (ratio(pair.long, k) > threshold and ratio(pair.short, k) > threshold):
        k += 1  # ends: both ratios reach 1 within long/step + n steps, and the threshold is below 1
    return Duration((k + 1) * step.ms + math.ceil(pair.for_.ms / step.ms) * step.ms)


def _delivery(plan: Plan, receiver: str) -> str:
    r = plan.spec.receivers.get(receiver)
    if r is None:
        return "-"
    if r.pagerduty:
        return "PagerDuty"
    if r.slack:
        return "Slack" + (f" {r.slack.channel}" if r.slack.channel else "")
    return f"webhook {r.webhook.url}" if r.webhook else "-"


def _objective(o: Objective) -> str:
    target = _pct(o.target)
    if o.kind == "availability":
        return f"{target} of requests succeed"
    if o.kind == "itl":
        return f"{target} of output tokens follow the previous one within {format_number(o.threshold or 0)}s"
    what = "finish" if o.kind == "latency" else "get a first token"
    return f"{target} of requests {what} within {format_number(o.threshold or 0)}s"


def _condition(a: Alert) -> str:
    from llmmon.emit import health

    if a.key in health.ORDER:
        return health.condition(a.key, a.threshold)
    t = a.threshold or 0
    return {
        "latency_p99": f"p99 end-to-end latency over 5m is above {format_number(t)}s",
        "error_rate": f"more than {_pct(t)} of requests failed over 5m",
        "ttft_p95": f"p95 time to first token over 5m is above {format_number(t)}s",
        "gpu_utilization_low": f"mean GPU utilisation is below {_pct(t)} while the model serves traffic",
        "throughput_low": f"fewer than {format_number(t)} requests/s over 5m, after traffic in the last hour",
        "metrics_absent": "no request metrics of the model are scraped",
    }.get(a.key, a.key)


def _threshold(a: Alert) -> str:
    t = a.threshold
    if t is None:
        return "-"
    if a.key in ("latency_p99", "ttft_p95"):
        return f"{format_number(t)}s"
    from llmmon.emit import health

    if a.key in health.ORDER:
        return health.threshold_text(a.key, t)
    if a.key in ("error_rate", "gpu_utilization_low"):
        return _pct(t)
    return f"{format_number(t)} req/s"


def _pct(ratio: float) -> str:
    return f"{format_number(round(ratio * 100, 6))}%"


def _minutes(minutes: float) -> str:
    text = f"{format_number(round(minutes, 1))} min"
    return text if minutes < 120 else f"{text} ({format_number(round(minutes / 60, 1))} h)"


def markdown(e: Explanation) -> str:
    """The explanation as GitHub-flavoured Markdown, e.g. for a pull-request comment."""
    out = [f"## {e.title}", "", *(f"- {fact}" for fact in e.facts), ""]
    for w in e.warnings:
        out += [f"> **Warning:** {_cell(w)}", ""]
    for section in e.sections:
        out += [f"### {section.title}", ""]
        if section.facts:
            out += [*(f"- {_cell(fact)}" for fact in section.facts), ""]
        for table in section.tables:
            out += [f"**{table.title}**", ""] if table.title else []
            out += ["| " + " | ".join(table.columns) + " |",
                    "|" + "---|" * len(table.columns)]
            out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
            out.append("")
    out += [*(f"_{note}_" for note in e.notes)]
    return "\n".join(out).rstrip("\n") + "\n"


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, no line breaks."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def print_rich(e: Explanation, console: Any) -> None:
    """Print the explanation on a rich Console as headings and tables, fitted to its width: cells wrap between
    words, never inside one, and models with the same objectives and alerts share one set of tables."""
    from rich.text import Text

    console.rule(Text(e.title, style="bold"))
    for fact in e.facts:
        console.print(fact, markup=False, highlight=False)
    for w in e.warnings:
        console.print(f"warning: {w}", style="yellow", markup=False, highlight=False)
    for group in _same_tables(e.sections):
        console.print()
        first = group[0]
        if len(group) == 1:
            console.rule(Text(first.title), align="left")
            for fact in first.facts:
                console.print(fact, markup=False, highlight=False)
        else:
            names = [s.title.removeprefix("Model ") for s in group]
            console.rule(Text(f"Models {', '.join(names)}"), align="left")
            for name, section in zip(names, group, strict=True):
                console.print(Text(name, style="bold"))
                for fact in section.facts:
                    console.print(Text(f"  {fact}"))
            console.print(f"The same objectives and alerts for these {len(group)} models:", markup=False,
                          highlight=False)
        for table in first.tables:
            _print_table(table, console)
    console.print()
    for note in e.notes:
        console.print(note, style="dim", markup=False, highlight=False)


def _same_tables(sections: tuple[Section, ...]) -> list[list[Section]]:
    """Sections in order, those with the same (non-empty) tables as an earlier one joined to it."""
    groups: dict[tuple[Table, ...] | int, list[Section]] = {}
    for i, section in enumerate(sections):
        groups.setdefault(section.tables if section.tables else i, []).append(section)
    return list(groups.values())


GAP = 3  # characters between two columns: padding, a space for the border, padding


def _widths(table: Table, width: int) -> list[int] | None:
    """Column widths that fit `width` with every word whole (each column at least as wide as its longest word;
    the rest shared out by how much more each would take), or None when even that does not fit."""
    cells = [[column, *(row[i] for row in table.rows)] for i, column in enumerate(table.columns)]
    longest = [max(len(c) for c in column) for column in cells]
    word = [max(len(w) for c in column for w in c.split() or [""]) for column in cells]
    room = width - GAP * (len(cells) - 1)
    if sum(longest) <= room:
        return longest
    if sum(word) > room:
        return None
    spare, wants = room - sum(word), [m - w for m, w in zip(longest, word, strict=True)]
    share = [spare * want // sum(wants) for want in wants]
    for i in sorted(range(len(wants)), key=lambda i: -wants[i])[:spare - sum(share)]:
        share[i] += 1
    return [w + s for w, s in zip(word, share, strict=True)]


def _print_table(table: Table, console: Any) -> None:
    """A table whose columns fit the console, or on a very narrow one each row as `column: value` lines."""
    import textwrap

    from rich import box
    from rich.table import Table as RichTable
    from rich.text import Text

    widths = _widths(table, console.width)
    if widths is None:
        if table.title:
            console.print(Text(table.title, style="italic"))
        for row in table.rows:
            console.print(textwrap.fill(f"- {row[0]}", console.width, subsequent_indent="  ",
                                        break_long_words=False, break_on_hyphens=False), markup=False,
                          highlight=False)
            for column, cell in zip(table.columns[1:], row[1:], strict=True):
                console.print(textwrap.fill(f"{column}: {cell}", console.width, initial_indent="  ",
                                            subsequent_indent="    ", break_long_words=False,
                                            break_on_hyphens=False), markup=False, highlight=False)
        return
    grid = RichTable(title=table.title or None, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                     pad_edge=False, padding=(0, 1), expand=False)
    for column, width in zip(table.columns, widths, strict=True):
        grid.add_column(column, width=width, overflow="fold")
    for row in table.rows:
        grid.add_row(*(Text(cell) for cell in row))
    console.print(grid)
