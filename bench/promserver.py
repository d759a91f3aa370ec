"""A real Prometheus server for the tests and benchmarks: listening on 127.0.0.1 only, on a free port, with
its own storage folder; stopped by its PID. History is backfilled with `promtool tsdb create-blocks-from
openmetrics` before it starts.

The binary is `prometheus` on PATH (Debian's package, installed by `make tools`) or $LLMMON_PROMETHEUS.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml


def _instant(stamp: str) -> float:
    """Seconds since the epoch of an RFC 3339 time as the HTTP API writes it (nanoseconds, a zone)."""
    match = re.fullmatch(r"(.+?T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", stamp)
    if match is None:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    whole, fraction, zone = match.groups()
    base = datetime.fromisoformat(whole + ("+00:00" if zone == "Z" else zone)).timestamp()
    return base + (float(f"0.{fraction}") if fraction else 0.0)


def binaries() -> list[str]:
    """Every Prometheus binary $LLMMON_PROMETHEUS names (os.pathsep-separated, for a version matrix), else the
    `prometheus` on PATH; empty when there is none."""
    if listed := [p for p in os.environ.get("LLMMON_PROMETHEUS", "").split(os.pathsep) if p]:
        return listed
    found = shutil.which("prometheus")
    return [found] if found else []


def binary() -> str | None:
    """The Prometheus server binary, or None when it is not installed."""
    found = binaries()
    return found[0] if found else None


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Stop a process the harness started, by its PID: SIGTERM, then SIGKILL after 20 s; nothing if it ended."""
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


_PORTS = random.SystemRandom()  # not the `random` module's generator, which a test may seed alike in every worker


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, below the kernel's range of ephemeral ports. A port
    the kernel picks (bind to 0) comes from that range, from which it also gives every outgoing connection its local
    port: between this call and the server binding the port, a client elsewhere on the machine could take it
    ("address already in use"). Below the range only another listener can."""
    low = _ephemeral_low()
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", _PORTS.randrange(10_000, low) if low > 11_000 else 0))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free TCP port on 127.0.0.1 between 10000 and {low}")


def _ephemeral_low(setting: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> int:
    """The first port of the kernel's ephemeral range (32768 when it cannot be read: Linux's default)."""
    try:
        return int(setting.read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def wait_ready(process: subprocess.Popen[bytes] | None, url: str, timeout: float, pause: float = 0.1) -> bool:
    """True once the server at `url` answers /-/ready; False when `process` exits or `timeout` s pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is None or process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(pause)
    return False


def serve(name: str, start: Callable[[int], subprocess.Popen[bytes]], log: Path, port: int = 0,
          timeout: float = 60.0, pause: float = 0.1) -> tuple[int, subprocess.Popen[bytes]]:
    """Start a server with `start(port)` (it writes to `log`) and wait until it answers /-/ready on 127.0.0.1; its
    port and process. `port` 0 picks a free one, and picks again (up to three tries) when another process took it
    first; a given port is tried once. Raises with the end of the log when the server does not come up."""
    for _ in range(1 if port else 3):
        chosen = port or free_port()
        logged = log.stat().st_size if log.exists() else 0  # a log kept across restarts: read this start's part
        process = start(chosen)
        if wait_ready(process, f"http://127.0.0.1:{chosen}", timeout, pause):
            return chosen, process
        stop_process(process)
        if b"address already in use" not in log.read_bytes()[logged:]:
            break
    raise RuntimeError(f"{name} did not start:\n{log.read_text(errors='replace')[-3000:]}")


def backfill(openmetrics: Path, data_dir: Path, max_block: str = "2h", promtool: str = "promtool") -> str:
    """Turn an OpenMetrics file (ending with `# EOF`) into TSDB blocks in `data_dir`; promtool's report."""
    data_dir.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                           f"--max-block-duration={max_block}", str(openmetrics), str(data_dir)],
                          capture_output=True, text=True, check=False, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"promtool could not backfill {openmetrics}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def flattened(rules: Path, folder: Path) -> Path:
    """A copy of a rule file whose groups all run at the global evaluation interval.

    A group evaluated every 30m would keep the probe and the measurement waiting half an hour for its first
    run; its cost per evaluation does not depend on how often it runs (bench/rule_cost.py measures it at the
    global interval and amortises it over its own)."""
    doc = yaml.safe_load(rules.read_text(encoding="utf-8"))
    for g in doc["groups"]:
        g.pop("interval", None)
    path = folder / f"{rules.stem}.flat.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, width=1 << 20), encoding="utf-8")
    return path


class Prometheus:
    """One Prometheus process; use as a context manager (started on enter, stopped by PID on exit)."""

    def __init__(self, folder: Path, rule_files: list[Path], targets: list[str], scrape_interval: str = "1s",
                 evaluation_interval: str = "1s", data_dir: Path | None = None, retention: str = "15d",
                 alertmanagers: list[str] | None = None, exe: str | None = None) -> None:
        self.folder = folder
        self.exe = exe  # default: binary()
        self.alertmanagers = alertmanagers or []  # host:port of Alertmanagers the alerts are sent to
        self.data_dir = data_dir or folder / "data"
        self.rule_files = rule_files
        self.targets = targets
        self.scrape_interval, self.evaluation_interval = scrape_interval, evaluation_interval
        self.retention = retention
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "prometheus.log"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def config(self, with_rules: bool = True) -> dict[str, Any]:
        """prometheus.yml: one scrape job for the targets, the rule files, the intervals."""
        config: dict[str, Any] = {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval,
                       "evaluation_interval": self.evaluation_interval},
            "rule_files": [str(p.resolve()) for p in self.rule_files] if with_rules else [],
            "scrape_configs": [{"job_name": "llm", "static_configs": [{"targets": self.targets}]}]}
        if self.alertmanagers:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": self.alertmanagers}]}]}
        return config

    def _write_config(self, with_rules: bool) -> Path:
        config = self.folder / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(with_rules), sort_keys=False), encoding="utf-8")
        return config

    def load_rules_after_first_scrape(self, timeout: float = 120.0) -> None:
        """Wait until every target has been scraped, then load the rule files (SIGHUP: reload the config).

        Rules evaluated before the first live scrape would see only backfilled history that ends some seconds
        ago, and rate() would extrapolate short: their first recorded values would be off. With Alertmanagers
        configured, it also waits until the server has discovered them all: an alert that fires before that is
        dropped and sent again only after the resend delay (1m), later than alerts that fire a few seconds on,
        which no long-running server does.
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while len([s for s in self.query('up{job="llm"} == 1')]) < len(self.targets):
            if time.monotonic() > deadline:
                raise RuntimeError(f"targets {self.targets} were not scraped within {timeout:.0f} s")
            time.sleep(0.2)
        while len(self.get("/api/v1/alertmanagers")["activeAlertmanagers"]) < len(self.alertmanagers):
            if time.monotonic() > deadline:
                raise RuntimeError(f"alertmanagers {self.alertmanagers} were not discovered within {timeout:.0f} s")
            time.sleep(0.2)
        self.reload(deadline - time.monotonic())

    def reload(self, timeout: float = 120.0) -> None:
        """Write the config with `rule_files` and make the server load it (SIGHUP); return once it serves
        exactly those files' groups."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        self._write_config(with_rules=True)
        os.kill(self.process.pid, signal.SIGHUP)
        wanted = {str(p.resolve()) for p in self.rule_files}
        while {g["file"] for g in self.get("/api/v1/rules")["groups"]} != wanted:
            if time.monotonic() > deadline:
                log = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"prometheus did not load the rules:\n{log}")
            time.sleep(0.1)

    def settle(self, rounds: int = 3, timeout: float = 120.0) -> None:
        """Wait until every rule group has been evaluated `rounds` more times after all of them ran once.

        Groups run concurrently, each on its own timer: an alert group evaluated before the group that records
        its inputs sees nothing until its next cycle. Chained recording rules need one cycle per link.
        """
        deadline = time.monotonic() + timeout

        def last() -> list[str]:
            return [g.get("lastEvaluation", "") for g in self.get("/api/v1/rules")["groups"]]

        while not (stamps := last()) or any(s.startswith("0001-") or not s for s in stamps):  # Go's zero time
            if time.monotonic() > deadline:
                raise RuntimeError(f"rule groups were never all evaluated: {stamps}")
            time.sleep(0.1)
        for _ in range(rounds):
            mark = max(_instant(s) for s in stamps)
            while min(_instant(s) for s in stamps) <= mark:
                stamps = last()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"rule groups stopped being evaluated: {stamps}")
                time.sleep(0.1)

    def start(self, with_rules: bool = True) -> None:
        """Start the server and wait until it is ready (raises with its log when it is not)."""
        exe = self.exe or binary()
        if exe is None:
            raise RuntimeError("prometheus is not installed (Debian: apt-get install prometheus; or set "
                               "LLMMON_PROMETHEUS)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self._write_config(with_rules)
        def launch(port: int) -> subprocess.Popen[bytes]:
            with self.log.open("wb") as log:
                return subprocess.Popen(
                    [exe, f"--config.file={config}", f"--storage.tsdb.path={self.data_dir}",
                     f"--web.listen-address=127.0.0.1:{port}", f"--storage.tsdb.retention.time={self.retention}"],
                    stdout=log, stderr=subprocess.STDOUT)

        self.port, self.process = serve("prometheus", launch, self.log)

    def stop(self) -> None:
        """Stop the process this object started, by its PID: SIGTERM, then SIGKILL after 20 s."""
        if self.process is not None:
            stop_process(self.process)

    def get(self, path: str, **params: str) -> Any:
        """GET an API path; the `data` of a JSON response."""
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}{path}{'?' + query if query else ''}", timeout=120) as response:
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query: the result vector (a scalar comes back as one sample without labels)."""
        params = {"query": expr, **({"time": f"{at:.3f}"} if at is not None else {})}
        data = self.get("/api/v1/query", **params)
        if data["resultType"] == "scalar":
            return [{"metric": {}, "value": data["result"]}]
        result: list[dict[str, Any]] = data["result"]
        return result

    def metrics(self) -> str:
        """The server's own metrics, in the text format."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as response:
            return str(response.read().decode())

    def __enter__(self) -> Prometheus:
        self.start(with_rules=False)
        try:
            self.load_rules_after_first_scrape()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
