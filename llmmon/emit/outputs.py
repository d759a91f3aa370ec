"""Every emitter beyond the Prometheus rules, in one list.

An emitter takes the resolved plan and the generated-by header text (without comment markers) and returns
files as {relative path: text}. Emitters never read files, the clock or the environment. Import emitter
modules inside `emitters()` so that commands which do not generate stay fast.
"""

from __future__ import annotations

from collections.abc import Callable

from llmmon.model import Plan

Emitter = Callable[[Plan, str], dict[str, str]]


def emitters() -> list[Emitter]:
    """The emitters, in the order their files are produced."""
    from llmmon.emit import alertmanager, autoscaling, elasticsearch, fluentd, gpu_exporter, grafana, monitors, otel

    return [fluentd.emit, elasticsearch.emit, otel.emit, alertmanager.emit, gpu_exporter.emit, monitors.emit,
            grafana.emit, autoscaling.emit]
