"""Benchmark: what the rules cost a real Prometheus to evaluate, for llmmon's rules and the design's
(bench/design_rules.yaml, its 30-day SLO queries included), at 10, 100 and 500 models × 4 replicas.

For each size: a reference exporter serves every replica's series (seed contract, DCGM GPU series, cAdvisor
CPU); a probe server finds which series the rules read over ranges longer than 5m; those get a week of
history (raw counters from the same traffic, recorded 5m series at their probed values), every other series
an hour, backfilled with promtool. Then each rule set runs alone on a fresh copy of that TSDB, and we read
`prometheus_rule_group_last_duration_seconds` of every group for several cycles: per cycle, the sum of each
group's median duration (a group with an interval of its own, k cycles long, counts 1/k: its runs are measured
in a second phase that evaluates it at every cycle); the samples the rules write and the series they record.

Run: .venv/bin/python -m bench.rule_cost [--sizes 10,100,500] [--replicas 4] [--history 7d] [--evaluation 30s]
[--cycles 5] (about 10 minutes at 10 models, 11 at 100, 15 at 500 on a 2-core machine)
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.exporter import Exporter
from bench.promserver import Prometheus, backfill, flattened
from bench.render import openmetrics
from bench.traffic import Behaviour, Labels, Series, Target, series, steady_timeline
from llmmon.compiler import load
from llmmon.model import Plan
from llmmon.units import Duration

ROOT = Path(__file__).resolve().parents[1]
DESIGN_RULES = ROOT / "bench" / "design_rules.yaml"
RULESETS = ("llmmon", "design")
SHORT_RANGE_S = 300  # ranges up to 5m read only recent samples: their series need no long history
RECENT_S = 3600  # history of every other series
_RANGE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^{}]*\})?\[(\d+[smhdwy])\]")
_METRIC = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$', re.M)

SPEC = """\
apiVersion: llmmon/v1
kind: MonitoringSpec
metadata: {{name: cost, namespace: monitoring, runbook_base_url: "https://runbooks.example.com/llm"}}
cluster: bench-1
defaults:
  engine: openai-compatible
  namespace: llm-serving
  slo: {{availability: 99.9, latency: {{threshold: 2s, target: 99}}, ttft: {{threshold: 1s, target: 95}},
        min_request_rate: 0.1}}
alert_tiers:
  critical: {{for: 10m, receiver: pager}}
  warning: {{for: 5m, receiver: chat}}
  info: {{for: 30m, receiver: chat}}
receivers:
  pager: {{pagerduty: {{routing_key_file: /etc/alertmanager/secrets/pagerduty}}}}
  chat: {{slack: {{api_url_file: /etc/alertmanager/secrets/slack}}}}
costs: {{currency: USD, gpu_hourly: {{H100: 2.50}}, cpu_core_hourly: 0.05}}
models:
{models}
"""
TRAFFIC = Behaviour(rps=8, error_ratio=0.0005, latency_p50=0.6, latency_p99=1.4, ttft_p50=0.15, ttft_p95=0.5,
                    tokens_in=50, tokens_out=75, gpu_percent=65, cpu_cores=4)


@dataclass
class Settings:
    """How one run is set up."""

    replicas: int = 4
    history: float = 7 * 86400.0  # seconds
    scrape: str = "1m"
    evaluation: str = "30s"
    cycles: int = 5
    warmup: int = 1
    jobs: int = 2
    settle: float = SHORT_RANGE_S  # cycles count from this long after the history ends (see `measure`)


@dataclass
class Cost:
    """What evaluating one rule set costs per cycle."""

    rules: int
    groups: int
    seconds: float  # per cycle: the sum over groups of each group's median evaluation duration
    max_group: float  # the slowest group, median of its evaluations
    samples: float  # samples the rules write per cycle
    recorded_series: int
    cpu: float  # Prometheus CPU seconds per cycle (scrapes included)
    cycles: list[float] = field(default_factory=list)
    by_group: dict[str, float] = field(default_factory=dict)  # median seconds per group
    slowest: list[tuple[str, str, float]] = field(default_factory=list)  # (group, rule, seconds), last cycle


@dataclass
class Row:
    """One fleet size."""

    models: int
    replicas: int
    raw_series: int
    history_samples: int
    costs: dict[str, Cost]
    seconds: float


def plan_for(models: int, folder: Path) -> Plan:
    """The bench spec with `models` models on the seed contract, 8 H100 each."""
    lines = "\n".join(f"  - {{name: model-{i:04d}, gpus: {{type: H100, count: 8}}}}" for i in range(models))
    path = folder / "cost.yaml"
    path.write_text(SPEC.format(models=lines), encoding="utf-8")
    plan, diagnostics = load(path, path.name)
    if plan is None:
        raise RuntimeError("\n".join(d.render() for d in diagnostics))
    return plan


def long_ranges(rules_text: str) -> list[tuple[str, float]]:
    """(selector, range in seconds) of every range selector longer than 5m in a rule file."""
    out = set()
    for group in yaml.safe_load(rules_text)["groups"]:
        for rule in group["rules"]:
            for name, matchers, rng in _RANGE.findall(rule["expr"]):
                seconds = Duration.parse(rng).ms / 1000
                if seconds > SHORT_RANGE_S:
                    out.add((name + (matchers or ""), seconds))
    return sorted(out)


def _key(name: str, labels: dict[str, str]) -> tuple[str, Labels]:
    return name, tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))


def probe(folder: Path, rules: list[Path], exporter: Exporter, selectors: list[tuple[str, float]],
          settings: Settings) -> tuple[dict[tuple[str, Labels], float], dict[tuple[str, Labels], float]]:
    """Run the rules briefly: how much history each series read over long ranges needs, and the current value
    of each recorded one among them."""
    raw = sum(len(items) for _, items in exporter.collector.items)
    interval = "2s" if raw < 20000 else "15s"  # the exporter takes seconds to render a large fleet
    with Prometheus(folder, rules, [exporter.address], scrape_interval=interval, evaluation_interval=interval) as prom:
        deadline = time.monotonic() + 600
        while True:
            groups = prom.get("/api/v1/rules")["groups"]
            ran = all(not g["lastEvaluation"].startswith("0001") and g["evaluationTime"] > 0 for g in groups)
            if ran and all(
                    prom.get("/api/v1/series", **{"match[]": sel}) for sel, _ in selectors):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the probe's rules did not produce their series in 10 minutes")
            time.sleep(2)
        time.sleep(5)  # a few more evaluations: the recorded values settle
        spans: dict[tuple[str, Labels], float] = {}
        values: dict[tuple[str, Labels], float] = {}
        for sel, seconds in selectors:
            for labels in prom.get("/api/v1/series", **{"match[]": sel}):
                key = _key(labels["__name__"], labels)
                spans[key] = max(spans.get(key, 0.0), min(seconds + 300, settings.history))
            for sample in prom.query(sel):
                if "job" not in sample["metric"]:  # recorded by a rule, not scraped
                    values[_key(sample["metric"]["__name__"], sample["metric"])] = float(sample["value"][1])
    return spans, values


def write_history(folder: Path, targets: list[Target], extra: Labels, spans: dict[tuple[str, Labels], float],
                  values: dict[tuple[str, Labels], float], end: int, scrape: int, every: dict[str, int],
                  evaluation: int, jobs: int) -> int:
    """Backfill the history into folder/blocks, in `jobs` time slices converted by promtool in parallel.

    Scraped series have a sample every `scrape` seconds, recorded ones as often as their group runs (`every`
    by name, else every `evaluation`)."""
    items: dict[tuple[float, int], list[tuple[Series, Any, Labels]]] = {}
    for t in targets:
        for s in series(t):
            span = spans.get((s.name, tuple(sorted(s.labels + extra))), RECENT_S)
            items.setdefault((span, scrape), []).append((s, t.timeline, extra))
    for (name, labels), value in values.items():
        span = spans[(name, labels)]
        constant = Series(name, labels, "gauge", _constant(value), name, "gauge")
        step = every.get(name, evaluation)
        items.setdefault((span, step), []).append((constant, steady_timeline(TRAFFIC, end - span), ()))
    start = end - int(max(span for span, _ in items))
    cuts = [start + (end - start) * i // jobs for i in range(jobs)] + [end + 1]
    samples = 0
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = []
        for i, (lo, hi) in enumerate(itertools.pairwise(cuts)):
            path = folder / f"history-{i}.om"
            with path.open("w", encoding="utf-8") as out:
                for (span, step), group in sorted(items.items()):
                    first = max(lo, end - int(span))
                    times = list(range(-(-first // step) * step, hi, step))
                    if times:
                        samples += openmetrics(group, times, out)
                out.write("# EOF\n")
            futures.append(pool.submit(_convert, path, folder / "blocks"))  # promtool runs while the next is written
        for f in futures:
            f.result()
    return samples


def _constant(value: float) -> Callable[[Behaviour], float]:
    return lambda b: value


def _convert(path: Path, blocks: Path) -> None:
    backfill(path, blocks, max_block="24h")
    path.unlink()


def _metric(text: str, name: str) -> dict[str, float]:
    """rule_group → value of one per-group metric in Prometheus' own /metrics."""
    out = {}
    for metric, labels, value in _METRIC.findall(text):
        if metric == name:
            group = dict(re.findall(r'(\w+)="([^"]*)"', labels)).get("rule_group", "")
            out[group] = float(value)
    return out


def _cpu(text: str) -> float:
    found = re.search(r"^process_cpu_seconds_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else math.nan


def recorded_every(rules: Path, default: int) -> dict[str, int]:
    """Recorded series name → seconds between its samples (its group's interval, else `default`)."""
    doc = yaml.safe_load(rules.read_text(encoding="utf-8"))
    every = _intervals(doc, default)
    return {r["record"]: int(every[g["name"]]) for g in doc["groups"] for r in g["rules"] if "record" in r}


def _intervals(doc: dict[str, Any], default: float) -> dict[str, float]:
    """group name → its evaluation interval in seconds."""
    return {g["name"]: Duration.parse(g["interval"]).ms / 1000 if "interval" in g else default for g in doc["groups"]}


def measure(folder: Path, blocks: Path, rules: Path, exporter: Exporter, settings: Settings, end: int) -> Cost:
    """Run one rule set alone on a copy of the backfilled TSDB and read what each cycle costs.

    Two phases on one server. First the rules as written: the groups evaluated at every cycle are measured
    while the slower ones run at their own intervals beside them, as on a real server. Then the same groups all
    at the global interval (see `flattened`), for the slower groups' cost per run: a group k cycles long counts
    1/k of it in each cycle (measured in the first phase they would take half an hour to run a few times; run
    every cycle in the first, they would slow the others down as they never do on a real server).
    Cycles count from `settings.settle` (5m) after the backfill's `end`: until then a 5m range also reaches into
    the backfilled blocks, which never happens on a server that has been running (the last hours live in its
    head block)."""
    data = folder / "data"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(blocks), str(data)], check=True)
    interval = Duration.parse(settings.evaluation).ms / 1000
    doc = yaml.safe_load(rules.read_text())
    own = _intervals(doc, interval)
    each = [g for g in own if own[g] == interval]
    other = [g for g in own if own[g] != interval]
    with Prometheus(folder, [rules], [exporter.address], scrape_interval=settings.scrape,
                    evaluation_interval=settings.evaluation, data_dir=data) as prom:
        cpu_at: list[tuple[float, float]] = []
        seen = _runs(prom, rules, each, end + settings.settle, settings, cpu_at)
        times = _rule_times(prom, each)
        if other:
            flat = flattened(rules, folder)
            prom.rule_files = [flat]
            prom.reload()
            seen.update(_runs(prom, flat, other, time.time(), settings, []))
            times += _rule_times(prom, other)
        names = "|".join(sorted({r["record"] for g in doc["groups"] for r in g["rules"] if "record" in r}))
        recorded = int(float(prom.query(f'count({{__name__=~"{names}"}})')[0]["value"][1])) if names else 0
    slowest = sorted(times, key=lambda item: -item[2])[:12]
    by_group = {g: statistics.median(r[1] for r in seen[g][settings.warmup:]) for g in own}
    amortised = sum(by_group[g] * interval / own[g] for g in other)
    window = range(settings.warmup, settings.warmup + settings.cycles)
    totals = [sum(seen[g][i][1] for g in each) + amortised for i in window]
    # The figure: each group's median, summed. A group's duration is wall-clock time, so one that happens to run
    # beside a scrape of the (Python) exporter or another group on this 2-core machine takes longer that cycle;
    # a median per group sets such cycles aside where a median of cycle totals keeps whichever group was hit.
    typical = sum(by_group[g] for g in each) + amortised
    written_per_cycle = [sum(seen[g][i][2] for g in each) for i in window]
    (t0, c0), (t1, c1) = cpu_at[0], cpu_at[-1]
    return Cost(rules=sum(len(g["rules"]) for g in doc["groups"]), groups=len(doc["groups"]),
                seconds=typical, max_group=max(by_group.values()),
                samples=statistics.median(written_per_cycle), recorded_series=recorded,
                cpu=(c1 - c0) / max(1e-9, (t1 - t0) / interval), cycles=totals, by_group=by_group,
                slowest=slowest)


def _runs(prom: Prometheus, rules: Path, groups: list[str], fresh: float, settings: Settings,
          cpu_at: list[tuple[float, float]]) -> dict[str, list[tuple[float, float, float]]]:
    """(evaluation time, duration, samples written) of each run of `groups` of the file `rules` after `fresh`,
    until each ran warmup + cycles times."""
    interval = Duration.parse(settings.evaluation).ms / 1000
    runs_wanted = settings.warmup + settings.cycles
    seen: dict[str, list[tuple[float, float, float]]] = {g: [] for g in groups}
    deadline = time.monotonic() + max(0.0, fresh - time.time()) + interval * (runs_wanted + 4) + 600
    while any(len(seen[g]) < runs_wanted for g in groups):
        if time.monotonic() > deadline:
            raise RuntimeError(f"rule groups did not run often enough:\n{prom.log.read_text()[-2000:]}")
        text = prom.metrics()
        stamps = _metric(text, "prometheus_rule_group_last_evaluation_timestamp_seconds")
        durations = _metric(text, "prometheus_rule_group_last_duration_seconds")
        written = _metric(text, "prometheus_rule_group_last_evaluation_samples")
        for key, stamp in stamps.items():
            file, _, group = key.rpartition(";")
            runs = seen.get(group)
            if runs is None or file != str(rules.resolve()):
                continue
            if stamp > 0 and (not runs or runs[-1][0] != stamp) and stamp > fresh:
                runs.append((stamp, durations.get(key, math.nan), written.get(key, math.nan)))
        cpu_at.append((time.monotonic(), _cpu(text)))
        time.sleep(min(2.0, interval / 6))
    return seen


def _rule_times(prom: Prometheus, groups: list[str]) -> list[tuple[str, str, float]]:
    """(group, rule, seconds) of the last evaluation of every rule of `groups`."""
    return [(g["name"], r.get("name", ""), float(r.get("evaluationTime", 0.0)))
            for g in prom.get("/api/v1/rules")["groups"] if g["name"] in groups for r in g["rules"]]


def run_size(models: int, settings: Settings, work: Path) -> Row:
    """Everything for one fleet size."""
    began = time.perf_counter()
    folder = work / f"models-{models}"
    folder.mkdir(parents=True)
    plan = plan_for(models, folder)
    from llmmon.generate import build

    bundle = build(plan)
    rules = {name: folder / f"{name}.rules.yaml" for name in RULESETS}
    rules["llmmon"].write_text(bundle.files[bundle.rules_file], encoding="utf-8")
    shutil.copyfile(DESIGN_RULES, rules["design"])
    selectors = [*long_ranges(rules["llmmon"].read_text()), *long_ranges(rules["design"].read_text())]
    step = int(Duration.parse(settings.scrape).ms / 1000)
    now = int(time.time()) // step * step
    origin = now - settings.history - 2 * RECENT_S
    targets = [Target(m, steady_timeline(TRAFFIC, origin), replicas=settings.replicas, gpu_exporter="dcgm")
               for m in plan.models]
    with Exporter(targets, nice=19) as exporter:  # the exporter stands in for pods on other machines
        extra: Labels = (("instance", exporter.address), ("job", "llm"))
        probing = folder / "probe"
        spans, values = probe(probing, [flattened(path, probing) for path in rules.values()], exporter, selectors,
                              settings)
        end = int(time.time()) // step * step - step
        evaluation = int(Duration.parse(settings.evaluation).ms / 1000)
        every = {name: s for path in rules.values() for name, s in recorded_every(path, evaluation).items()}
        samples = write_history(folder, targets, extra, spans, values, end, step, every, evaluation, settings.jobs)
        costs = {name: measure(folder / name, folder / "blocks", path, exporter, settings, end)
                 for name, path in rules.items()}
    raw = sum(len(series(t)) for t in targets)
    shutil.rmtree(folder / "blocks", ignore_errors=True)
    return Row(models, settings.replicas, raw, samples, costs, time.perf_counter() - began)


def table(rows: list[Row]) -> str:
    """The Markdown table of the README."""
    lines = ["| models × replicas | raw series | history samples | design: rules | design: eval s/cycle "
             "| design: series recorded | llmmon: rules | llmmon: eval s/cycle | llmmon: series recorded "
             "| design ÷ llmmon |", "|" + "---:|" * 10]
    for r in rows:
        mine, design = r.costs["llmmon"], r.costs["design"]
        lines.append(f"| {r.models} × {r.replicas} | {r.raw_series:,} | {r.history_samples / 1e6:.1f} M "
                     f"| {design.rules} | {design.seconds:.3f} | {design.recorded_series:,} | {mine.rules} "
                     f"| {mine.seconds:.3f} | {mine.recorded_series:,} | {_ratio(design.seconds, mine.seconds)} |")
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    ratio = a / max(b, 1e-9)
    return f"{ratio:.1f}×" if ratio >= 10 else f"{ratio:.2f}×"


def growth(rows: list[Row], ruleset: str) -> float | None:
    """Exponent k of eval time ∝ models^k between the smallest and largest fleet (1 = linear)."""
    if len(rows) < 2 or rows[0].models == rows[-1].models:
        return None
    a, b = rows[0].costs[ruleset].seconds, rows[-1].costs[ruleset].seconds
    return math.log(b / a) / math.log(rows[-1].models / rows[0].models) if a > 0 and b > 0 else None


def main(argv: list[str] | None = None) -> int:
    """Run every size and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--history", default="7d")
    parser.add_argument("--scrape", default="1m", help="scrape interval, also the history's resolution")
    parser.add_argument("--evaluation", default="30s", help="rule evaluation interval (kube-prometheus-stack: 30s)")
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="work in this folder and keep it")
    parser.add_argument("--json", type=Path, default=None, help="also write every measurement to this file")
    args = parser.parse_args(argv)
    settings = Settings(args.replicas, Duration.parse(args.history).ms / 1000, args.scrape, args.evaluation,
                        args.cycles, args.warmup, args.jobs)
    rows = []
    with tempfile.TemporaryDirectory(prefix="llmmon-rule-cost-") as tmp:
        work = args.keep or Path(tmp)
        for size in (int(s) for s in args.sizes.split(",")):
            rows.append(run_size(size, settings, work))
            print(f"{size} models: {rows[-1].seconds:.0f} s", file=sys.stderr, flush=True)
    print(table(rows))
    for name in RULESETS:
        k = growth(rows, name)
        if k is not None:
            print(f"- {name}: evaluation time grows as models^{k:.2f} from {rows[0].models} to "
                  f"{rows[-1].models} models")
    for name in RULESETS:
        where = ", ".join(f"{rule} ({group.split('-')[-1]}) {seconds * 1000:.0f} ms"
                          for group, rule, seconds in rows[-1].costs[name].slowest[:6])
        print(f"- {name}, slowest rules at {rows[-1].models} models: {where}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n", encoding="utf-8")
    print(f"- history: {args.history} at {args.scrape} for the series read over ranges > 5m, 1h for the others; "
          f"evaluation every {args.evaluation}; each group's median over {args.cycles} cycles after {args.warmup}, "
          f"counted from 5m after the history ends")
    return 0


if __name__ == "__main__":
    sys.exit(main())
