"""The output directory contract: all-or-nothing writes, only changed files, no strays, user files untouched.

Everything is written into tmp_path; the bundles come from `build` on specs/example.yaml (or a copy of it).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmmon import output
from llmmon.compiler import load
from llmmon.generate import Bundle, build
from llmmon.model import Plan

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "specs" / "example.yaml"
OLD_TIME_NS = 1_000_000_000 * 10**9  # 2001-09-09: a moment no write of this test can produce


def _plan(path: Path = EXAMPLE, display: str = "specs/example.yaml") -> Plan:
    plan, diagnostics = load(path, display)
    assert plan is not None, [d.render() for d in diagnostics]
    return plan


@pytest.fixture(scope="module")
def plan() -> Plan:
    return _plan()


@pytest.fixture(scope="module")
def bundle(plan: Plan) -> Bundle:
    return build(plan)


def _without_second_model(tmp_path: Path) -> Path:
    """A copy of the example spec with the model qwen2-7b removed (the rest of the file unchanged)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start = text.index("  - name: qwen2-7b\n")
    end = text.index("\nalert_tiers:")
    assert start < end
    path = tmp_path / "spec" / "example.yaml"
    path.parent.mkdir()
    path.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    return path


@pytest.fixture
def older_bundle(tmp_path: Path) -> Bundle:
    """The bundle of a different version of the spec: same spec name, one model fewer."""
    older = _plan(_without_second_model(tmp_path), "specs/example.yaml")
    assert [m.name for m in older.models] == ["llama-3-70b"]
    return build(older)


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden ones included), relative path → content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _folders(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()}


def _mtimes(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _age(root: Path) -> None:
    """Set every file's mtime far in the past, so any rewrite is visible without timing anything."""
    for p in root.rglob("*"):
        if p.is_file():
            os.utime(p, ns=(OLD_TIME_NS, OLD_TIME_NS))


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _fail_on_call(real: Callable[..., Any], failing_call: int, on_failure: Callable[..., None]) -> Callable[..., Any]:
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == failing_call:
            on_failure(*args, **kwargs)
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    return wrapper


def _nothing(*_: Any, **__: Any) -> None:
    pass


def _inject_failure(monkeypatch: pytest.MonkeyPatch, where: str, failing_call: int = 3) -> None:
    """Fail the Nth staged write (os.write) or flush to disk (os.fsync) as a full disk would."""
    monkeypatch.setattr(os, where, _fail_on_call(getattr(os, where), failing_call, _nothing))


# --- first and repeated writes -------------------------------------------------------------------------------


def test_a_first_write_adds_every_file_and_the_manifest(tmp_path: Path, plan: Plan, bundle: Bundle) -> None:
    out = tmp_path / "out"
    changes = output.write(out, plan.name, bundle.files)

    manifest = output.manifest_name(plan.name)
    assert manifest == ".llmmon-llm-platform.manifest"
    assert sorted(changes.added) == sorted([*bundle.files, manifest])
    assert changes.changed == changes.removed == changes.unchanged == []
    snapshot = _snapshot(out)
    assert set(snapshot) == {*bundle.files, manifest}
    for rel, text in bundle.files.items():
        assert snapshot[rel] == text.encode("utf-8"), rel
    assert json.loads(snapshot[manifest])["files"] == sorted(bundle.files)


def test_a_second_write_of_the_same_bundle_changes_nothing_and_keeps_mtimes(
    tmp_path: Path, plan: Plan, bundle: Bundle
) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, bundle.files)
    _age(out)
    before, mtimes = _snapshot(out), _mtimes(out)

    changes = output.write(out, plan.name, bundle.files)

    assert changes.added == changes.changed == changes.removed == []
    assert sorted(changes.unchanged) == sorted([*bundle.files, output.manifest_name(plan.name)])
    assert not changes.stale
    assert _snapshot(out) == before
    assert _mtimes(out) == mtimes
    assert set(mtimes.values()) == {OLD_TIME_NS}


def test_only_the_changed_file_is_rewritten(tmp_path: Path, plan: Plan, bundle: Bundle) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, bundle.files)
    _age(out)
    edited = {**bundle.files, bundle.rules_file: bundle.files[bundle.rules_file] + "# one more line\n"}

    changes = output.write(out, plan.name, edited)

    assert changes.changed == [bundle.rules_file]
    assert changes.added == changes.removed == []
    rewritten = {rel for rel, ns in _mtimes(out).items() if ns != OLD_TIME_NS}
    assert rewritten == {bundle.rules_file}


def test_generated_files_get_ordinary_permissions_not_private_ones(
    tmp_path: Path, plan: Plan, bundle: Bundle, umask_022: None
) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, bundle.files)
    output.write(out, plan.name, {**bundle.files, bundle.rules_file: "# changed\n"})  # a rewrite, not a create

    modes = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*") if p.is_file()}
    assert modes, "nothing was written"
    assert modes == dict.fromkeys(modes, 0o644)


# --- all or nothing ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_a_failed_write_leaves_the_previous_output_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Plan, bundle: Bundle, older_bundle: Bundle, where: str
) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, older_bundle.files)
    before, folders = _snapshot(out), _folders(out)
    pending = output.compare(out, plan.name, bundle.files)
    assert len(pending.added) + len(pending.changed) >= 3, "the failure must come after some files were staged"

    _inject_failure(monkeypatch, where)
    with pytest.raises(output.OutputError, match="No space left on device"):
        output.write(out, plan.name, bundle.files)
    monkeypatch.undo()

    assert _snapshot(out) == before
    assert _folders(out) == folders
    assert not [p for p in out.rglob("*.tmp")]
    assert output.compare(out, plan.name, older_bundle.files).stale is False


def test_a_failed_first_write_leaves_no_folders_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: Plan, bundle: Bundle
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    _inject_failure(monkeypatch, "write")
    with pytest.raises(output.OutputError):
        output.write(out, plan.name, bundle.files)
    monkeypatch.undo()

    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == []


# --- removals and files llmmon does not own -------------------------------------------------------------------


def test_files_no_longer_generated_are_removed_and_emptied_folders_pruned(
    tmp_path: Path, plan: Plan, bundle: Bundle
) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, bundle.files)
    tests = [rel for rel in bundle.files if rel.startswith("prometheus/tests/")]
    manifests = [rel for rel in bundle.files if rel.startswith("kubernetes/")]  # the kustomization and all it lists
    assert tests and bundle.manifest_file in manifests
    kept = {rel: text for rel, text in bundle.files.items() if rel not in manifests and rel not in tests}

    changes = output.write(out, plan.name, kept)

    assert sorted(changes.removed) == sorted([*manifests, *tests])
    assert set(_snapshot(out)) == {*kept, output.manifest_name(plan.name)}
    assert not (out / "kubernetes").exists()
    assert not (out / "prometheus" / "tests").exists()
    assert (out / "prometheus" / "rules").is_dir()
    manifest = json.loads((out / output.manifest_name(plan.name)).read_text(encoding="utf-8"))
    assert manifest["files"] == sorted(kept)


def test_a_model_removed_from_the_spec_loses_the_files_only_it_generated(
    tmp_path: Path, plan: Plan, bundle: Bundle, older_bundle: Bundle
) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, bundle.files)
    only_new = set(bundle.files) - set(older_bundle.files)

    changes = output.write(out, plan.name, older_bundle.files)

    assert set(changes.removed) == only_new
    assert set(_snapshot(out)) == {*older_bundle.files, output.manifest_name(plan.name)}
    assert output.compare(out, plan.name, older_bundle.files).stale is False


def test_files_llmmon_did_not_generate_are_never_deleted_or_modified(
    tmp_path: Path, plan: Plan, bundle: Bundle
) -> None:
    out = tmp_path / "out"
    mine = {
        "notes.txt": b"my notes\n",
        ".hidden": b"secret-ish\n",
        "prometheus/rules/mine.yaml": b"groups: []\n",
        "prometheus/tests/mine.test.yaml": b"tests: []\n",
        "kubernetes/extra/keep.yaml": b"kind: ConfigMap\n",
    }
    for rel, data in mine.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    output.write(out, "other-spec", {"other-spec-summary.md": "another spec's file\n"})
    _age(out)
    theirs = {rel: (out / rel).stat().st_mtime_ns for rel in [*mine, "other-spec-summary.md"]}

    output.write(out, plan.name, bundle.files)
    output.write(out, plan.name, {**bundle.files, bundle.rules_file: "# changed\n"})
    output.write(out, plan.name, {})  # the spec generates nothing any more: all of its files go

    manifests = {output.manifest_name("other-spec"), output.manifest_name(plan.name)}
    snapshot = _snapshot(out)
    assert set(snapshot) == {*mine, "other-spec-summary.md", *manifests}
    assert {rel: snapshot[rel] for rel in mine} == mine
    assert snapshot["other-spec-summary.md"] == b"another spec's file\n"
    assert json.loads(snapshot[output.manifest_name(plan.name)])["files"] == []
    assert json.loads(snapshot[output.manifest_name("other-spec")])["files"] == ["other-spec-summary.md"]
    assert {rel: (out / rel).stat().st_mtime_ns for rel in theirs} == theirs
    assert (out / "kubernetes" / "extra").is_dir()


def test_a_manifest_entry_outside_the_directory_is_never_deleted(tmp_path: Path, plan: Plan) -> None:
    out = tmp_path / "out"
    victim = tmp_path / "victim.txt"
    victim.write_text("not llmmon's\n", encoding="utf-8")
    out.mkdir()
    (out / output.manifest_name(plan.name)).write_text(
        json.dumps({"generator": "llmmon", "files": ["../victim.txt", str(victim)]}), encoding="utf-8"
    )

    changes = output.write(out, plan.name, {"a.txt": "a\n"})

    assert changes.removed == []
    assert victim.read_text(encoding="utf-8") == "not llmmon's\n"


def test_an_owned_file_that_cannot_be_removed_is_an_output_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write(out, "s", {"keep.txt": "k\n", "gone.txt": "g\n"})
    (out / "gone.txt").unlink()
    (out / "gone.txt").mkdir()  # the user put a folder where llmmon's file was

    with contextlib.suppress(output.OutputError):
        output.write(out, "s", {"keep.txt": "k\n"})
    assert (out / "gone.txt").is_dir()


# --- refusals --------------------------------------------------------------------------------------------------


def test_paths_escaping_the_directory_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    outside = tmp_path / "elsewhere" / "abs"
    for rel in ["../x", str(outside), "a/../../x", "prometheus/../../x", ".", ""]:
        with pytest.raises(output.OutputError):
            output.write(out, "s", {"fine.txt": "ok\n", rel: "escaped\n"})
    assert not (tmp_path / "x").exists()
    assert not outside.exists()
    assert not out.exists() or _snapshot(out) == {}


# --- compare and diff ------------------------------------------------------------------------------------------


def test_compare_and_diff_report_a_changed_file_with_the_changed_line(
    tmp_path: Path, plan: Plan, bundle: Bundle
) -> None:
    out = tmp_path / "out"
    output.write(out, plan.name, bundle.files)
    target = out / bundle.rules_file
    lines = target.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if "expr:" in line)
    original = lines[index]
    lines[index] = "        expr: vector(0)  # edited by hand\n"
    target.write_text("".join(lines), encoding="utf-8")

    changes = output.compare(out, plan.name, bundle.files)
    assert changes.stale
    assert changes.changed == [bundle.rules_file]
    assert changes.added == changes.removed == []

    text = output.diff(out, plan.name, bundle.files, changes)
    assert f"--- a/{bundle.rules_file}\n" in text
    assert f"+++ b/{bundle.rules_file}\n" in text
    assert "\n-        expr: vector(0)  # edited by hand\n" in text
    assert f"\n+{original}" in text
    assert text.count("\n@@ ") + text.startswith("@@ ") == 1, "one hunk for one changed line"


def test_compare_and_diff_report_missing_and_no_longer_generated_files(
    tmp_path: Path, plan: Plan, bundle: Bundle
) -> None:
    out = tmp_path / "out"
    fresh = output.compare(out, plan.name, bundle.files)
    assert sorted(fresh.added) == sorted([*bundle.files, output.manifest_name(plan.name)])
    assert fresh.stale

    output.write(out, plan.name, bundle.files)
    fewer = {rel: text for rel, text in bundle.files.items() if rel != bundle.manifest_file}
    changes = output.compare(out, plan.name, fewer)
    assert changes.removed == [bundle.manifest_file]
    assert changes.changed == [output.manifest_name(plan.name)]
    text = output.diff(out, plan.name, fewer, changes)
    assert f"--- a/{bundle.manifest_file}\n" in text
    assert "-kind: PrometheusRule\n" in text
    assert (out / bundle.manifest_file).exists(), "compare and diff write nothing"
