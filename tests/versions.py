"""The tool versions the tests run against: the oldest supported and the current release of each.

Oldest: Debian 12's packages on PATH (Prometheus 2.42, Alertmanager 0.25; `make tools` installs them). Current:
the releases llmmon.toolchain pins and `make tools` builds from Go modules (Prometheus 3, Alertmanager 0.35, the
OpenTelemetry Collector). A test takes a version matrix by asking for a fixture of tests/conftest.py:

    def test_x(prometheus_release: versions.PrometheusRelease) -> None:   # runs once per Prometheus version
        promtool(..., binary=prometheus_release.promtool)

    def test_y(alertmanager_release: versions.AlertmanagerRelease) -> None:  # once per Alertmanager version
        subprocess.run([alertmanager_release.amtool, "check-config", ...]); alertmanager_release.server

A version that is not installed fails its tests with the command that installs it: `make test` builds
everything first, so a missing tool is a broken setup, never a reason to skip.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import pytest

from llmmon import toolchain

OLDEST_PROMETHEUS = "2.42"
OLDEST_ALERTMANAGER = "0.25"
PROMETHEUS_IDS = (f"prometheus-{OLDEST_PROMETHEUS}", f"prometheus-{toolchain.PROMETHEUS.release}")
ALERTMANAGER_IDS = (f"alertmanager-{OLDEST_ALERTMANAGER}", f"alertmanager-{toolchain.ALERTMANAGER.release}")
COLLECTOR = toolchain.OTELCOL_RELEASE


@dataclass(frozen=True)
class PrometheusRelease:
    """promtool and the server of one Prometheus version."""

    version: str
    promtool: str
    prometheus: str

    @property
    def major(self) -> int:
        """2 or 3."""
        return int(self.version.split(".")[0])


@dataclass(frozen=True)
class AlertmanagerRelease:
    """amtool and the server of one Alertmanager version."""

    version: str
    amtool: str
    server: str


def _need(path: object, what: str) -> str:
    if path is None:
        pytest.fail(f"{what} is not installed: run `make tools` (it installs Debian's packages and builds the "
                    f"current releases into {toolchain.cache()})")
    return str(path)


def prometheus(ident: str) -> PrometheusRelease:
    """The Prometheus release of a matrix id."""
    if ident == PROMETHEUS_IDS[0]:
        return PrometheusRelease(OLDEST_PROMETHEUS, _need(shutil.which("promtool"), "promtool (Debian: prometheus)"),
                                 _need(shutil.which("prometheus"), "prometheus (Debian: prometheus)"))
    return PrometheusRelease(toolchain.PROMETHEUS.release,
                             _need(toolchain.find("promtool"), f"promtool {toolchain.PROMETHEUS.release}"),
                             _need(toolchain.find("prometheus"), f"prometheus {toolchain.PROMETHEUS.release}"))


def alertmanager(ident: str) -> AlertmanagerRelease:
    """The Alertmanager release of a matrix id."""
    if ident == ALERTMANAGER_IDS[0]:
        server = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
        return AlertmanagerRelease(OLDEST_ALERTMANAGER, _need(shutil.which("amtool"), "amtool (Debian)"),
                                   _need(server, "prometheus-alertmanager (Debian)"))
    return AlertmanagerRelease(toolchain.ALERTMANAGER.release,
                               _need(toolchain.find("amtool"), f"amtool {toolchain.ALERTMANAGER.release}"),
                               _need(toolchain.find("alertmanager"), f"alertmanager {toolchain.ALERTMANAGER.release}"))


def otelcol() -> str:
    """The OpenTelemetry Collector built with exactly the components llmmon configures."""
    return _need(toolchain.find("otelcol"), f"the OpenTelemetry Collector {COLLECTOR}")
