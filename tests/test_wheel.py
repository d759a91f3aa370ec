"""`pip install .` must work: the wheel carries the templates and renders from them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT


@pytest.mark.slow
def test_the_wheel_ships_the_templates_and_generates_from_them(tmp_path: Path) -> None:
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
                            str(ROOT)], capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("llmmon-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "llmmon/templates/header.j2" in names
    assert "llmmon/templates/summary.md.j2" in names
    unpacked = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(unpacked)
    # Run from the unpacked wheel, outside the repository, so templates/ of the checkout cannot be used.
    done = subprocess.run([sys.executable, "-c", "import llmmon.templates as t, llmmon.cli as c; "
                           "print(t.template_dir()); c.main()", "generate", str(ROOT / "specs/example.yaml"),
                           "-o", str(tmp_path / "out")], cwd=tmp_path, capture_output=True, text=True,
                          env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"}, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(unpacked / "llmmon" / "templates")
    assert (tmp_path / "out/llm-platform-summary.md").read_text() == (ROOT / "out/llm-platform-summary.md").read_text()
