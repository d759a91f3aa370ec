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


# -- the onset bound of the fast page ---------------------------------------------------------------------------
# The 1h window of the fast page averages the recorded 5m rates: the newest minutes of an outage weigh little in
# that average, so a total outage takes 3 minutes to cross 14.4 × the budget there. The 1h error ratio has a lower
# bound that is read at once: errors over the last 5m are among those of the last hour, so
#     ratio(1h) ≥ errors seen over 5m ÷ requests over 1h.
# Both parts are read from recorded 5m rates, so each is kept on its safe side:
#  - numerator: rate() extrapolates the increase it saw over its samples' span to the whole 5m; that span is at
#    least 5m − the scrape interval, so errors5m × (5m − scrape) never exceeds the errors actually seen;
#  - denominator: the 1h average of 5m rates counts the requests of the last 5m partly (a 5m rate taken a minute
#    ago saw only the first of them), never more than once too few, so requests1h × 1h + requests5m × 5m is at
#    least the requests of the hour.
# The alert keeps its short window and its minimum request rate: the bound only lets the long window say "yes"
# sooner when it is sure. A steady total outage of a 99.9% objective crosses 14.4 × 0.1% after one minute of a 1m
# scrape (bound 1/65 of an hour's requests at worst against a threshold of 1.44%); a 99.5% objective's 7.2% lies
# beyond any bound a steady 5m can give (4/65), so its term is left out.
ONSET_SCRAPE_FLOOR = Duration.parse("1m")  # the bound assumes scrapes no sparser than this or the spec's interval
ONSET_MAX_SCRAPE = Duration.parse("75s")  # sparser than this a 5m rate holds fewer than 4 samples: no bound


@dataclass(frozen=True)
class Onset:
    """The onset bound of a pair: ratio(long) ≥ errors(short) ÷ (long_weight × requests(long) + short_weight ×
    requests(short)), every rate being a recorded 5m-based rate per second."""

    seen: Duration  # the part of the short window a rate is sure to have seen
    long_weight: float  # long ÷ seen
    short_weight: float  # short ÷ seen

    def ceiling(self) -> float:
        """The largest bound a steady total outage gives: above it, a threshold is never reached by the bound."""
        return 1 / (self.long_weight + self.short_weight)


def onset(pair: BurnWindow, scrape: Duration) -> Onset | None:
    """The onset bound of a pair at a scrape interval; None for pairs other than the live one whose short window
    is the base 5m window, or scrapes too sparse for it."""
    if not live(pair) or pair.short != BASE_WINDOW or scrape.ms > ONSET_MAX_SCRAPE.ms:
        return None
    seen = BASE_WINDOW.ms - max(scrape.ms, ONSET_SCRAPE_FLOOR.ms)
    return Onset(Duration(seen), round(pair.long.ms / seen, 6), round(pair.short.ms / seen, 6))


def slo_histogram(engine: Preset, kind: str) -> Histogram | None:
    """The histogram an SLO kind is measured on, if the engine has it (None for availability)."""
    attr = SLO_HISTOGRAMS.get(kind)
    return getattr(engine, attr, None) if attr else None
