"""The incident library (bench/incidents/*.yaml) and the healthy fleet it starts from (fleet.yaml).

An incident file holds `title`, `description`, optional `baseline` (behaviour overrides per model for the
whole run, lead-in included), `incident` (`duration` and behaviour overrides per model while it lasts),
`observe` (how long after the incident starts alerts are watched) and `expect`: per model, the severity
that must be reached (`detect`, default none) and the highest one that is acceptable (`allow`, default
`detect`). Models not listed must stay silent. `lead_in` (optional) replaces the fleet's healthy lead-in for this
incident: at least the longest window of any alert that could answer it (see bench/incidents/fleet.yaml).
Every file is checked strictly: unknown keys, models the
spec does not have and bad durations are errors naming the file and key.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from bench.traffic import Behaviour, Target, Timeline
from llmmon.compiler import load as load_spec
from llmmon.model import Plan
from llmmon.units import Duration

ROOT = Path(__file__).resolve().parents[1]
INCIDENTS = ROOT / "bench" / "incidents"
EXAMPLE = ROOT / "specs" / "example.yaml"
SEVERITIES = ("none", "info", "warning", "critical")
_SIMPLE = {"rps", "error_ratio", "gpu_percent", "gpu_memory_mib", "cpu_cores", "up", "kv_cache", "waiting",
           "preemptions", "replicas_down", "restarts_per_hour", "gpu_temp", "gpu_power", "sm_clock", "xid"}
_NESTED = {"latency": ("p50", "p99"), "ttft": ("p50", "p95"), "tokens": ("input", "output")}
_FIELD = {("latency", "p50"): "latency_p50", ("latency", "p99"): "latency_p99", ("ttft", "p50"): "ttft_p50",
          ("ttft", "p95"): "ttft_p95", ("tokens", "input"): "tokens_in", ("tokens", "output"): "tokens_out"}


class IncidentError(ValueError):
    """A mistake in an incident or fleet file, as `file: key.path: message`."""


@dataclass(frozen=True)
class Expectation:
    """The right response for one model: severity to reach (`detect`) and the highest acceptable (`allow`)."""

    detect: str = "none"
    allow: str = "none"

    def too_loud(self, severity: str) -> bool:
        """True when an alert of this severity is more than the incident deserves."""
        return SEVERITIES.index(severity) > SEVERITIES.index(self.allow)

    def detects(self, severity: str) -> bool:
        """True when an alert of this severity is the response the incident needs."""
        return self.detect != "none" and SEVERITIES.index(severity) >= SEVERITIES.index(self.detect)


@dataclass(frozen=True)
class Arrivals:
    """Whole requests while the incident lasts: each minute a seeded Poisson count (clipped to `per_minute`), every
    `fail_every`-th request failing, or a single failure in the minute `fail_at` seconds after the start."""

    low: int
    high: int
    seed: int
    fail_every: int | None = None
    fail_at: float | None = None
    replicas: int = 1

    def counts(self, minutes: int) -> list[int]:
        """Requests in each minute: Poisson with the range's midpoint as mean, clipped into the range."""
        rng = random.Random(self.seed)
        mean = (self.low + self.high) / 2
        out = []
        for _ in range(minutes):
            # Knuth's method: multiply uniforms until the product falls under e^-mean
            k, product, limit = 0, rng.random(), math.exp(-mean)
            while product > limit:
                k, product = k + 1, product * rng.random()
            out.append(min(self.high, max(self.low, k)))
        return out

    def phases(self, start: float, duration: float, base: Behaviour) -> list[tuple[float, Behaviour]]:
        """One phase a minute: `count` requests spread over it, the failures making whole counts at its end."""
        out, seen, failed = [], 0, 0
        for i, count in enumerate(self.counts(math.ceil(duration / 60))):
            seen += count
            if self.fail_every:
                failures = seen // self.fail_every - failed
            else:
                failures = 1 if self.fail_at is not None and i == int(self.fail_at // 60) else 0
            failed += failures
            out.append((start + 60 * i, replace(base, rps=count / 60, error_ratio=failures / count)))
        return out


@dataclass(frozen=True)
class Incident:
    """One scripted scenario."""

    name: str
    title: str
    description: str
    duration: float  # seconds
    observe: float  # seconds
    baseline: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    expect: dict[str, Expectation] = field(default_factory=dict)
    arrivals: dict[str, Arrivals] = field(default_factory=dict)
    lead_in: float | None = None  # seconds; None: the fleet's

    def expectation(self, model: str) -> Expectation:
        """What a model should do (silence when the file does not name it)."""
        return self.expect.get(model, Expectation())


@dataclass(frozen=True)
class Fleet:
    """The healthy behaviour of every model of a spec, and the timing of a run."""

    spec: Path
    lead_in: float  # seconds
    interval: float  # seconds
    behaviour: dict[str, Behaviour]
    replicas: dict[str, int]


def _seconds(value: Any, where: str) -> float:
    try:
        return Duration.parse(str(value)).ms / 1000
    except (ValueError, TypeError) as exc:
        raise IncidentError(f"{where}: {value!r} is not a duration ({exc})") from None


def _keys(data: Any, allowed: set[str], where: str,
          required: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise IncidentError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise IncidentError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(data))
    if missing:
        raise IncidentError(f"{where}: missing key {missing[0]!r}")
    return data


def apply(behaviour: Behaviour, overrides: dict[str, Any], where: str = "behaviour") -> Behaviour:
    """A behaviour with overrides in the files' vocabulary (`latency: {p99: 3}`, `rps: 0`, ...)."""
    changes: dict[str, Any] = {}
    for key, value in _keys(overrides, _SIMPLE | set(_NESTED), where).items():
        if key in _NESTED:
            for sub, number in _keys(value, set(_NESTED[key]), f"{where}.{key}").items():
                changes[_FIELD[(key, sub)]] = _number(number, f"{where}.{key}.{sub}")
        elif key == "up":
            if not isinstance(value, bool):
                raise IncidentError(f"{where}.up: expected true or false")
            changes["up"] = value
        else:
            changes[key] = _number(value, f"{where}.{key}")
    result = replace(behaviour, **changes)
    for name in ("latency", "ttft"):
        p50, high = getattr(result, f"{name}_p50"), getattr(result, f"{name}_p99" if name == "latency" else "ttft_p95")
        if not 0 < p50 <= high:
            raise IncidentError(f"{where}.{name}: the median must be positive and not above the high percentile")
    if not 0 <= result.error_ratio <= 1:
        raise IncidentError(f"{where}.error_ratio: must be between 0 and 1")
    return result


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise IncidentError(f"{where}: expected a number ≥ 0, got {value!r}")
    return float(value)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise IncidentError(f"{path.name}: {exc}") from None


def load_fleet(path: Path = INCIDENTS / "fleet.yaml") -> Fleet:
    """The healthy fleet."""
    data = _keys(_read(path), {"spec", "lead_in", "interval", "models"}, path.name, {"spec", "models"})
    behaviour, replicas = {}, {}
    for model, raw in _keys(data["models"], set(data["models"] or {}), f"{path.name}: models").items():
        where = f"{path.name}: models.{model}"
        raw = dict(_keys(raw, _SIMPLE | set(_NESTED) | {"replicas"}, where))
        count = raw.pop("replicas", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise IncidentError(f"{where}.replicas: expected a whole number ≥ 1")
        replicas[model] = count
        behaviour[model] = apply(Behaviour(), raw, where)
    return Fleet(spec=ROOT / str(data["spec"]), lead_in=_seconds(data.get("lead_in", "3d"), f"{path.name}: lead_in"),
                 interval=_seconds(data.get("interval", "1m"), f"{path.name}: interval"),
                 behaviour=behaviour, replicas=replicas)


def names(folder: Path = INCIDENTS) -> list[str]:
    """Every incident of the library, by file name."""
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem != "fleet")


def load(name: str, fleet: Fleet | None = None, folder: Path = INCIDENTS) -> Incident:
    """One incident by name, checked against the fleet's models."""
    fleet = fleet or load_fleet()
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise IncidentError(f"no incident {name!r} (known: {', '.join(names(folder))})")
    where = path.name
    data = _keys(_read(path), {"title", "description", "baseline", "incident", "observe", "expect", "arrivals",
                  "lead_in"},
                 where, {"title", "description", "incident", "observe", "expect"})
    incident = _keys(data["incident"], {"duration", "models"}, f"{where}: incident", {"duration"})

    def per_model(raw: Any, key: str) -> dict[str, dict[str, Any]]:
        out = {}
        for model, overrides in _keys(raw or {}, set(fleet.behaviour), f"{where}: {key}").items():
            apply(fleet.behaviour[model], overrides, f"{where}: {key}.{model}")  # checked here, applied later
            out[model] = dict(overrides)
        return out

    expect = {}
    for model, raw in _keys(data["expect"] or {}, set(fleet.behaviour), f"{where}: expect").items():
        e = _keys(raw, {"detect", "allow"}, f"{where}: expect.{model}")
        detect = e.get("detect", "none")
        allow = e.get("allow", detect)
        for key, value in (("detect", detect), ("allow", allow)):
            if value not in SEVERITIES:
                raise IncidentError(f"{where}: expect.{model}.{key}: {value!r} is not one of {', '.join(SEVERITIES)}")
        if SEVERITIES.index(allow) < SEVERITIES.index(detect):
            raise IncidentError(f"{where}: expect.{model}: allow ({allow}) is below detect ({detect})")
        expect[model] = Expectation(detect, allow)
    duration = _seconds(incident["duration"], f"{where}: incident.duration")
    observe = _seconds(data["observe"], f"{where}: observe")
    if observe <= 0 or duration <= 0:
        raise IncidentError(f"{where}: incident.duration and observe must be positive")
    lead_in = _seconds(data["lead_in"], f"{where}: lead_in") if "lead_in" in data else None
    if lead_in is not None and lead_in < 6 * 3600:
        raise IncidentError(f"{where}: lead_in: at least 6h, so that both page pairs' windows are full")
    arrivals = {model: _arrivals(raw, f"{where}: arrivals.{model}")
                for model, raw in _keys(data.get("arrivals") or {}, set(fleet.behaviour), f"{where}: arrivals").items()}
    return Incident(name=name, title=str(data["title"]), description=str(data["description"]), duration=duration,
                    observe=observe, baseline=per_model(data.get("baseline"), "baseline"),
                    changes=per_model(incident.get("models"), "incident.models"), expect=expect, arrivals=arrivals,
                    lead_in=lead_in)


def _whole(value: Any, where: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise IncidentError(f"{where}: expected a whole number ≥ {low}, got {value!r}")
    return value


def _arrivals(raw: Any, where: str) -> Arrivals:
    data = _keys(raw, {"per_minute", "seed", "fail_every", "fail_at", "replicas"}, where, {"per_minute", "seed"})
    span = data["per_minute"]
    if not (isinstance(span, list) and len(span) == 2):
        raise IncidentError(f"{where}.per_minute: expected [lowest, highest] requests a minute")
    low, high = _whole(span[0], f"{where}.per_minute"), _whole(span[1], f"{where}.per_minute")
    if high < low:
        raise IncidentError(f"{where}.per_minute: the highest count is below the lowest")
    if ("fail_every" in data) == ("fail_at" in data):
        raise IncidentError(f"{where}: set exactly one of fail_every or fail_at")
    return Arrivals(low, high, _whole(data["seed"], f"{where}.seed", 0),
                    fail_every=_whole(data["fail_every"], f"{where}.fail_every") if "fail_every" in data else None,
                    fail_at=_seconds(data["fail_at"], f"{where}.fail_at") if "fail_at" in data else None,
                    replicas=_whole(data.get("replicas", 1), f"{where}.replicas"))


def plan(spec: Path | str = EXAMPLE) -> Plan:
    """The resolved plan of a spec that must be valid."""
    path = Path(spec)
    result, diagnostics = load_spec(path, path.name)
    if result is None:
        raise IncidentError("\n".join(d.render() for d in diagnostics))
    return result


def targets(plan: Plan, fleet: Fleet, incident: Incident | None, origin: float, start: float) -> list[Target]:
    """Every model of the plan as a target: counters from `origin`, the incident (if any) from `start`."""
    out = []
    for m in plan.models:
        if m.name not in fleet.behaviour:
            raise IncidentError(f"fleet.yaml: models: no behaviour for the spec's model {m.name!r}")
        base = fleet.behaviour[m.name]
        if incident:
            base = apply(base, incident.baseline.get(m.name, {}))
        phases: list[tuple[float, Behaviour]] = [(origin, base)]
        replicas = fleet.replicas[m.name]
        if incident and m.name in incident.arrivals:  # whole requests, minute by minute
            arrivals = incident.arrivals[m.name]
            during = apply(base, incident.changes.get(m.name, {}))
            phases += arrivals.phases(start, incident.duration, during)
            phases.append((start + incident.duration, base))
            replicas = arrivals.replicas  # one pod: its counters hold every request (split ones floor apart)
        elif incident and m.name in incident.changes:
            phases.append((start, apply(base, incident.changes[m.name])))
            phases.append((start + incident.duration, base))
        if plan.gpu_exporter not in ("dcgm", "none"):
            raise IncidentError(f"gpu_exporter {plan.gpu_exporter!r}: the synthetic traffic has dcgm and none only")
        out.append(Target(m, Timeline(origin, tuple(phases)), replicas=replicas,
                          gpu_exporter=plan.gpu_exporter))
    return out


__all__ = ["Arrivals", "Expectation", "Fleet", "Incident", "IncidentError", "apply", "load", "load_fleet", "names",
           "plan", "targets"]
