"""One run of a slow checker per distinct input in a pytest session: a content-addressed cache of `tools.run`.

Many tests hand the same bytes to the same checker: the example spec is validated by a dozen tests, each random
spec's Elasticsearch documents reach tsc again in every test that validates it, both Prometheus versions of a
spec produce the same manifests for checkov. These checkers are deterministic, so the second run of identical
input proves nothing the first did not. The cache keys a run on everything the checker reads: the binary (real
path, size, modification time), the arguments, and the bytes of every file they name (for `promtool test rules`
also the rule files the test file loads). Changed output means a new key, so the checker runs for real: a
regression still fails the test that sees it.

Only the real checkers are cached (the promtool binaries the tests run, the installed tsc, checkov), only the
runs that cost seconds (`promtool test rules`, tsc, checkov), never a stand-in a test wrote to break a checker.
The cache is a folder of files under the session's temporary root, shared by the xdist workers and gone with
the session; each entry has a lock, so a worker wanting a run another is doing waits for its result.
Paths of the folder a tool ran in are stored as a placeholder and put back for the folder of the run that reads
them.

A test that puts a wrapper of its own around a checker (to count its runs or log what it was given) has the wrapper
end in `python tests/toolcache.py REAL-CHECKER ARGS...` (`command()`) rather than in the checker: the run is then
answered from the same cache, so the test pays for the inputs no other test gave that checker, not for every run
it counts.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from llmmon import toolchain
from llmmon.checks import estypes

Run = Callable[..., "subprocess.CompletedProcess[str]"]
_HERE = "\x00cwd\x00"
FOLDER = "LLMMON_TEST_CHECKER_CACHE_DIR"  # the session's cache, for the wrappers' processes (tests/conftest.py)
CHECKERS = "checkers.json"  # in it: the real checkers, as the session found them before any test replaced one


class Uncacheable(Exception):
    """What a run reads cannot be told for sure."""


def real_checkers() -> set[str]:
    """The real paths of the checkers worth caching, as installed for this session."""
    found = [shutil.which("promtool"), toolchain.find("promtool"), os.environ.get("LLMMON_CHECKOV")]
    es_types = os.environ.get("LLMMON_ES_TYPES")
    if es_types and es_types != "off":
        found.append(str(estypes.tsc(Path(es_types))))
    return {os.path.realpath(str(p)) for p in found if p and Path(str(p)).is_file()}


def _cacheable(args: list[str], checkers: set[str]) -> bool:
    name = Path(args[0]).name
    if name == "promtool" and args[1:3] != ["test", "rules"]:
        return False  # `check rules` costs tenths of a second and names absolute paths
    return name in ("promtool", "tsc", "checkov") and os.path.realpath(args[0]) in checkers


def _files(args: list[str], cwd: Path) -> Iterator[Path]:
    """The files a run reads: those its arguments name, and the rule files of a promtool test file."""
    for arg in args[1:]:
        path = cwd / arg
        if not path.is_file():
            continue
        yield path
        if Path(args[0]).name == "promtool":
            try:
                rule_files = [str(f) for f in yaml.safe_load(path.read_text(encoding="utf-8")).get("rule_files") or []]
                for pattern in rule_files:
                    if any(c in pattern for c in "*?["):  # promtool takes globs too
                        yield from sorted(path.parent.glob(pattern))
                    else:
                        yield path.parent / pattern
            except (yaml.YAMLError, UnicodeDecodeError, AttributeError, TypeError, ValueError,
                    NotImplementedError) as exc:  # inputs not known for sure: run the checker, cache nothing
                raise Uncacheable from exc


def key(args: list[str], cwd: Path) -> str:
    """A digest of the binary, the arguments and the bytes of every file the run reads."""
    digest = hashlib.sha256()
    binary = os.stat(args[0])
    digest.update(json.dumps([os.path.realpath(args[0]), binary.st_size, binary.st_mtime_ns, args[1:]]).encode())
    for path in _files(args, cwd):
        digest.update(b"\x00file\x00" + str(path.relative_to(cwd) if path.is_relative_to(cwd) else path).encode())
        digest.update(path.read_bytes() if path.is_file() else b"\x00missing\x00")
    return digest.hexdigest()


def cached(run: Run, folder: Path, checkers: set[str]) -> Run:
    """`run` (llmmon.tools.run) answering a repeated run of a real checker from `folder`."""

    def wrapper(args: list[str], timeout: float, cwd: Path | None = None,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        if not isinstance(args, list) or not args or not _cacheable(args, checkers):
            return run(args, timeout=timeout, cwd=cwd, env=env)
        here = Path(cwd or os.getcwd())
        places = sorted({str(here), str(here.resolve())}, key=len, reverse=True)
        try:
            entry = folder / f"{key(args, here)}.json"
        except Uncacheable:
            return run(args, timeout=timeout, cwd=cwd, env=env)
        with open(entry.with_suffix(".lock"), "w") as lock:  # a worker wanting the same run waits for the first
            fcntl.flock(lock, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError):
                stored = json.loads(entry.read_text(encoding="utf-8"))
                return subprocess.CompletedProcess(args, stored["returncode"],
                                                   stored["stdout"].replace(_HERE, places[0]),
                                                   stored["stderr"].replace(_HERE, places[0]))
            done = run(args, timeout=timeout, cwd=cwd, env=env)

            def placeholder(text: str) -> str:
                for place in places:
                    text = text.replace(place, _HERE)
                return text

            entry.write_text(json.dumps({"returncode": done.returncode, "stdout": placeholder(done.stdout),
                                         "stderr": placeholder(done.stderr)}), encoding="utf-8")
            return done

    return wrapper


def start(folder: Path) -> set[str]:
    """Make `folder` the session's cache, for this process and the wrappers' (via the environment); the real
    checkers whose runs it keeps."""
    checkers = real_checkers()
    written = folder / f"{CHECKERS}.{os.getpid()}"  # every worker writes the same list: each replaces it whole
    written.write_text(json.dumps(sorted(checkers)), encoding="utf-8")
    written.replace(folder / CHECKERS)
    os.environ[FOLDER] = str(folder)
    return checkers


def command(checker: str) -> str:
    """The shell words a test's wrapper ends with (before `"$@"`) to run `checker` (a shell word: quoted by the
    caller) through the session's cache."""
    return f"exec {shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))} {checker}"


def main(argv: list[str]) -> int:
    """Run `argv` (a checker and its arguments) in the current folder, answered from the session's cache when the
    same run was made before; without a session cache, run it."""
    folder = os.environ.get(FOLDER)
    if not folder:
        os.execv(argv[0], argv)
    from llmmon import tools

    checkers = set(json.loads((Path(folder) / CHECKERS).read_text(encoding="utf-8")))
    done = cached(tools.run, Path(folder), checkers)(argv, timeout=600, cwd=Path.cwd())
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
