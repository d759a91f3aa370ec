"""A real Alertmanager for the tests: listening on 127.0.0.1 only, on a free port, with its own storage folder and
no cluster peers; stopped by its PID.

The binary is $LLMMON_ALERTMANAGER, else Debian's `prometheus-alertmanager` or an `alertmanager` on PATH.
`binaries()` lists every binary named in $LLMMON_ALERTMANAGER (paths separated by the OS path separator), so a
suite can run once per Alertmanager version.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from bench.promserver import serve, stop_process

ENV = "LLMMON_ALERTMANAGER"


def binaries(env: str = ENV, names: tuple[str, ...] = ("prometheus-alertmanager", "alertmanager")) -> list[str]:
    """Every binary $env names (os.pathsep-separated), else the first of `names` on PATH; empty when none."""
    if listed := [p for p in os.environ.get(env, "").split(os.pathsep) if p]:
        return listed
    found = next((path for name in names if (path := shutil.which(name))), None)
    return [found] if found else []


def binary() -> str | None:
    """The Alertmanager binary to run, or None when it is not installed."""
    found = binaries()
    return found[0] if found else None


class Alertmanager:
    """One Alertmanager process; use as a context manager (started on enter, stopped by PID on exit)."""

    def __init__(self, folder: Path, config: Path, exe: str | None = None) -> None:
        self.folder, self.config, self.exe = folder, config, exe or binary()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "alertmanager.log"

    @property
    def address(self) -> str:
        """host:port, as Prometheus' alerting config names it."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://{self.address}"

    def start(self) -> None:
        """Start the server and wait until it is ready (raises with its log when it is not)."""
        exe = self.exe
        if exe is None:
            raise RuntimeError("Alertmanager is not installed (Debian: apt-get install prometheus-alertmanager; or set "
                               f"{ENV})")
        self.folder.mkdir(parents=True, exist_ok=True)

        def launch(port: int) -> subprocess.Popen[bytes]:
            with self.log.open("wb") as log:
                return subprocess.Popen(
                    [exe, f"--config.file={self.config}", f"--storage.path={self.folder / 'data'}",
                     f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=debug"],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        self.port, self.process = serve("alertmanager", launch, self.log, timeout=30, pause=0.05)

    def stop(self) -> None:
        """Stop the process this object started, by its PID: SIGTERM, then SIGKILL after 20 s."""
        if self.process is not None:
            stop_process(self.process)

    def api(self, path: str, body: Any = None) -> Any:
        """GET (or POST `body` to) an /api/v2 path; the decoded JSON."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}/api/v2/{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def __enter__(self) -> Alertmanager:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
