"""Alertmanager config checks: the real `amtool check-config` and `amtool config routes test` for every tier, and
llmmon's own rules (secrets only through `*_file` fields, the critical-silences-the-rest inhibit rule).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llmmon import tools

TIMEOUT_S = 60
INSTALL_HINT = ("install it with `apt-get install prometheus-alertmanager` (Debian/Ubuntu), or put an amtool "
                "binary on PATH or in LLMMON_AMTOOL")
# Fields of Alertmanager 0.25 that hold a secret inline; each has a *_file twin (or credentials_file) to use instead.
SECRET_FIELDS = frozenset({
    "routing_key", "service_key", "api_url", "slack_api_url", "api_key", "opsgenie_api_key", "victorops_api_key",
    "wechat_api_secret", "telegram_bot_token", "bot_token", "password", "bearer_token", "credentials",
    "auth_password", "auth_secret", "client_secret", "api_secret", "token"})


def find() -> str | None:
    """The amtool to run: $LLMMON_AMTOOL, else the one on PATH, else None."""
    return os.environ.get("LLMMON_AMTOOL") or shutil.which("amtool")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return tools.run(args, timeout=TIMEOUT_S)
    except OSError as exc:  # missing, not executable, not a program for this machine
        return subprocess.CompletedProcess(args, 127, "", f"{args[0]} could not be run ({exc.strerror or exc}): "
                                                          f"{INSTALL_HINT}")
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"{args[0]} timed out after {TIMEOUT_S}s")


def _output(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in (done.stdout + done.stderr).splitlines()]
    return "; ".join(line for line in lines if line and not line.startswith("Warning: --config.file"))


def check_config(amtool: str, path: Path) -> str | None:
    """`amtool check-config`: None when it passes, else what it said."""
    done = _run([amtool, "check-config", str(path)])
    return None if done.returncode == 0 else _output(done) or f"exit code {done.returncode}"


def route(amtool: str, path: Path, labels: dict[str, str]) -> list[str]:
    """The receivers `amtool config routes test` sends a label set to."""
    args = [amtool, "config", "routes", "test", f"--config.file={path}"]
    done = _run(args + [f"{k}={v}" for k, v in sorted(labels.items())])
    if done.returncode != 0:
        raise RuntimeError(_output(done) or f"exit code {done.returncode}")
    return [r for r in done.stdout.strip().split(",") if r]


def _walk(node: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key), value
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))


def own_rules(config: Any) -> list[str]:
    """Secrets only through files, and a critical alert of a model silences its warning and info alerts."""
    found = []
    for path, value in _walk(config):
        key = path[-1]
        if isinstance(key, str) and key in SECRET_FIELDS and value not in (None, ""):
            dotted = ".".join(str(p) for p in path)
            found.append(f"{dotted}: a secret written inline; use {key}_file (the file holds the secret)")
    rules = (config.get("inhibit_rules") or []) if isinstance(config, dict) else []
    if not any(isinstance(r, dict) and "severity=critical" in _matchers(r.get("source_matchers"))
               and "severity=~warning|info" in _matchers(r.get("target_matchers"))
               and "model" in (r.get("equal") or []) for r in rules):
        found.append("inhibit_rules: no rule lets a model's critical alert silence its warning and info alerts")
    return found


def _matchers(matchers: Any) -> set[str]:
    """Matchers without quotes and spaces: `severity = "critical"` reads as `severity=critical`."""
    return {str(m).replace('"', "").replace(" ", "") for m in matchers or []}
