"""The same spec always generates the same bytes: across processes, hash seeds and runs, and as the golden out/."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from llmmon import output
from llmmon.compiler import load
from llmmon.generate import Bundle, build

ROOT = Path(__file__).parents[1]
SPEC = "specs/example.yaml"  # relative to ROOT: the header of every generated file names the spec as given
GOLDEN = ROOT / "out"


def _build() -> tuple[str, Bundle]:
    plan, diagnostics = load(ROOT / SPEC, SPEC)
    assert plan is not None, [d.render() for d in diagnostics]
    return plan.name, build(plan)


def _files(root: Path) -> dict[str, bytes]:
    """Every file under root (hidden ones included), relative path → content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _generate(out: Path, seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    env.pop("LLMMON_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "llmmon", "generate", SPEC, "-o", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_generation_is_byte_identical_across_hash_seeds(tmp_path: Path) -> None:
    _generate(tmp_path / "seed-0", "0")
    _generate(tmp_path / "seed-1", "1")

    first, second = _files(tmp_path / "seed-0"), _files(tmp_path / "seed-1")
    assert len(first) > 5
    assert sorted(first) == sorted(second)
    differing = [rel for rel in first if first[rel] != second[rel]]
    assert differing == []


def test_the_subprocess_output_equals_the_in_process_bundle(tmp_path: Path) -> None:
    _generate(tmp_path / "out", "0")
    name, bundle = _build()
    assert output.compare(tmp_path / "out", name, bundle.files).stale is False


def test_building_twice_in_process_yields_identical_bundles() -> None:
    name, first = _build()
    again, second = _build()

    assert name == again
    assert list(first.files) == list(second.files)  # same order, too
    assert first.files == second.files
    assert first.test_files == second.test_files
    assert first.counts == second.counts


def test_the_golden_out_directory_is_what_the_example_spec_generates() -> None:
    name, bundle = _build()
    changes = output.compare(GOLDEN, name, bundle.files)

    assert changes.stale is False, (
        f"out/ is stale ({changes.added} missing, {changes.changed} changed, {changes.removed} no longer generated):\n"
        + output.diff(GOLDEN, name, bundle.files, changes)
    )
