"""The only code that writes to the output directory: all-or-nothing, only changed files, no strays.

Each spec owns the files listed in its manifest (`.llmmon-<spec>.manifest`): files of a previous run that
the spec no longer generates are removed; files llmmon did not generate are never touched. Writes are
crash-safe and exclusive (see `atomic`): a failure or a kill at any point leaves the previous output, and a
second run on the same directory at the same time is refused with the first one's pid.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from llmmon import atomic
from llmmon.atomic import OutputError

__all__ = ["Changes", "OutputError", "compare", "diff", "manifest_name", "recover", "with_manifest", "write"]


@dataclass
class Changes:
    """How the output directory differs from what a run generates."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    recovered: bool = False  # an interrupted earlier run was rolled back first

    @property
    def stale(self) -> bool:
        """True when the directory is not what the spec generates."""
        return bool(self.added or self.changed or self.removed)


def manifest_name(spec: str) -> str:
    """The manifest file of a spec inside the output directory."""
    return f".llmmon-{spec}.manifest"


def _owned(out: Path, spec: str) -> list[str]:
    path = out / manifest_name(spec)
    raw = atomic.read(path)
    if raw is None:
        return []
    if isinstance(raw, atomic.Link):
        raise OutputError(f"{path} is a symbolic link; llmmon does not follow links (replace it with the file)")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise OutputError(f"cannot read {path}: {exc}") from None
    listed = data.get("files") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise OutputError(f"{path} is not an llmmon manifest; move it away to start afresh")
    return [p for p in listed if isinstance(p, str) and atomic.safe(p)]


def with_manifest(spec: str, files: dict[str, str]) -> dict[str, str]:
    """The files of a run plus the manifest that records them."""
    manifest = json.dumps({"generator": "llmmon", "files": sorted(files)}, indent=2) + "\n"
    return {**files, manifest_name(spec): manifest}


def compare(out: Path, spec: str, files: dict[str, str]) -> Changes:
    """What writing `files` (with their manifest) would change in `out`; reads nothing through links."""
    if atomic.pending(out):
        holder = atomic.busy(out)
        if holder is not None:
            raise OutputError(f"{out} is being written by another llmmon run{holder} right now; check again when "
                              "it has finished")
        raise OutputError(f"an llmmon run was interrupted while writing {out}: run `llmmon generate` again, which "
                          "first puts back the files it had replaced")
    changes = Changes()
    files = with_manifest(spec, files)
    for rel, text in files.items():
        atomic.check_inside(out, rel)
        current = atomic.read(out / rel)
        if current is None:
            changes.added.append(rel)
        else:
            same = isinstance(current, bytes) and current == text.encode()
            (changes.unchanged if same else changes.changed).append(rel)
    changes.removed = sorted(p for p in _owned(out, spec) if p not in files and _removable(out, p))
    return changes


def _removable(out: Path, rel: str) -> bool:
    try:
        atomic.check_inside(out, rel)
    except OutputError:
        return False  # behind a link or a file: whatever is there is not llmmon's to remove
    return atomic.removable(out / rel)


def diff(out: Path, spec: str, files: dict[str, str], changes: Changes) -> str:
    """A unified diff from the directory's content to the generated one."""
    files = with_manifest(spec, files)
    chunks: list[str] = []
    for rel in sorted(changes.added + changes.changed + changes.removed):
        current = atomic.read(out / rel)
        if isinstance(current, atomic.Link):
            old = [f"(a symbolic link to {current.target!r}, not followed)\n"]
        else:
            old = (current or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
        new = files.get(rel, "").splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))
    return "".join(chunks)


def recover(out: Path) -> bool:
    """Roll back what an interrupted run left in `out`; True when there was something to roll back."""
    if not out.is_dir():
        return False
    try:
        with atomic.locked(out):
            return atomic.recover(out)
    except OSError as exc:
        raise OutputError(f"cannot roll back the interrupted run in {out}: {exc.strerror or exc}") from None


def write(out: Path, spec: str, files: dict[str, str], lock_timeout: float = 0.0, durable: bool = True) -> Changes:
    """Write `files` under `out` as one update: all of them or, on any failure or kill, none of them.

    Another run holding the directory makes this wait up to `lock_timeout` seconds, then fail. `durable`
    flushes to disk (fsync) so the update also survives a power loss; scratch folders can skip it.
    """
    for rel in files:
        if not atomic.safe(rel):
            raise OutputError(f"refusing to write outside the output directory: {rel!r}")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is a file: the output must be a folder (e.g. -o out)")
    made = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with atomic.locked(out, lock_timeout):
            recovered = atomic.recover(out)
            changes = compare(out, spec, files)
            changes.recovered = recovered
            if changes.stale:
                every = with_manifest(spec, files)
                atomic.apply(out, {rel: every[rel].encode() for rel in changes.added + changes.changed},
                             changes.removed, durable)
    except OSError as exc:
        _unmake(made)
        raise OutputError(f"cannot write {_failed_path(out, exc)}: {exc.strerror or exc}") from None
    except BaseException:
        _unmake(made)
        raise
    return changes


def _failed_path(out: Path, exc: OSError) -> Path:
    """The path a failed write was about: the destination of a rename, the file or folder being made, and for a
    file staged in the transaction folder the output file it was for (the user's path, not llmmon's scratch)."""
    name = exc.filename2 or exc.filename
    if not name:
        return out
    path = Path(os.fsdecode(name))
    with contextlib.suppress(ValueError):
        rel = path.relative_to(out / atomic.TXN)
        return out / Path(*rel.parts[1:]) if rel.parts[:1] in (("new",), ("old",)) else out
    for parent in (path, *path.parents):  # a file where a folder is needed (good.yaml/out): name the file
        if parent.is_file():
            return parent
    return path


def _unmake(folders: list[Path]) -> None:
    """Remove the (still empty) folders a failed first write created for the output directory."""
    for folder in folders:
        with contextlib.suppress(OSError):
            os.rmdir(folder)
