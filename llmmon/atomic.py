"""Crash-safe updates of many files in one directory: a lock, a staging area and a rollback journal.

All state lives in two hidden entries of the output directory, on its own file system:

1. `.llmmon.lock` is locked with flock(2); the kernel drops the lock when its process dies, so a killed run
   never leaves a stale lock. A second run is told who holds it instead of waiting silently.
2. An interrupted earlier run is rolled back first (see 5).
3. Every new file is staged under `.llmmon-txn/new/` and fsync'd; a failure here has touched nothing else.
4. `.llmmon-txn/journal` records what will be installed, removed and created; from now on every file about
   to be replaced or removed keeps its previous version under `.llmmon-txn/old/` (a hard link or a move).
5. Files are renamed into place, removed ones moved into `old/`, then the journal is deleted: the commit
   point. A failure or a kill before it is rolled back from `old/` (at once, or by the next run).

Nothing is read or written through a symbolic link inside the output directory: a committed link must not
make llmmon overwrite, delete or print (in a diff) a file elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

LOCK = ".llmmon.lock"
TXN = ".llmmon-txn"
RESERVED = (LOCK, TXN)
_JOURNAL_VERSION = 1
_POLL_S = 0.05


class OutputError(Exception):
    """The output directory cannot be read or written."""


class Link:
    """What reading a symbolic link gives: it is never followed."""

    def __init__(self, target: str) -> None:
        self.target = target


def safe(rel: str) -> bool:
    """True when `rel` names a file strictly inside the output directory and not llmmon's own state."""
    if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
        return False
    parts = rel.split("/")
    return all(p not in ("", ".", "..") for p in parts) and parts[0] not in RESERVED


def check_inside(out: Path, rel: str) -> None:
    """Refuse a path whose folders inside `out` are symbolic links or files (nothing goes through them)."""
    folder = out
    for part in PurePosixPath(rel).parts[:-1]:
        folder = folder / part
        try:
            mode = os.lstat(folder).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(f"cannot read {folder}: {exc.strerror or exc}") from None
        if stat.S_ISLNK(mode):
            raise OutputError(f"{folder} is a symbolic link: llmmon never reads or writes through links inside "
                              "the output directory (replace it with a folder)")
        if not stat.S_ISDIR(mode):
            raise OutputError(f"{folder} is a file where llmmon needs a folder for {rel}")


def read(path: Path) -> bytes | Link | None:
    """A file's bytes without following a final symbolic link: None if absent, a Link if it is one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return Link(os.readlink(path))
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror or exc}") from None


def removable(path: Path) -> bool:
    """True for a regular file or a link (what llmmon may remove); a folder in its place is the user's."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) or stat.S_ISLNK(mode)


# --- the lock ---------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def locked(out: Path, timeout: float = 0.0) -> Iterator[None]:
    """Hold the output directory's lock; another holder makes this wait `timeout` seconds, then fail."""
    import fcntl

    path = out / LOCK
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise OutputError(f"{path} is a symbolic link; remove it (llmmon's lock is a plain file)") from None
            raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            if time.monotonic() >= deadline:
                raise OutputError(f"{out} is being written by another llmmon run{holder}; let it finish and run "
                                  "again (or wait for it with --lock-timeout SECONDS)") from None
            time.sleep(_POLL_S)
            continue
        if _same_file(fd, path):
            break
        os.close(fd)  # the previous holder removed the file between our open and our lock: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # before unlocking: a waiter that locked this inode sees it is gone and retries
        os.close(fd)


def busy(out: Path) -> str | None:
    """Who holds the lock of `out` right now (`" (pid N)"`, tested without taking it), or None if nobody."""
    import fcntl

    try:
        fd = os.open(out / LOCK, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _holder(fd)
    finally:
        os.close(fd)  # closing drops the shared lock, if it was granted
    return None


def _holder(fd: int) -> str:
    """" (pid N)" from a held lock file; "" when it cannot be read or holds no pid yet (the holder writes its pid
    right after taking the lock, so a run that finds the lock taken can read the file still empty)."""
    with contextlib.suppress(OSError):
        fields = os.pread(fd, 32, 0).split()
        if fields and fields[0].isdigit():
            return f" (pid {int(fields[0])})"
    return ""


def _same_file(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


# --- the journal ------------------------------------------------------------------------------------------------


@dataclass
class Journal:
    """One update: files installed (path, sha256, whether one existed), files removed, folders created."""

    install: list[tuple[str, str, bool]] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)

    def dump(self) -> bytes:
        """The journal as JSON."""
        return json.dumps({"llmmon": "journal", "version": _JOURNAL_VERSION,
                           "install": [{"path": p, "sha256": h, "existed": e} for p, h, e in self.install],
                           "remove": self.remove, "folders": self.folders}, indent=1).encode() + b"\n"

    @classmethod
    def parse(cls, raw: bytes, where: Path) -> Journal:
        """Read a journal back; anything unexpected is an OutputError (it is never acted on)."""
        bad = OutputError(f"{where} is not a journal this llmmon can read; move {where.parent} away to start "
                          "afresh (it holds the previous version of files an interrupted run replaced)")
        try:
            data = json.loads(raw)
            journal = cls(install=[(i["path"], i["sha256"], i["existed"]) for i in data["install"]],
                          remove=list(data["remove"]), folders=list(data["folders"]))
        except (ValueError, TypeError, KeyError):
            raise bad from None
        paths = [p for p, _, _ in journal.install] + journal.remove + journal.folders
        if data.get("version") != _JOURNAL_VERSION or not all(isinstance(p, str) and safe(p) for p in paths):
            raise bad
        if not all(isinstance(h, str) and isinstance(e, bool) for _, h, e in journal.install):
            raise bad
        return journal


def pending(out: Path) -> bool:
    """True when an interrupted run left a journal: the directory is mid-update until it is rolled back."""
    return os.path.lexists(out / TXN / "journal")


def recover(out: Path) -> bool:
    """Roll back what an interrupted run left (call with the lock held); True when there was a journal."""
    txn = out / TXN
    try:
        mode = os.lstat(txn).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(mode):
        raise OutputError(f"{txn} is not llmmon's staging folder; move it away")
    raw = read(txn / "journal")
    if raw is None:
        _discard(txn)  # staged files of a run that never reached its journal: nothing else was touched
        return False
    if isinstance(raw, Link):
        raise OutputError(f"{txn / 'journal'} is a symbolic link; move {txn} away")
    _rollback(out, txn, Journal.parse(raw, txn / "journal"))
    return True


def apply(out: Path, files: dict[str, bytes], remove: list[str], durable: bool = True) -> None:
    """Install `files` and remove `remove` (relative paths) as one update: all of it, or none of it.

    `durable` also flushes every file and folder to disk, so the update survives a power loss too.
    """
    txn = out / TXN
    journal = Journal()
    folders: set[str] = set()
    try:
        os.mkdir(txn)
        for rel, data in sorted(files.items()):
            check_inside(out, rel)
            staged = txn / "new" / rel
            os.makedirs(staged.parent, exist_ok=True)
            _write_new(staged, data, durable)
            journal.install.append((rel, hashlib.sha256(data).hexdigest(), os.path.lexists(out / rel)))
            folders.update(_missing_folders(out, rel))
        for rel in remove:
            check_inside(out, rel)
        journal.remove = sorted(remove)
        journal.folders = sorted(folders, key=lambda f: (f.count("/"), f))
        _write_new(txn / "journal.tmp", journal.dump(), durable)
        os.replace(txn / "journal.tmp", txn / "journal")
        _fsync_dir(txn, durable)
    except BaseException:
        _discard(txn)
        raise
    try:
        _install(out, txn, journal, durable)
        os.unlink(txn / "journal")  # the commit point
        _fsync_dir(txn, durable)
    except BaseException as exc:
        try:
            _rollback(out, txn, journal)
        except OSError as second:
            raise OutputError(f"writing {out} failed ({_why(exc)}) and so did undoing it ({_why(second)}): the "
                              "next llmmon run finishes the undo from .llmmon-txn") from None
        raise
    _discard(txn)
    for rel in journal.remove:
        _prune(out, (out / rel).parent)


def _why(exc: BaseException) -> str:
    return (exc.strerror or str(exc)) if isinstance(exc, OSError) else type(exc).__name__


def _install(out: Path, txn: Path, journal: Journal, durable: bool) -> None:
    for folder in journal.folders:
        with contextlib.suppress(FileExistsError):
            os.mkdir(out / folder)
    touched = {out}
    for rel, _, existed in journal.install:
        target = out / rel
        if existed:
            _keep(target, txn / "old" / rel, move=False)
        os.replace(txn / "new" / rel, target)
        touched.add(target.parent)
    for rel in journal.remove:
        _keep(out / rel, txn / "old" / rel, move=True)
        touched.add((out / rel).parent)
    for parent in sorted(touched):
        _fsync_dir(parent, durable)


def _keep(target: Path, backup: Path, move: bool) -> None:
    """Keep the current version of `target` under `backup`: moved (a removal) or hard-linked (a replacement)."""
    os.makedirs(backup.parent, exist_ok=True)
    if move:
        os.replace(target, backup)
        return
    try:
        os.link(target, backup, follow_symlinks=False)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.EXDEV):
            raise
        shutil.copy2(target, backup, follow_symlinks=False)  # a file system without hard links


def _rollback(out: Path, txn: Path, journal: Journal) -> None:
    old = txn / "old"
    for rel, digest, existed in reversed(journal.install):
        target, backup = out / rel, old / rel
        if os.path.lexists(backup):
            os.replace(backup, target)  # a no-op when the backup is a link to the untouched file
        elif not existed:
            with contextlib.suppress(OutputError):
                check_inside(out, rel)
                current = read(target)
                if isinstance(current, bytes) and hashlib.sha256(current).hexdigest() == digest:
                    os.unlink(target)  # ours, installed before the failure; anything else there is not ours
    for rel in journal.remove:
        backup = old / rel
        if os.path.lexists(backup):
            os.makedirs((out / rel).parent, exist_ok=True)
            os.replace(backup, out / rel)
    for folder in reversed(journal.folders):
        with contextlib.suppress(OSError):
            os.rmdir(out / folder)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(txn / "journal")
    _discard(txn)


def _missing_folders(out: Path, rel: str) -> list[str]:
    parts = PurePosixPath(rel).parts[:-1]
    return ["/".join(parts[:i]) for i in range(1, len(parts) + 1) if not os.path.lexists(out.joinpath(*parts[:i]))]


def _write_new(path: Path, data: bytes, durable: bool) -> None:
    """Create `path` (never an existing file or link), write and fsync it; mode as open() gives under the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path, durable: bool) -> None:
    if not durable:
        return
    with contextlib.suppress(OSError):  # not every file system can sync a folder; renames stay atomic anyway
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(txn: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(os.lstat(txn).st_mode):
            shutil.rmtree(txn, ignore_errors=True)


def _prune(out: Path, folder: Path) -> None:
    """Remove folders emptied by removals, up to (not including) the output directory."""
    while folder != out and out in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
