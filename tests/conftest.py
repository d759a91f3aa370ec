"""Make tests/helpers.py importable as `helpers`; load the Hypothesis profile (HYPOTHESIS_PROFILE=ci|dev|long)."""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

import versions

# ci (the default, what `make test` runs): bounded example counts, see tests/specgen.py EXAMPLES. dev and long
# raise them for local runs: HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_properties.py
for _name in ("ci", "dev", "long"):
    settings.register_profile(_name, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def without_checkov(monkeypatch: pytest.MonkeyPatch) -> None:
    """checkov costs seconds a run and has tests of its own: command-line tests run without it."""
    from llmmon.checks import checkov

    monkeypatch.setattr(checkov, "find", lambda: None)
    monkeypatch.setenv("LLMMON_CHECKOV", "")  # for llmmon run as a process (checkov is not on PATH in CI)


@pytest.fixture(params=versions.PROMETHEUS_IDS)
def prometheus_release(request: pytest.FixtureRequest) -> versions.PrometheusRelease:
    """Each supported Prometheus in turn: the oldest (Debian's 2.42) and the current release (tests/versions.py)."""
    return versions.prometheus(request.param)


@pytest.fixture(params=versions.ALERTMANAGER_IDS)
def alertmanager_release(request: pytest.FixtureRequest) -> versions.AlertmanagerRelease:
    """Each supported Alertmanager in turn: the oldest (Debian's 0.25) and the current release."""
    return versions.alertmanager(request.param)


@pytest.fixture
def with_promtool(prometheus_release: versions.PrometheusRelease,
                  monkeypatch: pytest.MonkeyPatch) -> versions.PrometheusRelease:
    """`llmmon validate` (in-process and as a process) runs this Prometheus version's promtool."""
    monkeypatch.setenv("LLMMON_PROMTOOL", prometheus_release.promtool)
    return prometheus_release


@pytest.fixture
def with_amtool(alertmanager_release: versions.AlertmanagerRelease,
                monkeypatch: pytest.MonkeyPatch) -> versions.AlertmanagerRelease:
    """`llmmon validate` runs this Alertmanager version's amtool."""
    monkeypatch.setenv("LLMMON_AMTOOL", alertmanager_release.amtool)
    return alertmanager_release
