"""Make tests/helpers.py importable as `helpers`; load the Hypothesis profile (HYPOTHESIS_PROFILE=ci|dev|long)."""

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))

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
