"""The build cache of dashboards (llmmon/buildcache.py): the same bytes with or without it, no grafanalib import on a
hit, a change to the board or the code builds afresh, and a cache that cannot be used changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import toolcache
import versions

from helpers import EXAMPLE, ROOT, generate, invoke, plan_of
from llmmon import buildcache
from llmmon.checks import promtool as promtool_check

# generate in a fresh interpreter, as the CLI does: whether it imported grafanalib, and the files it built
CHILD = """
import json, sys
from pathlib import Path
from llmmon.compiler import load
from llmmon.generate import build
plan, diagnostics = load(Path(sys.argv[1]))
assert plan is not None, [d.render() for d in diagnostics]
files = build(plan).files
print(json.dumps({"grafanalib": "grafanalib" in sys.modules, "files": files}))
"""


def _generate(spec: Path, cache: str) -> dict[str, Any]:
    env = {**os.environ, "LLMMON_CACHE": cache}
    done = subprocess.run([sys.executable, "-c", CHILD, str(spec)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _dashboards(files: dict[str, str]) -> dict[str, str]:
    return {path: text for path, text in files.items() if path.startswith("grafana/") or "-dashboard-" in path}


def test_a_second_generate_takes_the_dashboards_from_the_cache_byte_for_byte(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    reference = _generate(EXAMPLE, "off")
    first = _generate(EXAMPLE, str(cache))
    again = _generate(EXAMPLE, str(cache))
    assert reference["grafanalib"] and first["grafanalib"]
    assert not again["grafanalib"]  # every board came from the cache
    assert first["files"] == reference["files"] == again["files"]
    assert len(list((cache / "dashboards").iterdir())) == 3  # the example's three roles


def test_a_changed_board_is_built_afresh_and_the_unchanged_ones_are_not(tmp_path: Path) -> None:
    cache = str(tmp_path / "cache")
    _generate(EXAMPLE, cache)
    changed = tmp_path / "example.yaml"  # a latency threshold: drawn on the SRE and ML boards, not on FinOps
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count("latency_p99:        {threshold: 2s,") == 1
    changed.write_text(text.replace("latency_p99:        {threshold: 2s,", "latency_p99:        {threshold: 3s,"),
                       encoding="utf-8")
    after = _generate(changed, cache)
    reference = _generate(changed, "off")
    assert after["grafanalib"]
    assert after["files"] == reference["files"]
    before = _dashboards(_generate(EXAMPLE, "off")["files"])
    moved = {path for path, text in _dashboards(after["files"]).items() if before[path] != text}
    assert moved and moved != set(before)  # some boards changed, some did not
    assert len(list((tmp_path / "cache" / "dashboards").iterdir())) == 3 + len(moved) // 2  # json + its ConfigMap


def test_the_key_covers_the_source_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "probe_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    buildcache.code_digest.cache_clear()
    before = buildcache.key("dashboard", "board", ("probe_pkg",))
    assert buildcache.key("dashboard", "other board", ("probe_pkg",)) != before
    (package / "__init__.py").write_text("VALUE = 2\n", encoding="utf-8")
    buildcache.code_digest.cache_clear()
    assert buildcache.key("dashboard", "board", ("probe_pkg",)) != before
    (package / "__init__.py").write_text("VALUE = 1\n", encoding="utf-8")
    (package / "more.py").write_text("", encoding="utf-8")  # a new module changes it too
    buildcache.code_digest.cache_clear()
    assert buildcache.key("dashboard", "board", ("probe_pkg",)) != before
    buildcache.code_digest.cache_clear()
    # code whose source is not on disk (a zip import, a package that is not there) is never cached
    assert buildcache.key("dashboard", "board", ("probe_pkg_that_is_not_installed",)) is None
    archive = tmp_path / "zipped.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("probe_zip/__init__.py", "VALUE = 1\n")
    monkeypatch.syspath_prepend(str(archive))
    assert buildcache.key("dashboard", "board", ("probe_zip",)) is None
    buildcache.put("dashboards", None, "text")
    assert buildcache.get("dashboards", None) is None
    buildcache.code_digest.cache_clear()


def test_a_cache_that_cannot_be_used_changes_nothing(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    result = _generate(EXAMPLE, str(blocked))
    assert result["grafanalib"]
    assert result["files"] == _generate(EXAMPLE, "off")["files"]
    assert blocked.read_text(encoding="utf-8") == "not a folder"


def test_off_writes_no_cache_and_a_run_keeps_only_the_newest_entries(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMMON_CACHE", "off")
    buildcache.put("dashboards", "x", "text")
    assert buildcache.folder() is None and buildcache.get("dashboards", "x") is None
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path))
    monkeypatch.setattr(buildcache, "KEEP", 3)
    for i in range(5):
        buildcache.put("dashboards", f"entry-{i}", f"text {i}")
        os.utime(tmp_path / "dashboards" / f"entry-{i}", ns=(i * 10**9, i * 10**9))  # written one after another
    assert sorted(p.name for p in (tmp_path / "dashboards").iterdir()) == ["entry-2", "entry-3", "entry-4"]
    assert buildcache.get("dashboards", "entry-4") == "text 4"


def test_compiled_templates_come_from_the_cache_and_a_damaged_entry_is_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    reference = _generate(EXAMPLE, "off")["files"]
    assert _generate(EXAMPLE, str(cache))["files"] == reference
    compiled = sorted((cache / "jinja").iterdir())
    assert len(compiled) >= 3  # the header, the summary and the Fluentd configuration at least
    from jinja2.bccache import bc_magic

    damaged = {compiled[0]: b"j2\x00 not jinja's header"}  # a foreign file, then jinja's header and broken data
    damaged.update({entry: bc_magic + b"\x80\x04 not a pickle" for entry in compiled[1:]})
    for entry, data in damaged.items():
        entry.write_bytes(data)
    assert _generate(EXAMPLE, str(cache))["files"] == reference
    for entry, data in damaged.items():  # written anew
        assert entry.read_bytes() != data and entry.read_bytes().startswith(bc_magic)


OTHER_CHECKS = ("--skip", "grafana", "--skip", "logs", "--skip", "traces", "--skip", "alertmanager",
                "--skip", "kubernetes", "--skip", "checkov")


def _counting_promtool(folder: Path) -> tuple[Path, Path]:
    """A promtool that logs the files of each `test rules` run, then runs the real one: $REAL_PROMTOOL, else the
    oldest supported (through the session's checker cache: a run on files promtool was given before is answered
    from it, tests/toolcache.py)."""
    real = versions.prometheus(versions.PROMETHEUS_IDS[0]).promtool
    calls, script = folder / "calls", folder / "promtool"
    folder.mkdir(parents=True, exist_ok=True)
    run_real = toolcache.command(f'"${{REAL_PROMTOOL:-{real}}}"')
    script.write_text(f'#!/bin/sh\n[ "$1 $2" = "test rules" ] && echo "$*" >> {calls}\n{run_real} "$@"\n',
                      encoding="utf-8")
    script.chmod(0o755)
    return script, calls


def _validate(spec: Path, promtool: Path, calls: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, list[str]]:
    monkeypatch.setenv("LLMMON_PROMTOOL", str(promtool))
    calls.unlink(missing_ok=True)
    result = invoke("validate", str(spec), *OTHER_CHECKS)
    ran = [f for line in calls.read_text(encoding="utf-8").splitlines() for f in line.split()[2:]] \
        if calls.exists() else []
    return result.stdout, ran


def test_validate_runs_a_passed_scenario_again_only_when_its_files_or_promtool_change(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path / "cache"))
    promtool, calls = _counting_promtool(tmp_path / "bin")
    summary, ran = _validate(EXAMPLE, promtool, calls, monkeypatch)
    assert "110 assertions in 19 scenarios passed\n" in summary and len(ran) == 19
    summary, ran = _validate(EXAMPLE, promtool, calls, monkeypatch)
    assert "110 assertions in 19 scenarios passed (19 passed before on the same files, not run again)" in summary
    assert ran == []

    # another runbook address changes the rule file every scenario loads (the alerts' annotations), and none of
    # the test files: all run again
    changed = tmp_path / "changed" / EXAMPLE.name
    changed.parent.mkdir()
    changed.write_text(EXAMPLE.read_text(encoding="utf-8").replace("https://runbooks.example.com/",
                                                                   "https://runbooks.example.org/"), encoding="utf-8")
    before, after = generate(plan_of(EXAMPLE), tmp_path / "before"), generate(plan_of(changed), tmp_path / "after")
    assert before.files[before.rules_file] != after.files[after.rules_file]
    assert all(before.files[rel] == after.files[rel] for rel in before.test_files)
    summary, ran = _validate(changed, promtool, calls, monkeypatch)
    assert "19 scenarios passed\n" in summary and len(ran) == 19, summary

    # another promtool is not taken for the one that passed them: the same script at another path, or the same
    # script running another release
    other, other_calls = _counting_promtool(tmp_path / "other-bin")
    summary, ran = _validate(EXAMPLE, other, other_calls, monkeypatch)
    assert len(ran) == 19 and "not run again" not in summary
    monkeypatch.setenv("REAL_PROMTOOL", versions.prometheus(versions.PROMETHEUS_IDS[1]).promtool)
    summary, ran = _validate(EXAMPLE, promtool, calls, monkeypatch)
    assert len(ran) == 19 and "not run again" not in summary
    monkeypatch.delenv("REAL_PROMTOOL")

    monkeypatch.setenv("LLMMON_CACHE", "off")
    assert len(_validate(EXAMPLE, promtool, calls, monkeypatch)[1]) == 19


def test_a_failed_scenario_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMMON_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    bundle = generate(plan_of(EXAMPLE), out)
    # the outage scenario expects a page the rules can no longer give
    rules = out / bundle.rules_file
    rules.write_text(rules.read_text(encoding="utf-8").replace("alert: ErrorBudgetBurn", "alert: Renamed"),
                     encoding="utf-8")
    outage = {rel: name for rel, name in bundle.test_files.items() if rel.endswith("-outage.test.yaml")}
    for _ in range(2):
        report = promtool_check.test_rules(versions.prometheus(versions.PROMETHEUS_IDS[0]).promtool, out, outage,
                                           bundle.test_counts)
        assert report.remembered == 0 and report.scenarios_passed == 0 and len(report.findings) == 1
    assert not (tmp_path / "cache" / promtool_check.PASSED).exists()
