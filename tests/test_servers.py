"""The real servers the tests start (bench/promserver.py, bench/amserver.py) get a port nothing else takes first.

A port the kernel hands out for "any free port" comes from its ephemeral range, the one every outgoing connection
on the machine takes its local port from: in a parallel run, a client of another test took an Alertmanager's port
between the pick and the bind ("bind: address already in use", two live-routing tests lost). Ports are now picked
below that range, and a server that still finds its port taken starts again on another.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import versions

from bench import amserver, fleetserver, promserver


def test_a_free_port_is_below_the_ephemeral_range_and_can_be_bound() -> None:
    low = promserver._ephemeral_low()
    ports = {promserver.free_port() for _ in range(20)}
    assert all(10_000 <= port < low for port in ports)
    assert len(ports) > 1  # picked at random, not one port every worker would also pick
    with socket.socket() as s:
        s.bind(("127.0.0.1", ports.pop()))


def test_the_ephemeral_range_is_read_from_the_kernel_setting(tmp_path: Path) -> None:
    setting = tmp_path / "ip_local_port_range"
    setting.write_text("40000\t60999\n", encoding="ascii")
    assert promserver._ephemeral_low(setting) == 40_000
    assert promserver._ephemeral_low(tmp_path / "missing") == 32_768
    setting.write_text("garbage\n", encoding="ascii")
    assert promserver._ephemeral_low(setting) == 32_768


@pytest.fixture
def taken_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[int, list[int]]]:
    """A port another process listens on, handed out first by free_port; the ports handed out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    taken = listener.getsockname()[1]
    real, given = promserver.free_port, []

    def first_taken() -> int:
        given.append(taken if not given else real())
        return given[-1]

    monkeypatch.setattr(promserver, "free_port", first_taken)  # what every server's start (promserver.serve) calls
    yield taken, given
    listener.close()


def test_an_alertmanager_whose_port_was_taken_starts_on_another(tmp_path: Path,
                                                                taken_port: tuple[int, list[int]]) -> None:
    taken, given = taken_port
    config = tmp_path / "alertmanager.yaml"
    config.write_text("route: {receiver: none}\nreceivers: [{name: none}]\n", encoding="utf-8")
    server = versions.alertmanager(versions.ALERTMANAGER_IDS[0]).server
    with amserver.Alertmanager(tmp_path / "am", config, server) as am:
        assert len(given) == 2 and am.port == given[1] != taken
        assert am.api("status")["config"]["original"]


def test_a_prometheus_whose_port_was_taken_starts_on_another(tmp_path: Path,
                                                             taken_port: tuple[int, list[int]]) -> None:
    taken, given = taken_port
    release = versions.prometheus(versions.PROMETHEUS_IDS[0])
    with promserver.Prometheus(tmp_path / "prom", rule_files=[], targets=[], exe=release.prometheus) as prom:
        assert len(given) == 2 and prom.port == given[1] != taken
        assert prom.query("vector(1)")[0]["value"][1] == "1"


def test_a_fleet_prometheus_whose_port_was_taken_starts_on_another_then_restarts_on_its_own(
        tmp_path: Path, taken_port: tuple[int, list[int]]) -> None:
    taken, given = taken_port
    release = versions.prometheus(versions.PROMETHEUS_IDS[0])
    prom = fleetserver.FleetPrometheus(tmp_path / "central", rule_files=[], targets=[], exe=release.prometheus)
    with prom:
        assert len(given) == 2 and prom.port == given[1] != taken
    prom.start()  # a restarted central server: the same port, no new pick
    try:
        assert len(given) == 2 and prom.query("vector(1)")[0]["value"][1] == "1"
    finally:
        prom.stop()
