"""A reference exporter written with prometheus_client: the series of synthetic LLM models, live.

Values are computed from each target's timeline at scrape time, so a scrape continues exactly where
backfilled history (bench/openmetrics.py, same timelines) ends. It serves the Prometheus text format on
127.0.0.1 only.

Run by hand: .venv/bin/python -m bench.exporter [--spec specs/example.yaml] [--port 9400] [--incident NAME]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bench.traffic import Series, Target, series


class TrafficCollector(Collector):
    """Collects every series of the targets at the clock's current time."""

    def __init__(self, targets: Sequence[Target], clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.items = [(target, series(target)) for target in targets]

    def collect(self) -> Iterable[Metric]:
        """The metric families, one per family name, with every sample of the targets."""
        now = self.clock()
        families: dict[str, Metric] = {}
        for target, items in self.items:
            for s in items:
                value = s.value(target.timeline, now)
                if value is None:
                    continue
                family = families.get(s.family)
                if family is None:
                    family = families[s.family] = Metric(s.family, _help(s), s.family_type)
                family.add_sample(s.name, dict(s.labels), value)
        return list(families.values())


def _help(s: Series) -> str:
    return f"synthetic {s.family} of the llmmon reference exporter"


class Exporter:
    """The collector served over HTTP on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, targets: Sequence[Target], port: int = 0, clock: Callable[[], float] = time.time,
                 nice: int = 0) -> None:
        """`nice` > 0 renders scrapes at that CPU priority: a benchmark of the server beside it then measures the
        server, not the server waiting for a core while Python renders tens of thousands of series."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = TrafficCollector(targets, clock)
        self.registry.register(self.collector)
        registry = self.registry

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                if nice:
                    os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)  # this request's thread only
                body = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="llmmon-exporter", daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        """host:port of the exporter, as a Prometheus target."""
        return f"127.0.0.1:{self.port}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Exporter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    """Serve the fleet of a spec (optionally in one of the incidents, starting now) until interrupted."""
    from bench import scenarios

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spec", default=str(scenarios.EXAMPLE))
    parser.add_argument("--port", type=int, default=9400)
    parser.add_argument("--incident", default=None, help="an incident of bench/incidents, starting now")
    args = parser.parse_args(argv)
    now = time.time()
    fleet = scenarios.load_fleet()
    incident = scenarios.load(args.incident) if args.incident else None
    targets = scenarios.targets(scenarios.plan(args.spec), fleet, incident, origin=now - 3600, start=now)
    with Exporter(targets, args.port) as exporter:
        print(f"serving {sum(len(series(t)) for t in targets)} series of {len(targets)} models on "
              f"http://{exporter.address}/metrics (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
