"""The real OpenTelemetry Collector's `validate --config`: the config against the components compiled in.

llmmon's own models (checks/otel.py) catch mistakes with positions; the collector proves the config loads: every
component exists in the build, every key is one its config struct has, the pipelines are wired. Any collector
build works that has the components the generated config uses (COMPONENTS); llmmon finds it through
$LLMMON_OTELCOL, else `otelcol-contrib` or `otelcol` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from llmmon import tools

TIMEOUT_S = 60
COMMANDS = ("otelcol-contrib", "otelcol")
# Every component a generated config may name (resource only when the spec sets `cluster`).
COMPONENTS = {
    "receivers": ("otlp",),
    "processors": ("memory_limiter", "tail_sampling", "resource", "batch"),
    "exporters": ("otlp",),
    "extensions": ("health_check",),
}
INSTALL_HINT = ("set LLMMON_OTELCOL to a collector binary (`make tools` builds one with the collector builder "
                "where Go is installed), or put otelcol-contrib on PATH")


def find() -> str | None:
    """The collector to run: $LLMMON_OTELCOL ("off" turns the check off), else one on PATH, else None."""
    named = os.environ.get("LLMMON_OTELCOL")
    if named:
        return None if named == "off" else named
    return next((found for c in COMMANDS if (found := shutil.which(c))), None)


def validate(binary: str, config: Path) -> str | None:
    """None when `validate --config` accepts the file, else what the collector said."""
    try:
        done = tools.run([binary, "validate", f"--config={config}"], timeout=TIMEOUT_S)
    except OSError as exc:
        return f"could not be run ({exc.strerror or exc}): {INSTALL_HINT}"
    except subprocess.TimeoutExpired:
        return f"timed out after {TIMEOUT_S}s"
    if done.returncode == 0:
        return None
    return " ".join((done.stderr or done.stdout).split())[-2000:] or f"exit code {done.returncode}"
