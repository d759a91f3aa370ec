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

from helpers import EXAMPLE, ROOT
from llmmon import buildcache

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
