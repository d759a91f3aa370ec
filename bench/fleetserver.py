"""Prometheus servers of a fleet for the tests: cluster servers with `cluster` external labels remote-writing to a
central server that runs the remote-write receiver. Same harness as bench/promserver.py (127.0.0.1, free ports,
own storage, stopped by PID); a central server can be stopped and started again on the same port and storage,
as a restarted central Prometheus is.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from bench.promserver import Prometheus, binary, serve


class FleetPrometheus(Prometheus):
    """A Prometheus with extra prometheus.yml keys (external labels, remote write) and command-line flags."""

    def __init__(self, folder: Path, rule_files: list[Path], targets: list[str], extra: dict[str, Any] | None = None,
                 flags: list[str] | None = None, agent: bool = False, **kwargs: Any) -> None:
        super().__init__(folder, rule_files, targets, **kwargs)
        self.extra = extra or {}
        self.flags = flags or []
        self.agent = agent  # agent mode: scrapes and remote-writes only (no rules, no query API)

    def config(self, with_rules: bool = True) -> dict[str, Any]:
        """The harness's config with the extra keys merged in (their `global` into its `global`)."""
        config = super().config(with_rules and not self.agent)
        if self.agent:
            config["global"].pop("evaluation_interval", None)
            config.pop("rule_files", None)
        for key, value in self.extra.items():
            config[key] = {**config[key], **value} if key == "global" else value
        if not self.targets:
            config["scrape_configs"] = []
        return config

    def start(self, with_rules: bool = True) -> None:
        """Start the server (on its previous port when it ran before) and wait until it is ready."""
        exe = self.exe or binary()
        if exe is None:
            raise RuntimeError("prometheus is not installed (Debian: apt-get install prometheus; or set "
                               "LLMMON_PROMETHEUS)")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self._write_config(with_rules)
        # a server whose remote-write receiver is gone (stopped by the test, or before it at teardown) would keep
        # trying to flush its queue on SIGTERM for a minute (the default deadline): give up after a second
        storage = ["--storage.remote.flush-deadline=1s"]
        storage += [f"--storage.agent.path={self.data_dir}"] if self.agent else [
            f"--storage.tsdb.path={self.data_dir}", f"--storage.tsdb.retention.time={self.retention}"]

        def launch(port: int) -> subprocess.Popen[bytes]:
            with self.log.open("ab") as log:  # kept across restarts
                return subprocess.Popen(
                    [exe, f"--config.file={config}", *storage, f"--web.listen-address=127.0.0.1:{port}",
                     *self.flags], stdout=log, stderr=subprocess.STDOUT)

        # a restarted server keeps its port (the address its clusters remote-write to)
        self.port, self.process = serve("prometheus", launch, self.log, self.port)

    def load_rules(self) -> None:
        """Load the rule files now (the central server scrapes nothing, so there is no first scrape to wait for)."""
        self.reload()

    def alerts(self) -> list[dict[str, Any]]:
        """The server's active alerts (pending and firing), each with labels, annotations and state."""
        found: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return found
