"""A cache of what is costly to build and rarely changes: the Grafana dashboards (and, in `jinja/`, jinja2's
compiled templates, see llmmon/templates.py; in `promtool-passed/`, `checkov-passed/` and `tsc-passed/`, the
checks `validate` saw pass, see llmmon/checks/passes.py).

Building a dashboard imports grafanalib (~0.1 s: attrs compiles the methods of its ~100 classes) and renders it;
most runs of `llmmon generate` (the pre-commit hook, `--check` in CI, an edit to an alert threshold) leave the
dashboards as they were. An entry is keyed by everything the output is made from: what the caller hashes (the
dashboard's plain-data description) and the source of llmmon and of grafanalib, so a change to any of them builds
afresh. A hit returns the very text the build gave, so the output is byte-identical with or without the cache.

The cache is $LLMMON_CACHE, else $XDG_CACHE_HOME/llmmon, else ~/.cache/llmmon; `LLMMON_CACHE=off` turns it
off. A cache that cannot be read or written is not an error: the output is then built, as without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

FORMAT = "1"  # bump when the layout of an entry changes
KEEP = 200  # entries kept a kind; the least recently written go first


def folder() -> Path | None:
    """The cache folder, None when it is turned off."""
    chosen = os.environ.get("LLMMON_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "llmmon"


@functools.cache
def code_digest(*packages: str) -> str | None:
    """sha256 of the Python source of `packages` (file names and bytes, in order): ~3 ms for llmmon's. None when
    the source of one cannot be read (imported from a zip, say): nothing would then tell its versions apart."""
    digest = hashlib.sha256(FORMAT.encode())
    for package in packages:
        spec = importlib.util.find_spec(package)
        roots = list(spec.submodule_search_locations or []) if spec else []
        digest.update(f"\0{package}\0".encode())
        sources = [(root, path) for root in roots for path in sorted(Path(root).rglob("*.py"))]
        if not sources:
            return None
        try:
            for root, path in sources:
                digest.update(f"{path.relative_to(root)}\0".encode())
                digest.update(path.read_bytes())
        except OSError:
            return None
    return digest.hexdigest()


def key(kind: str, description: str, packages: tuple[str, ...]) -> str | None:
    """The key of an output of `kind` made from `description` by the code of `packages` (None: do not cache)."""
    code = code_digest(*packages)
    if code is None:
        return None
    return hashlib.sha256(f"{kind}\0{code}\0{description}".encode()).hexdigest()


def get(kind: str, entry: str | None) -> str | None:
    """The cached text of an entry, None when there is none (or no cache, or no key)."""
    base = folder()
    if base is None or entry is None:
        return None
    with contextlib.suppress(OSError, UnicodeDecodeError):
        return (base / kind / entry).read_text(encoding="utf-8")
    return None


def put(kind: str, entry: str | None, text: str) -> None:
    """Store an entry (written whole or not at all), then drop the oldest beyond KEEP."""
    base = folder()
    if base is None or entry is None:
        return
    where = base / kind
    with contextlib.suppress(OSError):
        where.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=where, prefix=".new-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(scratch, where / entry)
        except BaseException:
            os.unlink(scratch)
            raise
        prune(where)


def prune(where: Path) -> None:
    """Drop the least recently written entries of a folder beyond KEEP (names starting with a dot are scratch)."""
    entries = [p for p in where.iterdir() if not p.name.startswith(".")]
    if len(entries) <= KEEP:
        return
    by_age = sorted(entries, key=lambda p: (p.stat().st_mtime_ns, p.name))
    for path in by_age[:len(entries) - KEEP]:
        with contextlib.suppress(OSError):
            path.unlink()
