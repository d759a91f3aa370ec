"""Make tests/helpers.py importable as `helpers`; load the Hypothesis profile (HYPOTHESIS_PROFILE=ci|dev|long)."""

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

import scheduling
import toolcache
import versions

# ci (the default, what `make test` runs): bounded example counts, see tests/specgen.py EXAMPLES. dev and long
# raise them for local runs: HYPOTHESIS_PROFILE=long .venv/bin/pytest tests/test_properties.py
for _name in ("ci", "dev", "long"):
    settings.register_profile(_name, deadline=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# Every Go tool the tests start collects garbage less often, as `llmmon validate` has its promtool tests do
# (llmmon.tools.go_checker_env, tests/test_go_checker_env.py): the Prometheus servers, backfills and short checks
# besides. Their runs last seconds to minutes within a few hundred MB; without this the suite cost about a
# CPU-minute more (one pair of full runs: 15.5 against 14.4 CPU-minutes). What they compute is the same; GOGC set
# by the caller wins.
os.environ.setdefault("GOGC", "400")


def _session_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's temporary root, the same for every xdist worker (each worker's root is a folder of it)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@pytest.fixture(scope="session", autouse=True)
def _one_checker_run_per_input(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A checker (promtool test rules, tsc, checkov) runs once per distinct input in the session, shared by the
    xdist workers (tests/toolcache.py). LLMMON_TEST_CHECKER_CACHE=off runs every one every time."""
    if os.environ.get("LLMMON_TEST_CHECKER_CACHE") == "off":
        yield
        return
    from llmmon import tools

    folder = _session_root(tmp_path_factory) / "checker-cache"
    folder.mkdir(exist_ok=True)
    original = tools.run
    tools.run = toolcache.cached(original, folder, toolcache.start(folder))
    yield
    tools.run = original
    os.environ.pop(toolcache.FOLDER, None)


@pytest.fixture(scope="session", autouse=True)
def _build_cache_of_the_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """llmmon's build cache (dashboards, llmmon/buildcache.py) in a folder of the session, shared by the workers,
    not in the user's ~/.cache: every test that generates a spec again takes its boards from it, so a key that
    missed an input would give some test a stale board."""
    previous = os.environ.get("LLMMON_CACHE")
    os.environ["LLMMON_CACHE"] = str(_session_root(tmp_path_factory) / "build-cache")
    yield
    if previous is None:
        os.environ.pop("LLMMON_CACHE", None)
    else:
        os.environ["LLMMON_CACHE"] = previous


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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under xdist, the tests marked `waits(seconds)` start first, spread over the workers (tests/scheduling.py);
    a module marked as a whole is one group, kept on one worker, which starts its servers once."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    waits: list[tuple[str, float] | None] = []
    for item in items:
        marker = item.get_closest_marker("waits")
        module = item.getparent(pytest.Module)
        whole = module is not None and any(m.name == "waits" for m in module.own_markers)
        waits.append(None if marker is None else
                     (module.nodeid if whole and module is not None else item.nodeid, float(marker.args[0])))
    items[:] = [items[i] for i in scheduling.order(waits, workers)]
