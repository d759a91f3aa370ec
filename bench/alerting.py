"""Benchmark: for every incident of bench/incidents, how soon an alert fires and which alerts fire for nothing,
with llmmon's generated rules, the design document's rules (bench/design_rules.yaml, alerts group) and the rules
the real Sloth generates for the same availability and latency SLOs (bench/sloth.py).

Each (incident, rule set) is one promtool unit test: the fleet's series (bench/traffic.py, in each engine's
metric names and the seed contract's) over the lead-in and the observed window, evaluated at the fleet's
interval. Its queries read the `ALERTS` series the rules produced: the first and last firing time and the
firing steps of every alert in the window. Their expected samples can never match, so promtool prints what
they returned, and that is the measurement.

Run: .venv/bin/python -m bench.alerting [--incidents total-outage,slow-burn] [--lead-in 3d] [--jobs 2]
[--rulesets llmmon,design,sloth] [--promtool PATH] (promtool on PATH by default: Debian's 2.42)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench import scenarios, sloth
from bench.render import promtool_series, promtool_values
from bench.scenarios import Fleet, Incident
from bench.traffic import series
from llmmon import tools
from llmmon.model import Plan
from llmmon.units import Duration

ROOT = scenarios.ROOT
DESIGN_RULES = ROOT / "bench" / "design_rules.yaml"
DESIGN_ALERTS = "design-llm-alerts"
RULESETS = ("llmmon", "design", "sloth")
KEYS = ("alertname", "severity", "model", "slo")
_SAMPLE = re.compile(r"\{([^{}]*)\} ([^\s,]+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Firing:
    """One alert (by name, severity, model and SLO) that fired in the observed window; times from incident start."""

    alertname: str
    severity: str
    model: str
    slo: str
    first: float  # seconds after the incident started
    last: float
    minutes: float  # time spent firing

    def text(self) -> str:
        """`ErrorBudgetBurn critical (availability)`."""
        return f"{self.alertname} {self.severity}" + (f" ({self.slo})" if self.slo else "")


@dataclass
class Outcome:
    """What one rule set did in one incident."""

    incident: str
    ruleset: str
    firings: list[Firing] = field(default_factory=list)
    seconds: float = 0.0  # promtool's run time
    lead_in: float = 0.0  # healthy traffic before the incident, seconds

    def detection(self, inc: Incident, model: str) -> Firing | None:
        """The first alert on the model at the severity the incident needs (None: missed)."""
        want = inc.expectation(model)
        hits = [f for f in self.firings if f.model == model and want.detects(f.severity)]
        return min(hits, key=lambda f: (f.first, f.alertname)) if hits else None

    def false_alerts(self, inc: Incident) -> list[Firing]:
        """Alerts louder than the incident deserves (any alert, where silence is expected)."""
        return [f for f in self.firings if inc.expectation(f.model).too_loud(f.severity)]


def rule_files(plan: Plan, folder: Path, rulesets: tuple[str, ...] | None = None) -> dict[str, Path]:
    """llmmon's rules for the plan, the design's alerting rules and Sloth's (unless `rulesets` leaves it out),
    written into `folder`."""
    from llmmon.generate import build

    bundle = build(plan)
    paths = {"llmmon": folder / "llmmon.rules.yaml", "design": folder / "design.rules.yaml"}
    paths["llmmon"].write_text(bundle.files[bundle.rules_file], encoding="utf-8")
    design = yaml.safe_load(DESIGN_RULES.read_text(encoding="utf-8"))
    groups = [g for g in design["groups"] if g["name"] == DESIGN_ALERTS]
    paths["design"].write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
    if rulesets is None or "sloth" in rulesets:
        paths["sloth"] = sloth.generate(plan, folder / "sloth")
    return paths


def _window(seconds: float) -> str:
    return f"{round(seconds)}s"


def promtool_test(inc: Incident, fleet: Fleet, plan: Plan, rules: Path, lead_in: float) -> dict[str, Any]:
    """The promtool unit test replaying one incident against one rule file."""
    return {**_header(rules, fleet), "tests": _tests(inc, fleet, plan, lead_in)}


def _header(rules: Path, fleet: Fleet) -> dict[str, Any]:
    """The part of a promtool test file that names the rule set."""
    # promtool evaluates groups in a random order unless told: file order is dependency order
    order = [g["name"] for g in yaml.safe_load(rules.read_text(encoding="utf-8"))["groups"]]
    return {"rule_files": [str(rules)], "evaluation_interval": _window(fleet.interval), "group_eval_order": order}


_TEXT: dict[tuple[str, float], str] = {}
_TEXT_LOCK: dict[tuple[str, float], threading.Lock] = defaultdict(threading.Lock)


def _tests_text(inc: Incident, fleet: Fleet, plan: Plan, lead_in: float) -> str:
    """The `tests:` part of an incident's promtool file as YAML, rendered once for every rule set (the series of
    three days at a 1m interval take longer to render than most rule sets take to replay)."""
    key = (inc.name, lead_in)
    with _TEXT_LOCK[key]:
        if key not in _TEXT:
            _TEXT[key] = yaml.safe_dump({"tests": _tests(inc, fleet, plan, lead_in)}, sort_keys=False,
                                        width=1 << 20)
        return _TEXT[key]


def _tests(inc: Incident, fleet: Fleet, plan: Plan, lead_in: float) -> list[dict[str, Any]]:
    interval = fleet.interval
    steps = round((lead_in + inc.observe) / interval)
    targets = scenarios.targets(plan, fleet, inc, origin=0.0, start=lead_in)
    inputs = [{"series": promtool_series(s), "values": promtool_values(s, t.timeline, steps, interval)}
              for t in targets for s in series(t)]
    firing = 'ALERTS{alertstate="firing"}'
    by = "alertname, severity, model, slo"
    window, step = _window(inc.observe), _window(interval)
    queries = {
        "first": f"min by ({by}) (min_over_time(timestamp({firing})[{window}:{step}]))",
        "last": f"max by ({by}) (max_over_time(timestamp({firing})[{window}:{step}]))",
        "steps": f"max by ({by}) (count_over_time({firing}[{window}]))",
    }
    end = _window(steps * interval)
    checks = [{"expr": f'label_replace({expr}, "probe", "{name}", "", "")', "eval_time": end,
               "exp_samples": [{"labels": '{probe="none"}', "value": -1}]} for name, expr in queries.items()]
    return [{"name": inc.name, "interval": _window(interval), "input_series": inputs, "promql_expr_test": checks}]


def parse(output: str, start: float) -> list[Firing]:
    """Firings from promtool's report of the probe queries (times relative to `start`, seconds)."""
    if output.count("got:") != 3:
        raise RuntimeError(f"promtool did not evaluate the probes:\n{output[-3000:]}")
    rows: dict[tuple[str, ...], dict[str, float]] = {}
    for labels_text, value in _SAMPLE.findall(output):
        labels = dict(_LABEL.findall(labels_text))
        probe = labels.pop("probe", "none")
        if probe == "none":
            continue
        key = tuple(labels.get(k, "") for k in KEYS)
        rows.setdefault(key, {})[probe] = float(value)
    out = []
    for key, got in sorted(rows.items()):
        name, severity, model, slo = key
        out.append(Firing(name, severity, model, slo, got["first"] - start, got["last"] - start, got["steps"]))
    return out


def run_one(inc: Incident, ruleset: str, fleet: Fleet, plan: Plan, rules: Path, lead_in: float,
            folder: Path, promtool: str = "promtool", at_once: int = 1) -> Outcome:
    """Replay one incident against one rule set with promtool (`at_once` replays running beside each other share
    the memory bound of llmmon.tools.go_checker_env)."""
    path = folder / f"{inc.name}.{ruleset}.test.yaml"
    path.write_text(yaml.safe_dump(_header(rules, fleet), sort_keys=False, width=1 << 20)
                    + _tests_text(inc, fleet, plan, lead_in), encoding="utf-8")
    began = time.perf_counter()
    done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, check=False,
                          timeout=3600, env=tools.go_checker_env(at_once))
    seconds = time.perf_counter() - began
    firings = parse(done.stdout + done.stderr, lead_in)
    # `steps` counts evaluations: turn it into minutes
    firings = [Firing(f.alertname, f.severity, f.model, f.slo, f.first, f.last, f.minutes * fleet.interval / 60)
               for f in firings]
    return Outcome(inc.name, ruleset, firings, seconds, lead_in)


def _record(o: Outcome) -> dict[str, Any]:
    return {"incident": o.incident, "ruleset": o.ruleset, "seconds": round(o.seconds, 2), "lead_in": o.lead_in,
            "firings": [asdict(f) for f in o.firings]}


def _outcome(data: dict[str, Any]) -> Outcome:
    return Outcome(data["incident"], data["ruleset"], [Firing(**f) for f in data["firings"]], data["seconds"],
                   data["lead_in"])


def read_log(path: Path) -> list[Outcome]:
    """The outcomes a `--log` file holds (one JSON object a line; the last line of a pair wins)."""
    found: dict[tuple[str, str], Outcome] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                o = _outcome(json.loads(line))
                found[(o.incident, o.ruleset)] = o
    return list(found.values())


def run(names: list[str], lead_in: float | None = None, jobs: int = 2, spec: Path | None = None,
        rulesets: tuple[str, ...] = RULESETS, promtool: str = "promtool", log: Path | None = None,
        in_order: bool = False) -> list[Outcome]:
    """Every (incident, rule set) outcome, computed `jobs` at a time. With `log`, each outcome is appended to it as
    soon as it is known, and pairs the log already holds are not run again (a run can be stopped and resumed, or
    split over several processes)."""
    fleet = scenarios.load_fleet()
    plan = scenarios.plan(spec or fleet.spec)
    incidents = [scenarios.load(n, fleet) for n in names]

    def lead(inc: Incident) -> float:  # --lead-in, else the incident's, else the fleet's
        return lead_in if lead_in is not None else inc.lead_in if inc.lead_in is not None else fleet.lead_in

    with tempfile.TemporaryDirectory(prefix="llmmon-alerting-") as tmp:
        folder = Path(tmp)
        rules = rule_files(plan, folder, rulesets)
        done = {(o.incident, o.ruleset): o for o in (read_log(log) if log else [])}
        work = [(inc, rs) for inc in incidents for rs in rulesets if (inc.name, rs) not in done]
        lock = threading.Lock()

        def one(inc: Incident, rs: str) -> Outcome:
            o = run_one(inc, rs, fleet, plan, rules[rs], lead(inc), folder, promtool, max(1, jobs))
            if log:
                with lock, log.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(_record(o)) + "\n")
            return o

        if not in_order:  # longest first, so the pool is not left waiting on one long run at the end
            work.sort(key=lambda w: -((lead(w[0]) + w[0].observe) * (0.1 if w[1] == "design" else 1)))
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = [pool.submit(one, inc, rs) for inc, rs in work]
            outcomes = [f.result() for f in futures]
        outcomes += [o for (name, rs), o in done.items() if name in names and rs in rulesets]
    order = {n: i for i, n in enumerate(names)}
    return sorted(outcomes, key=lambda o: (order[o.incident], RULESETS.index(o.ruleset)))


def duration(seconds: float) -> str:
    """`3m`, `4h05m`, `-2m` (before the incident started)."""
    sign, s = ("-" if seconds < 0 else ""), abs(round(seconds))
    hours, minutes = divmod(s // 60, 60)
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    rest = s % 60
    return f"{sign}{minutes}m" + (f"{rest:02d}s" if rest else "")


def _expected(inc: Incident, models: list[str]) -> str:
    parts = []
    for m in models:
        e = inc.expectation(m)
        if e.detect != "none":
            parts.append(f"{e.detect} ({m})")
        elif e.allow != "none":
            parts.append(f"≤ {e.allow} ({m})")
    return ", ".join(parts) or "silence"


def _detected(o: Outcome, inc: Incident, models: list[str]) -> str:
    cells = []
    for m in models:
        if inc.expectation(m).detect == "none":
            continue
        hit = o.detection(inc, m)
        cells.append(f"**{duration(hit.first)}** {hit.text()}" if hit else "**missed**")
    return "; ".join(cells) or "—"


def _false(o: Outcome, inc: Incident) -> str:
    loud = o.false_alerts(inc)
    return "; ".join(f"{f.text()} on {f.model} at {duration(f.first)}" for f in loud) or "none"


def table(outcomes: list[Outcome], models: list[str]) -> str:
    """The Markdown table of docs/benchmarks.md: first alert and false alerts of each rule set that ran."""
    incidents = {o.incident: scenarios.load(o.incident) for o in outcomes}
    by = {(o.incident, o.ruleset): o for o in outcomes}
    ran = [r for r in RULESETS if any(o.ruleset == r for o in outcomes)]
    head = ("| incident | lead-in | right response | "
            + " | ".join(f"{r}: first alert | {r}: false alerts" for r in ran) + " |")
    lines = [head, "|---|---:|---|" + "---|---|" * len(ran)]
    for name, inc in incidents.items():
        cells = [duration(max(o.lead_in for o in outcomes if o.incident == name))]
        for r in ran:
            o = by.get((name, r))
            cells += [_detected(o, inc, models), _false(o, inc)] if o else ["not run", "not run"]
        lines.append(f"| {inc.title} | {cells[0]} | {_expected(inc, models)} | " + " | ".join(cells[1:]) + " |")
    return "\n".join(lines)


def targets(outcomes: list[Outcome]) -> list[tuple[str, bool | None]]:
    """The issue's targets, each with whether it is met (None: its incident was not run)."""
    by = {(o.incident, o.ruleset): o for o in outcomes}
    found: list[tuple[str, bool | None]] = []

    def first(incident: str, ruleset: str) -> float | None:
        o = by.get((incident, ruleset))
        if o is None:
            return None
        inc = scenarios.load(incident)
        hits = [h for m in inc.expect if (h := o.detection(inc, m))]
        return min(h.first for h in hits) if hits else float("inf")

    outage, outage_design = first("total-outage", "llmmon"), first("total-outage", "design")
    found.append(("a total outage of a 99.9% model pages within 3 minutes",
                  None if outage is None else outage <= 180))
    found.append(("the design's rules need more than 10 minutes for it",
                  None if outage_design is None else outage_design > 600))
    burn, burn_design = first("slow-burn", "llmmon"), by.get(("slow-burn", "design"))
    found.append(("a 0.5% slow burn on a 99.9% SLO is ticketed within 6 hours",
                  None if burn is None else burn <= 6 * 3600))
    found.append(("the design's rules never fire for it",
                  None if burn_design is None else not burn_design.firings))
    quiet = ("error-spike", "background-errors", "gpu-idle", "low-traffic")
    ran = [by[(n, "llmmon")] for n in quiet if (n, "llmmon") in by]
    found.append(("no critical alert in the short-spike, background-noise, idle and low-traffic incidents",
                  None if not ran else not any(f.severity == "critical" for o in ran for f in o.firings)))
    found.append(("a total outage pages within 2 minutes at a 1m evaluation interval",
                  None if outage is None else outage <= 120))
    found.extend(against_sloth(outcomes))
    return found


def against_sloth(outcomes: list[Outcome]) -> list[tuple[str, bool | None]]:
    """The head-to-head targets: where Sloth's response is right, llmmon's first alert comes no later than Sloth's
    plus one evaluation step; where Sloth is wrong (an alert louder than the incident deserves, or a miss), llmmon
    is right."""
    by = {(o.incident, o.ruleset): o for o in outcomes}
    step = scenarios.load_fleet().interval
    found: list[tuple[str, bool | None]] = []
    for name in sorted({o.incident for o in outcomes}):
        mine, theirs = by.get((name, "llmmon")), by.get((name, "sloth"))
        if mine is None or theirs is None:
            continue
        inc = scenarios.load(name)
        sloth_right = not theirs.false_alerts(inc) and all(theirs.detection(inc, m) for m in inc.expect
                                                            if inc.expectation(m).detect != "none")
        mine_right = not mine.false_alerts(inc) and all(mine.detection(inc, m) for m in inc.expect
                                                        if inc.expectation(m).detect != "none")
        if not sloth_right:
            found.append((f"{name}: Sloth is wrong here, llmmon is right", mine_right))
            continue
        late = []
        for m in inc.expect:
            if inc.expectation(m).detect == "none":
                continue
            a, b = mine.detection(inc, m), theirs.detection(inc, m)
            assert b is not None
            late.append(a is None or a.first > b.first + step)
        found.append((f"{name}: llmmon's first alert no later than Sloth's + {duration(step)}",
                      mine_right and not any(late)))
    return found


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table, the targets and the run time."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--incidents", default=",".join(scenarios.names()))
    parser.add_argument("--lead-in", default=None, help="healthy traffic before each incident (default: fleet.yaml)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--json", type=Path, default=None, help="also write every firing to this file")
    parser.add_argument("--rulesets", default=",".join(RULESETS))
    parser.add_argument("--promtool", default="promtool", help="the promtool to replay with (default: on PATH)")
    parser.add_argument("--log", type=Path, default=None,
                        help="append each outcome to this file as it comes; pairs it holds are not run again")
    parser.add_argument("--report", action="store_true", help="run nothing: print the table of the --log file")
    parser.add_argument("--in-order", action="store_true",
                        help="run incidents in the order given (each with its rule sets), not longest first")
    args = parser.parse_args(argv)
    names = [n for n in args.incidents.split(",") if n]
    lead_in = Duration.parse(args.lead_in).ms / 1000 if args.lead_in else None
    rulesets = tuple(r for r in RULESETS if r in args.rulesets.split(","))
    began = time.perf_counter()
    if args.report:
        if not args.log:
            parser.error("--report needs --log")
        order = {n: i for i, n in enumerate(names)}
        outcomes = sorted((o for o in read_log(args.log) if o.incident in order and o.ruleset in rulesets),
                          key=lambda o: (order[o.incident], RULESETS.index(o.ruleset)))
    else:
        outcomes = run(names, lead_in, args.jobs, rulesets=rulesets, promtool=args.promtool, log=args.log,
                       in_order=args.in_order)
    fleet = scenarios.load_fleet()
    print(table(outcomes, list(fleet.behaviour)))
    print()
    for text, met in targets(outcomes):
        print(f"- {'met' if met else 'NOT MET' if met is False else 'not run'}: {text}")
    version = subprocess.run([args.promtool, "--version"], capture_output=True, text=True, check=False).stdout
    print(f"\n{len(outcomes)} promtool runs ({version.splitlines()[0] if version else args.promtool}), "
          f"{time.perf_counter() - began:.0f} s "
          f"(lead-in: {duration(lead_in) if lead_in is not None else 'each incident its own'}, interval "
          f"{duration(fleet.interval)})")
    if args.json:
        args.json.write_text(json.dumps([_record(o) for o in outcomes], indent=2) + "\n", encoding="utf-8")
    return 0 if all(met is not False for _, met in targets(outcomes)) else 1


if __name__ == "__main__":
    sys.exit(main())
