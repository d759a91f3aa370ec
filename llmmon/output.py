"""The only code that writes to the output directory: all-or-nothing, only changed files, no strays.

Each spec owns the files listed in its manifest (`.llmmon-<spec>.manifest`): files of a previous run that
the spec no longer generates are removed; files llmmon did not generate are never touched.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Changes:
    """How the output directory differs from what a run generates."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def stale(self) -> bool:
        """True when the directory is not what the spec generates."""
        return bool(self.added or self.changed or self.removed)


def _file_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()  # what open() would give: mkstemp's 0600 is too private for generated files


class OutputError(Exception):
    """The output directory cannot be read or written."""


def manifest_name(spec: str) -> str:
    """The manifest file of a spec inside the output directory."""
    return f".llmmon-{spec}.manifest"


def _owned(out: Path, spec: str) -> list[str]:
    path = out / manifest_name(spec)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise OutputError(f"cannot read {path}: {exc}") from None
    listed = data.get("files") if isinstance(data, dict) else None
    if not isinstance(listed, list):
        raise OutputError(f"{path} is not an llmmon manifest; move it away to start afresh")
    return [p for p in listed if isinstance(p, str) and _safe(p)]


def _safe(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def with_manifest(spec: str, files: dict[str, str]) -> dict[str, str]:
    """The files of a run plus the manifest that records them."""
    manifest = json.dumps({"generator": "llmmon", "files": sorted(files)}, indent=2) + "\n"
    return {**files, manifest_name(spec): manifest}


def compare(out: Path, spec: str, files: dict[str, str]) -> Changes:
    """What writing `files` (with their manifest) would change in `out`."""
    changes = Changes()
    files = with_manifest(spec, files)
    for rel, text in files.items():
        target = out / rel
        try:
            current = target.read_bytes()
        except FileNotFoundError:
            changes.added.append(rel)
            continue
        except OSError as exc:
            raise OutputError(f"cannot read {target}: {exc.strerror}") from None
        (changes.unchanged if current == text.encode() else changes.changed).append(rel)
    changes.removed = sorted(p for p in _owned(out, spec) if p not in files and (out / p).exists())
    return changes


def diff(out: Path, spec: str, files: dict[str, str], changes: Changes) -> str:
    """A unified diff from the directory's content to the generated one."""
    files = with_manifest(spec, files)
    chunks: list[str] = []
    for rel in sorted(changes.added + changes.changed + changes.removed):
        target = out / rel
        old = target.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True) if target.exists() else []
        new = files.get(rel, "").splitlines(keepends=True)
        chunks.extend(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}"))
    return "".join(chunks)


def write(out: Path, spec: str, files: dict[str, str]) -> Changes:
    """Write `files` under `out`: every new file is staged first, then all are moved into place."""
    for rel in files:
        if not _safe(rel):
            raise OutputError(f"refusing to write outside the output directory: {rel}")
    changes = compare(out, spec, files)
    files = with_manifest(spec, files)
    pending = {rel: files[rel] for rel in changes.added + changes.changed}
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []  # folders this run made, removed again if it fails
    try:
        for rel, text in sorted(pending.items()):
            target = out / rel
            missing = [p for p in (target.parent, *target.parent.parents) if not p.exists()]
            target.parent.mkdir(parents=True, exist_ok=True)
            created.extend(reversed(missing))
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            staged.append((Path(name), target))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
            os.chmod(name, _FILE_MODE)
    except OSError as exc:
        for temp, _ in staged:
            with contextlib.suppress(OSError):
                temp.unlink()
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    for temp, target in staged:
        os.replace(temp, target)
    for gone in changes.removed:
        try:
            (out / gone).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"wrote {out}, but cannot remove {gone}, which the spec no longer generates: "
                              f"{exc.strerror or exc}") from None
        _prune(out, (out / gone).parent)
    return changes


def _prune(out: Path, folder: Path) -> None:
    """Remove folders emptied by removals, up to (not including) the output directory."""
    while folder != out and out in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
