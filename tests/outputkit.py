"""Helpers of the output tests: a small synthetic output, snapshots of it, and real llmmon processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import EXAMPLE, ROOT
from llmmon import atomic, output

OLD = {"a.txt": "a1\n", "dir/b.txt": "b1\n", "dir/sub/c.txt": "c1\n", "gone/x.txt": "x\n", "same.txt": "s\n"}
NEW = {"a.txt": "a2\n", "dir/b.txt": "b1\n", "dir/sub/c.txt": "c2\n", "new/deep/d.txt": "d\n", "same.txt": "s\n"}
FOREIGN = {"notes.txt": b"mine\n", "dir/mine.txt": b"also mine\n", ".hidden": b"h\n", "gone/keep.txt": b"k\n"}


def visible(out: Path) -> dict[str, bytes]:
    """Every file under `out` except llmmon's own lock and staging area."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] not in atomic.RESERVED}


def state(files: dict[str, str]) -> dict[str, bytes]:
    """What `out` holds after writing `files` (spec "s") over the FOREIGN files."""
    every = output.with_manifest("s", files)
    return {**FOREIGN, **{rel: text.encode() for rel, text in every.items()}}


def prepare(out: Path) -> None:
    """FOREIGN files, then the OLD output of spec "s"."""
    for rel, data in FOREIGN.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    output.write(out, "s", OLD, durable=False)
    assert visible(out) == state(OLD)


def cli_process(spec: Path, out: Path, hook: str = "") -> subprocess.Popen[str]:
    """`llmmon generate` in a real process; `hook` is Python run first (to arm a kill at a given rename)."""
    code = f"import os, signal, sys\n{hook}\nfrom llmmon.cli import main\nsys.argv = ['llmmon', 'generate', " \
           f"{str(spec)!r}, '-o', {str(out)!r}, '--lock-timeout', '30']\nmain()\n"
    env = {k: v for k, v in os.environ.items() if k != "LLMMON_DEBUG"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def two_versions(tmp_path: Path) -> tuple[Path, Path]:
    """The example spec, and a copy with the model qwen2-7b removed (same spec name, other files)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = text.index("  - name: qwen2-7b\n"), text.index("\nalert_tiers:")
    older = tmp_path / "older.yaml"
    older.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    newer = tmp_path / "newer.yaml"
    newer.write_text(text, encoding="utf-8")
    return older, newer
