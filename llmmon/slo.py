"""Domain tables of SLO alerting, as data: burn-rate window pairs and the recorded windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmmon.units import Duration

if TYPE_CHECKING:
    from llmmon.engines import Histogram, Preset

# SLO kind measured on a histogram → the engine preset's attribute holding it: share of requests (latency,
# ttft) or of output-token gaps (itl, inter-token latency) at or under the threshold's bucket
SLO_HISTOGRAMS = {"latency": "latency", "ttft": "ttft", "itl": "itl"}


@dataclass(frozen=True)
class BurnWindow:
    """A multi-window burn-rate pair: fires when both windows burn faster than the factor."""

    long: Duration
    short: Duration
    budget_fraction: float  # share of the whole budget spent when this pair fires
    tier: str  # "critical" for page pairs, "warning" for ticket pairs
    for_: Duration

    def factor(self, slo_window: Duration) -> float:
        """Burn-rate factor for an SLO window: budget_fraction × window / long window."""
        return round(self.budget_fraction * slo_window.ms / self.long.ms, 4)


BASE_WINDOW = Duration.parse("5m")

# Google SRE Workbook, "Alerting on SLOs": two page pairs, ticket pairs. Pages have no `for`: the short window
# already debounces them, and a total outage pages within 3 minutes (2m `for` made it 5; bench/alerting.py).
# The 6h/30m ticket at 2.5% opens a ticket for a 5x burn (0.5% errors on 99.9%) within 4 hours, where the
# 1d and 3d pairs alone need 14. It precedes the 6h page pair: readers keyed by long window see the page factor.
BURN_WINDOWS = (
    BurnWindow(Duration.parse("1h"), Duration.parse("5m"), 0.02, "critical", Duration.parse("0s")),
    BurnWindow(Duration.parse("6h"), Duration.parse("30m"), 0.025, "warning", Duration.parse("15m")),
    BurnWindow(Duration.parse("6h"), Duration.parse("30m"), 0.05, "critical", Duration.parse("0s")),
    BurnWindow(Duration.parse("1d"), Duration.parse("2h"), 0.10, "warning", Duration.parse("15m")),
    BurnWindow(Duration.parse("3d"), Duration.parse("6h"), 0.10, "warning", Duration.parse("15m")),
)

# How often each window is recomputed. The windows of the fast page pair (1h and 5m: a total outage pages in
# minutes) at every evaluation, from the 5m rates. Other windows up to FAST_LIMIT (30m, 2h, 6h) by a group of their
# own every MEDIUM_EVERY, from the same 5m rates: a 6h average reads 720 samples at a 30s evaluation, and the pairs
# reading them (a 6x burn, hours to reach) need not be faster. Longer windows (1d, 3d, the SLO window) every
# SAMPLE_EVERY, averaging a copy of the 30m window taken at that cadence: 48 samples a day instead of 2880.
# Alerts read each window where it is recorded, so a slower group delays a pair by its cadence at most; ticket
# pairs hold for 15m anyway.
LIVE = (BASE_WINDOW, BURN_WINDOWS[0].long)  # the fast page pair (1h/5m)
MEDIUM_EVERY = Duration.parse("5m")
SAMPLE_EVERY = Duration.parse("30m")
FAST_LIMIT = Duration.parse("6h")
# The pairs reading windows recomputed less often than every evaluation are evaluated this often, and so are the
# copies of those windows dashboards read (under the names without `_every...`), the availability and the budget.
SLOW_PAIR_EVERY = Duration.parse("2m")


def cadence(window: Duration) -> Duration | None:
    """How often a window is recomputed: None for every evaluation."""
    if window in LIVE:
        return None
    return MEDIUM_EVERY if window.ms <= FAST_LIMIT.ms else SAMPLE_EVERY


def live(pair: BurnWindow) -> bool:
    """Whether both windows of a pair are recomputed at every evaluation (its alert is then evaluated as often)."""
    return cadence(pair.long) is None and cadence(pair.short) is None


def recorded_windows(slo_window: Duration) -> tuple[Duration, ...]:
    """Every window an SLO ratio is recorded for: the burn-rate windows and the SLO window itself."""
    windows = {BASE_WINDOW, slo_window}
    for pair in BURN_WINDOWS:
        windows.update((pair.long, pair.short))
    return tuple(sorted(windows))


# -- the edges of a window averaged from 5m rates -----------------------------------------------------------------
# A window W averaged from the recorded 5m rates (avg_over_time(x:rate5m[W])) weighs the newest 5 minutes of
# traffic less than the rest: a rate recorded a minute ago saw only the first of them. With the rates recorded
# every e (the evaluation interval) the newest minutes weigh 1/n, 2/n … of a full minute (n = 5m / e), so the
# average holds (5m − e) / 2 too little of them, and as much too much of the minutes just before W. It lags: a
# step from 0 to 10% errors took 11 minutes to reach 14.4 × a 99.9% budget in the 1h window, against 9 for the
# hour's exact rate (Sloth's rate(x[1h])). The edge term puts both back, from the newest 5m rate and the 5m rate
# one window ago:
#     x:rateW = avg_over_time(x:rate5m[W]) + (x:rate5m − x:rate5m offset W) × EDGE / W
# with EDGE = (5m − 1m) / 2. At a 1m evaluation interval it is exact for steady traffic and for any step more than
# 5 minutes old (Prometheus 2; Prometheus 3 leaves the oldest sample out of a range, which reads 1/60 more there);
# in the first five minutes of a step it falls short of the exact rate (a burst's minutes count 0.6 … 1.4 times
# while it is among the newest five, newest first, and exactly after). At a 30s interval (kube-prometheus-stack)
# it adds 15 s of traffic too little: the estimate never counts an onset early. Where the rate one window ago is
# missing (a model younger than the window) it counts as 0, which it was. Windows averaged from the 30m samples
# (1d, 3d, the SLO window) tile them without overlap: no edge term.
EDGE = Duration.parse("2m")


def edge_weight(window: Duration) -> float:
    """The weight of the edge term of a window averaged from 5m rates: EDGE ÷ the window."""
    return round(EDGE.ms / window.ms, 6)


def slo_histogram(engine: Preset, kind: str) -> Histogram | None:
    """The histogram an SLO kind is measured on, if the engine has it (None for availability)."""
    attr = SLO_HISTOGRAMS.get(kind)
    return getattr(engine, attr, None) if attr else None
