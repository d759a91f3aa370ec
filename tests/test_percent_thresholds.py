"""Percent fields refuse a bare number below 1 (a ratio written where a percentage belongs), naming the percent
that was probably meant; a `%` written out keeps a small percentage."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from specvariants import example_data, plan_with
from typer.testing import CliRunner

from llmmon.cli import app
from llmmon.diagnostics import ExitCode


def _spec(tmp: Path, change: Any) -> Path:
    data = example_data()
    change(data)
    path = tmp / "spec.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _set_error_rate(value: Any) -> Any:
    return lambda d: d["defaults"]["alerts"]["error_rate"].update(threshold=value)


def _set_gpu_low(value: Any) -> Any:
    return lambda d: d["models"][1].setdefault("alerts", {}).update(gpu_utilization_low={"threshold": value})


def _set_sampling(value: Any) -> Any:
    return lambda d: d["tracing"].update(sampling=value)


@pytest.mark.parametrize(("change", "expected"), [
    (_set_error_rate(0.01), "defaults.alerts.error_rate.threshold: 0.01 looks like a ratio; "
                            "thresholds are percentages (did you mean 1%? write \"0.01%\" for 0.01 percent)"),
    (_set_gpu_low(0.3), "models.1.alerts.gpu_utilization_low.threshold: model 'qwen2-7b': 0.3 looks like a ratio; "
                        "thresholds are percentages (did you mean 30%? write \"0.3%\" for 0.3 percent)"),
    (_set_sampling(0.5), "tracing.sampling: 0.5 looks like a ratio; sampling is a percentage (did you mean 50%? "
                         "write \"0.5%\" for 0.5 percent)"),
])
def test_a_ratio_in_a_percent_field_exits_2_with_the_percent_meant_and_writes_nothing(
        tmp_path: Path, change: Any, expected: str) -> None:
    spec, out = _spec(tmp_path, change), tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", str(spec), "-o", str(out)])
    assert result.exit_code == ExitCode.USAGE
    lines = [line for line in result.output.splitlines() if "looks like a ratio" in line]
    assert len(lines) == 1, result.output
    where, message = lines[0].split(" ", 1)
    assert re.fullmatch(rf"{re.escape(str(spec))}:\d+:\d+:", where)
    assert message == expected
    assert not out.exists()


def test_a_percent_written_with_its_sign_stays_a_small_percentage(tmp_path: Path) -> None:
    plan = plan_with(tmp_path, _set_error_rate("0.5%"))
    assert {a.threshold for m in plan.models for a in m.alerts if a.key == "error_rate"} == {0.005}
