"""Hypothesis strategies for llmmon specs: random valid specs, and the example counts of the properties.

`valid_specs()` draws specs the schema and the resolver accept: 1-MAX_MODELS models (12 or 50 by profile) over
every engine preset, with thresholds, targets, tiers, windows and optional sections drawn at random. What an
engine lacks is read from its preset (llmmon.engines.PRESETS), so a latency SLO is only drawn for engines with a
latency histogram, at one of its buckets; an alert the engine cannot evaluate is left unwritten or disabled.
Text values that reach PromQL, YAML, Fluentd or JSON are drawn from all of Unicode (bar what the schema
refuses) and from a list of known injection strings.

Mutations of valid specs are in specmutate.py.

Example counts come from the Hypothesis profile (HYPOTHESIS_PROFILE=ci|dev|long, see conftest.py).
"""

from __future__ import annotations

import os
import re
from types import SimpleNamespace
from typing import Any

import yaml
from hypothesis import Phase
from hypothesis import strategies as st

from llmmon.engines import PRESETS, Histogram, Preset
from llmmon.spec import CONTROL, DNS_1035, DNS_LABEL, IDENT, LABEL_VALUE, MODEL_NAME
from llmmon.units import Duration

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
# examples per property and profile: the promtool-backed ones run every checker on each example (promtool's
# generated tests are nearly all of it: about 6 CPU-s a spec plus 2 a model). `ci` (what `make test` runs) checks
# a dozen random specs in full, their fleets at most 12 models; dev and long many more, fleets up to 50 models.
EXAMPLES = {
    "ci": {"checked": 12, "checkov": 1, "mutation": 150, "mangled": 100, "accepted": 4},
    "dev": {"checked": 100, "checkov": 5, "mutation": 750, "mangled": 500, "accepted": 20},
    "long": {"checked": 500, "checkov": 25, "mutation": 3750, "mangled": 2500, "accepted": 100},
}[PROFILE]
# Properties that run the checkers shrink a failure for minutes: in CI they report the example as found.
# The most models valid_specs() draws by default (a fleet is 7 to this many): a 40-model fleet costs ~80 CPU-s of
# promtool per example, a 12-model one ~30, and its rules have the same shapes.
MAX_MODELS = {"ci": 12, "dev": 50, "long": 50}[PROFILE]
PHASES = (Phase.explicit, Phase.reuse, Phase.generate) if PROFILE == "ci" else tuple(Phase)

# Checkers `llmmon validate` skips when absent that a CI machine may lack (kubectl is not installed by the
# Makefile, checkov has a property of its own): any other skipped checker fails the properties.
OPTIONAL = re.compile(r"\b(checkov|kubectl|Elasticsearch request types|OpenTelemetry Collector binary)\b")
ENGINES = sorted(PRESETS)
TIERS = ("critical", "warning", "info")
INJECTIONS = (
    '"} or vector(1) #', "a\\", '\\"', "{{ $labels.model }}", "{{ template \"x\" }}", "${HOME}", "#{`id`}",
    "</source><source>", "@include /etc/passwd", "</match>", "a: b", "- x", "&a *a", "!!python/object:os.system",
    "'; DROP TABLE x; --", "<script>alert(1)</script>", "%s%n%x", "../../etc/passwd", "..", "\u202eevil",
    "\u00a0", "\u0085", "\ufeff", "模型/名字", "😀", "\"description\": \"x\"", "}}]", "$1", "\\n", "null", "~",
    "*", "|", ">", "%", "@", "`", "'",
)
_SAFE_CHARS = st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\u2028\u2029\ufffe\uffff")
FREE_TEXT = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(_SAFE_CHARS, min_size=1, max_size=30),
).filter(lambda t: bool(t.strip()) and not CONTROL.search(t))


def _regex(pattern: re.Pattern[str], max_size: int = 20) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda t: 0 < len(t) <= max_size)


DNS = st.one_of(_regex(re.compile(r"^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$")), _regex(DNS_LABEL, 63))
SPEC_NAMES = st.one_of(_regex(re.compile(r"^[a-z]([-a-z0-9]{0,10}[a-z0-9])?$")), _regex(DNS_1035, 63))
MODEL_NAMES = st.one_of(_regex(MODEL_NAME, 63), st.sampled_from(["llama-3", "llama-3-70b", "a", "a.b", "a-b", "m_1"]))
IDENTS = _regex(IDENT, 63)
LABEL_VALUES = _regex(LABEL_VALUE, 63)
# a DNS-1123 subdomain prefix: "0.-x/y" is not one (a dot-separated label starts with "-")
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?){0,2}/)?"
                  r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$")
LABEL_KEYS = st.one_of(_regex(_KEY, 50), st.sampled_from(["release", "app.kubernetes.io/part-of"]))


def duration(ms: int) -> str:
    """Prometheus duration text of `ms` milliseconds."""
    return str(Duration(ms))


def percent(draw: st.DrawFn, low: int, high: int, scale: int = 1000) -> float | str:
    """A percentage between low/scale and high/scale, as a number or as "N%" text; below 1 only as text (a bare
    number under 1 reads as a ratio and is refused)."""
    value = draw(st.integers(low, high)) / scale
    return draw(st.sampled_from([value, f"{value}%"] if value >= 1 else [f"{value}%"]))


def thresholds_ms(histogram: Histogram) -> list[int]:
    """Whole-millisecond durations that are buckets of `histogram` (what a latency SLO may use)."""
    out = []
    for seconds in histogram.seconds:
        ms = round(seconds * 1000)
        if ms > 0 and histogram.bucket_at(ms / 1000) is not None:
            out.append(ms)
    return sorted(set(out))


def _histogram(engine: Preset, kind: str) -> Histogram | None:
    return engine.latency if kind == "latency" else engine.ttft


def _alert_range(engine: Preset, key: str) -> tuple[int, int] | None:
    """The thresholds (ms, low inclusive, high exclusive) an alert of `key` may have on `engine`; None: none.

    A quantile alert's threshold lies within the histogram: at or above its smallest bucket, below its largest.
    """
    histogram = engine.latency if key == "latency_p99" else engine.ttft if key == "ttft_p95" else None
    if histogram:
        return round(histogram.seconds[0] * 1000 + 0.4999), round(histogram.seconds[-1] * 1000)
    if key == "ttft_p95" or (key == "latency_p99" and not engine.latency_sum):
        return None
    return 1, 600_000


def _alert_ok(engine: Preset, key: str, gpu_exporter: str) -> bool:
    if key == "gpu_utilization_low":
        return gpu_exporter != "none" or engine.gpu_utilization is not None
    return _alert_range(engine, key) is not None


@st.composite
def _alert(draw: st.DrawFn, key: str, limits: tuple[int, int] | None, required_threshold: bool = False
           ) -> dict[str, Any]:
    """One alert override: some of threshold, tier, for, enabled."""
    out: dict[str, Any] = {}
    if key in ("latency_p99", "ttft_p95"):
        low, high = limits or (1, 600_000)
        if low < high and (required_threshold or draw(st.booleans())):
            out["threshold"] = duration(draw(st.one_of(st.integers(low, high - 1), st.sampled_from([low, high - 1]))))
    elif key in ("error_rate", "gpu_utilization_low"):
        if required_threshold or draw(st.booleans()):
            out["threshold"] = percent(draw, 1, 99_999)
    elif key == "throughput_low" and (required_threshold or draw(st.booleans())):
        out["threshold"] = draw(st.sampled_from([0.001, 0.5, 1, 2, 5, 100, 12345.5]))
    if draw(st.booleans()):
        out["tier"] = draw(st.sampled_from(TIERS))
    if draw(st.integers(0, 3)) == 0:
        out["for"] = duration(draw(st.sampled_from([0, 30_000, 60_000, 120_000, 300_000, 900_000, 3_600_000])))
    return out


KEYS = ("latency_p99", "error_rate", "gpu_utilization_low", "ttft_p95", "throughput_low", "metrics_absent")


@st.composite
def valid_specs(draw: st.DrawFn, max_models: int = MAX_MODELS) -> dict[str, Any]:
    """A spec llmmon accepts (warnings allowed)."""
    # One draw in four is a fleet (7 to max_models): the generated tests' cost grows with the models.
    fleet = draw(st.sampled_from([False, False, False, True]))
    count = draw(st.integers(min(7, max_models), max_models) if fleet else st.integers(1, min(6, max_models)))
    names = draw(st.lists(MODEL_NAMES, min_size=count, max_size=count, unique=True))
    engines = [PRESETS[draw(st.sampled_from(ENGINES))] for _ in names]
    exporter = draw(st.sampled_from(["dcgm", "nvml", "none"]))
    spec: dict[str, Any] = {"apiVersion": "llmmon/v1", "kind": "MonitoringSpec"}
    spec["metadata"] = _metadata(draw)
    if draw(st.booleans()):
        spec["cluster"] = draw(LABEL_VALUES.filter(bool))
    if draw(st.booleans()):
        spec["slo_window"] = duration(draw(st.one_of(
            st.sampled_from([7, 14, 28, 30, 90]).map(lambda d: d * 86_400_000),
            st.integers(3 * 86_400_000 + 60_000, 120 * 86_400_000).map(lambda ms: ms - ms % 60_000))))
    defaults: dict[str, Any] = {}
    default_engine = draw(st.sampled_from([None, *sorted({e.name for e in engines})]))
    if default_engine:
        defaults["engine"] = default_engine
    if draw(st.integers(0, 4)):
        defaults["namespace"] = draw(DNS)
    slo, alerts = _default_slo(draw, engines), _default_alerts(draw, engines, exporter)
    if slo:
        defaults["slo"] = slo
    if alerts:
        defaults["alerts"] = alerts
    if draw(st.integers(0, 3)) == 0:
        defaults["metrics_port"] = draw(st.one_of(st.integers(1, 65535), st.sampled_from(["http", "metrics", "m-1"])))
    if draw(st.integers(0, 3)) == 0:
        defaults["metrics_path"] = draw(st.sampled_from(["/metrics", "/v1/metrics", "/a.b/~c_d-e"]))
    spec["defaults"] = defaults
    prices = draw(st.dictionaries(IDENTS, st.sampled_from([0.01, 0.35, 1.1, 2.5, 2.9, 40.0, 9999.99]),
                                  min_size=0, max_size=3))
    spec["models"] = [_model(draw, name, engine, defaults, exporter, sorted(prices))
                      for name, engine in zip(names, engines, strict=True)]
    _unique_selections(spec["models"], defaults)
    _separate_pods(spec["models"], defaults)
    receivers = _receivers(draw)
    spec["alert_tiers"] = {tier: {"for": duration(draw(st.sampled_from([0, 60_000, 120_000, 300_000, 600_000,
                                                                         1_800_000, 3_600_000]))),
                                  "receiver": draw(st.sampled_from(sorted(receivers)))}
                           for tier in TIERS}
    spec["receivers"] = receivers
    if prices or draw(st.booleans()):
        costs: dict[str, Any] = {"gpu_hourly": prices}
        if draw(st.booleans()):
            costs["currency"] = draw(st.sampled_from(["USD", "EUR", "JPY", "XXX"]))
        if draw(st.booleans()):
            costs["cpu_core_hourly"] = draw(st.sampled_from([0, 0.04, 0.05, 1.5]))
        spec["costs"] = costs
    spec["gpu_exporter"] = _gpu_exporter(draw, exporter)
    if draw(st.booleans()):
        spec["kubernetes"] = {"serving_monitors": draw(st.booleans()),
                              "scrape_interval": draw(st.sampled_from(["1s", "15s", "30s", "1m", "10m"])),
                              "version": draw(st.sampled_from(["1.25", "1.29", "1.30", "1.34", "1.37"]))}
    if draw(st.booleans()):
        spec["logging"] = _logging(draw)
    if draw(st.booleans()):
        spec["tracing"] = {"sampling": percent(draw, 1, 100_000),
                           "otlp_endpoint": f"{draw(DNS)}.{draw(DNS)}:{draw(st.integers(1, 65535))}"}
    if draw(st.booleans()):
        spec["dashboards"] = {"roles": draw(st.lists(st.sampled_from(["sre", "ml-engineer", "finops"]),
                                                     unique=True))}
    return spec


def dump(spec: dict[str, Any]) -> str:
    """A spec as YAML text (PyYAML's writer, not llmmon's: the spec is input here)."""
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=10_000)


def _metadata(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(SPEC_NAMES)}
    if draw(st.booleans()):
        meta["namespace"] = draw(DNS)
    if draw(st.booleans()):
        meta["labels"] = draw(st.dictionaries(LABEL_KEYS, LABEL_VALUES, max_size=3))
    if draw(st.booleans()):
        meta["runbook_base_url"] = draw(st.sampled_from(["https://runbooks.example.com/llm", "http://x/",
                                                         "https://wiki.example.com/a%20b/runbooks?x=1&y=2#top"]))
    return meta


def _default_slo(draw: st.DrawFn, engines: list[Preset]) -> dict[str, Any]:
    slo: dict[str, Any] = {}
    if draw(st.booleans()):
        slo["availability"] = percent(draw, 1000, 99_999)
    for kind in ("latency", "ttft"):
        histograms = [_histogram(e, kind) for e in engines]
        if any(h is None for h in histograms) or not draw(st.booleans()):
            continue
        common = set.intersection(*(set(thresholds_ms(h)) for h in histograms if h))
        if common:
            slo[kind] = {"threshold": duration(draw(st.sampled_from(sorted(common)))),
                         "target": percent(draw, 1000, 99_999)}
    if draw(st.booleans()):
        slo["min_request_rate"] = draw(st.sampled_from([0, 0.01, 0.1, 1, 50.5]))
    return slo


def _default_alerts(draw: st.DrawFn, engines: list[Preset], exporter: str) -> dict[str, Any]:
    alerts: dict[str, Any] = {}
    for key in KEYS:
        if not all(_alert_ok(e, key, exporter) for e in engines) or not draw(st.booleans()):
            continue
        ranges = [r for e in engines if (r := _alert_range(e, key))]
        alert = draw(_alert(key, (max(r[0] for r in ranges), min(r[1] for r in ranges)) if ranges else None))
        if key == "throughput_low":
            alert["enabled"] = draw(st.booleans())
            if alert["enabled"] and "threshold" not in alert:
                alert["threshold"] = 1
        elif draw(st.integers(0, 4)) == 0:
            alert["enabled"] = draw(st.booleans())
        alerts[key] = alert
    return alerts


def _model(draw: st.DrawFn, name: str, engine: Preset, defaults: dict[str, Any], exporter: str,
           gpu_types: list[str]) -> dict[str, Any]:
    model: dict[str, Any] = {"name": name}
    if engine.name != defaults.get("engine", "openai-compatible") or draw(st.booleans()):
        model["engine"] = engine.name
    if "namespace" not in defaults or draw(st.integers(0, 3)) == 0:
        model["namespace"] = draw(DNS)
    if draw(st.integers(0, 2)) == 0:
        model["served_name"] = draw(FREE_TEXT)
    if draw(st.integers(0, 3)) == 0:
        escaped = name.replace(".", r"\.")
        model["pods"] = draw(st.sampled_from([f"{escaped}-[0-9]+", f"{escaped}-(a|b)-.*", f"{escaped}-.+",
                                              f"(?:{escaped})-[a-z0-9]{{5}}"]))
    if gpu_types and draw(st.booleans()):
        model["gpus"] = {"type": draw(st.sampled_from(gpu_types)), "count": draw(st.sampled_from([1, 2, 8, 100_000]))}
    slo: dict[str, Any] = {}
    inherited = defaults.get("slo", {})
    if draw(st.integers(0, 2)) == 0:
        slo["availability"] = percent(draw, 1000, 99_999)
    for kind in ("latency", "ttft"):
        histogram = _histogram(engine, kind)
        if histogram is None or not draw(st.booleans()):
            continue
        own: dict[str, Any] = {"threshold": duration(draw(st.sampled_from(thresholds_ms(histogram))))}
        if kind not in inherited or draw(st.booleans()):
            own["target"] = percent(draw, 1000, 99_999)
        slo[kind] = own
    if draw(st.integers(0, 3)) == 0:
        slo["min_request_rate"] = draw(st.sampled_from([0, 0.2, 3]))
    if slo:
        model["slo"] = slo
    alerts: dict[str, Any] = {}
    default_alerts = defaults.get("alerts", {})
    for key in KEYS:
        if not _alert_ok(engine, key, exporter):  # never in defaults: see _default_alerts
            if draw(st.booleans()):
                alerts[key] = {"enabled": False}  # else left out, with a warning
            continue
        if draw(st.integers(0, 3)) == 0:
            alert = draw(_alert(key, _alert_range(engine, key)))
            if key == "throughput_low" and draw(st.booleans()):
                alert["enabled"] = True
                if "threshold" not in alert and "threshold" not in default_alerts.get(key, {}):
                    alert["threshold"] = 2
            alerts[key] = alert
    if alerts:
        model["alerts"] = alerts
    return model


def _unique_selections(models: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    """Give models that would select the same series (engine, namespace, served name) a served name of their own."""
    seen: set[tuple[str, str, str]] = set()
    for model in models:
        key = (model.get("engine", defaults.get("engine", "openai-compatible")),
               model.get("namespace", defaults.get("namespace", "")), model.get("served_name", model["name"]))
        if key in seen:
            model["served_name"] = f"{model['name']}/{len(seen)}"
            key = (*key[:2], model["served_name"])
        seen.add(key)


def _separate_pods(models: list[dict[str, Any]], defaults: dict[str, Any]) -> None:
    """Give a model whose pods regex matches another model's pods (`a-.*` and `a-b-0`) a regex of its own."""
    from llmmon.pods import default_regex, overlaps
    from llmmon.regex import example_match

    for _ in range(len(models)):
        rows = []
        for m in models:
            pods = m.get("pods") or default_regex(m["name"])
            rows.append(SimpleNamespace(name=m["name"], namespace=m.get("namespace", defaults.get("namespace")),
                                        pods=pods, pod_example=example_match(pods)))
        found = overlaps(rows)
        if not found:
            return
        for i, _ in found:
            models[i]["pods"] = default_regex(models[i]["name"]).replace("-.*", "-[0-9]+")
    raise AssertionError(f"pods regexes still overlap: {found}")


def _receivers(draw: st.DrawFn) -> dict[str, Any]:
    kinds = {
        "pagerduty": st.one_of(st.builds(lambda f: {"routing_key_file": f}, FREE_TEXT),
                               st.builds(lambda f: {"service_key_file": f}, FREE_TEXT)),
        "slack": st.builds(lambda f, c: {"api_url_file": f, **({"channel": c} if c else {})}, FREE_TEXT,
                           st.none() | FREE_TEXT),
        "webhook": st.sampled_from([{"url": "http://bridge.monitoring.svc:8080/alerts"},
                                    {"url": "https://hooks.example.com/a?b=c&d=%20"}]),
    }
    names = draw(st.lists(IDENTS, min_size=1, max_size=3, unique=True))
    out = {n: {(k := draw(st.sampled_from(sorted(kinds)))): draw(kinds[k])} for n in names}
    if draw(st.integers(0, 4)) == 0:  # a receiver no tier uses: a warning
        out.setdefault(draw(IDENTS), {"webhook": {"url": "http://unused.example.com/"}})
    return out


def _gpu_exporter(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind}
    if draw(st.booleans()):
        out["namespace"] = draw(DNS)
    if draw(st.integers(0, 3)) == 0:
        out["deploy"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        out["profiling"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        out["scrape_interval"] = draw(st.sampled_from(["5s", "30s", "2m"]))
    if draw(st.integers(0, 3)) == 0:
        out["create_namespace"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        out["runtime_class"] = draw(st.sampled_from([None, "nvidia", "gpu-runtime"]))
    if draw(st.integers(0, 4)) == 0:
        out["image"] = "registry.example.com:5000/mirror/exporter"
        out["tag"] = draw(st.sampled_from(["4.2.3-4.1.3-ubuntu22.04", "sha256:" + "a" * 64, "v1"]))
    if draw(st.integers(0, 4)) == 0:
        out["resources"] = {"limits": {"memory": "512Mi"}, "requests": {"cpu": "100m"}}
    return out


def _logging(draw: st.DrawFn) -> dict[str, Any]:
    tail = draw(FREE_TEXT.filter(lambda t: "," not in t))
    source: dict[str, Any] = {"source": "containers"} if draw(st.booleans()) else {
        "source": "files",
        "path": draw(st.sampled_from(["/var/log/llm/*.log", f"/var/log/{tail}", f"/a/*.log, /b/{tail}"]))}
    return {**source,
            "elasticsearch": {"host": draw(st.sampled_from(["elasticsearch", "es.logging.svc", "10.0.0.1"])),
                              "port": draw(st.integers(1, 65535)),
                              "index": draw(st.sampled_from(["llm-logs", "a", "x.y_z-1"]))},
            "retention": {"hot": duration(draw(st.sampled_from([86_400_000, 30 * 86_400_000]))),
                          "cold": duration(draw(st.sampled_from([0, 90 * 86_400_000])))}}
