"""What llmmon.instrument costs a serving process, against the bare prometheus_client calls it replaces.

Per request: the bare calls a hand-written service makes (running gauge up and down, the request counter by status,
the latency histogram, two token counters, each through `.labels()`) against `with metrics.request(model)`.
Per streamed token: a hand-written loop (TTFT at the first item, a count, one counter update at the end) against
`for item in metrics.stream(model, items)`. CPU time of this process (time.process_time), best of a few rounds,
so a busy machine inflates neither side much. Targets (issue 18): ≤ 2× the bare calls per request, ≤ 1 µs extra
per streamed token.

    .venv/bin/python -m bench.instrument [--requests 20000] [--tokens 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from llmmon import contract as c
from llmmon.instrument import LLMMetrics

MODEL = "llama-3-70b"


class Bare:
    """The seed contract's metrics declared by hand, used as the design's snippets use them."""

    def __init__(self) -> None:
        r = CollectorRegistry()
        self.requests = Counter(c.REQUESTS, "requests", [c.MODEL_LABEL, c.STATUS_LABEL], registry=r)
        self.duration = Histogram(c.DURATION, "latency", [c.MODEL_LABEL], buckets=c.LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram(c.TTFT, "ttft", [c.MODEL_LABEL], buckets=c.TTFT_BUCKETS, registry=r)
        self.tokens = Counter(c.TOKENS, "tokens", [c.MODEL_LABEL, c.TOKEN_TYPE_LABEL], registry=r)
        self.running = Gauge(c.RUNNING, "running", [c.MODEL_LABEL], registry=r)
        self.children = (self.running.labels(MODEL), self.requests.labels(MODEL, c.SUCCESS),
                         self.duration.labels(MODEL), self.tokens.labels(MODEL, c.INPUT),
                         self.tokens.labels(MODEL, c.OUTPUT))

    def request(self) -> None:
        start = time.perf_counter()
        self.running.labels(MODEL).inc()
        self.requests.labels(MODEL, c.SUCCESS).inc()
        self.duration.labels(MODEL).observe(time.perf_counter() - start)
        self.tokens.labels(MODEL, c.INPUT).inc(12)
        self.tokens.labels(MODEL, c.OUTPUT).inc(40)
        self.running.labels(MODEL).dec()

    def request_cached(self) -> None:
        """The same updates on label children looked up once, as a careful hand-written service would."""
        children = self.children
        start = time.perf_counter()
        children[0].inc()
        children[1].inc()
        children[2].observe(time.perf_counter() - start)
        children[3].inc(12)
        children[4].inc(40)
        children[0].dec()

    def stream(self, items: Iterable[int]) -> None:
        start = time.perf_counter()
        n = 0
        for _ in items:
            if n == 0:
                self.ttft.labels(MODEL).observe(time.perf_counter() - start)
            n += 1
        self.tokens.labels(MODEL, c.OUTPUT).inc(n)


def _request(m: LLMMetrics) -> Callable[[], None]:
    def run() -> None:
        with m.request(MODEL) as req:
            req.tokens(input=12, output=40)
    return run


def _stream(m: LLMMetrics) -> Callable[[Iterable[int]], None]:
    def run(items: Iterable[int]) -> None:
        for _ in m.stream(MODEL, items):
            pass
    return run


def cpu(fn: Callable[[], None], times: int, rounds: int) -> float:
    """Best CPU seconds per call over `rounds` rounds of `times` calls."""
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(times):
            fn()
        best = min(best, (time.process_time() - start) / times)
    return best


def per_token(run: Callable[[Iterable[int]], None], tokens: int, streams: int, rounds: int) -> float:
    """CPU seconds per streamed item: a long stream minus an empty one (the per-request part), per item."""
    items = list(range(tokens))
    long = cpu(lambda: run(items), streams, rounds)
    empty = cpu(lambda: run(()), streams * 10, rounds)
    return (long - empty) / tokens


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    bare = Bare()
    plain = LLMMetrics(tracing_enabled=False)
    api = LLMMetrics()  # OpenTelemetry API without an SDK: spans are no-ops
    from opentelemetry.sdk.trace import TracerProvider  # recording spans, exported nowhere

    sdk = LLMMetrics(tracer_provider=TracerProvider())
    n, rounds = args.requests, args.rounds
    rows = [("per request", "bare prometheus_client calls", cpu(bare.request, n, rounds), None),
            ("per request", "bare calls, label children cached", cpu(bare.request_cached, n, rounds), None),
            ("per request", "metrics.request(), tracing off", cpu(_request(plain), n, rounds), "≤ 2× bare")]
    rows.append(("per request", "metrics.request(), OTel API, no SDK", cpu(_request(api), n, rounds), None))
    rows.append(("per request", "metrics.request(), OTel SDK spans", cpu(_request(sdk), n // 4, rounds), None))

    def loop(items: Iterable[int]) -> None:
        for _ in items:
            pass

    tokens = (("per streamed token", "bare iteration, no metrics", per_token(loop, args.tokens, args.streams, rounds)),
              ("per streamed token", "hand-written TTFT + count", per_token(bare.stream, args.tokens, args.streams,
                                                                            rounds)),
              ("per streamed token", "metrics.stream()", per_token(_stream(plain), args.tokens, args.streams, rounds)))
    bare_request, bare_token = rows[0][2], tokens[1][2]
    print(f"{'':<20} {'':<38} {'CPU µs':>8}  {'vs bare':>9}  target")
    for what, how, seconds, target in rows:
        print(f"{what:<20} {how:<38} {seconds * 1e6:8.2f}  {seconds / bare_request:8.2f}×  {target or ''}")
    for what, how, seconds in tokens:
        extra = (seconds - bare_token) * 1e6
        target = "≤ 1 µs extra" if how == "metrics.stream()" else ""
        print(f"{what:<20} {how:<38} {seconds * 1e6:8.3f}  {extra:+8.3f}µs  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
