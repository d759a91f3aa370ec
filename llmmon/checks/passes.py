"""Checker passes that `llmmon validate` remembers in the build cache (llmmon/buildcache.py).

The slow checkers are deterministic: promtool's tests, checkov and tsc give the same verdict on the same bytes, and
so do llmmon's own checks of the dashboards and the Kubernetes objects (`remembering`: a few tenths of a second of
Python each, about half of what a `validate` of unchanged output cost).
Most runs of `validate` (the pre-commit hook, a CI job run again, an edit to one receiver) hand them what they
passed last time, so a pass is kept and such a run is not repeated. A pass is keyed by everything the verdict
depends on: the checker (`identity`: its resolved path, size and modification time, and what else tells its
release apart), llmmon's own code where llmmon judges what the checker printed, the arguments and the bytes of
every input. Failures are never remembered: a failing check runs every time and says what it found. Without a
build cache (`LLMMON_CACHE=off`), or when the checker cannot be told apart for sure, nothing is remembered.
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from llmmon import buildcache, tools
from llmmon.checks.result import Check, CheckResult
from llmmon.model import Plan

if TYPE_CHECKING:
    from llmmon.generate import Bundle

AGAIN = "passed before on the same files, not run again"


def identity(binary: str | Path, version: list[str] | None = None, also: str | None = "") -> str | None:
    """The checker `binary` as a key: resolved path, size, modification time, what `binary *version` prints
    (a wrapper script running another release prints another version) and `also` (None: cannot be told)."""
    if also is None or buildcache.folder() is None:
        return None
    try:
        path = Path(shutil.which(str(binary)) or binary).resolve()
        stat = path.stat()
        said = ""
        if version:
            done = tools.run([str(binary), *version], timeout=10)
            if done.returncode != 0:
                return None
            said = done.stdout + done.stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    return f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{said}\0{also}"


def key(kind: str, checker: str | None, *inputs: str | bytes, judged: bool = True) -> str | None:
    """The entry of a pass of `checker` (an `identity`) on `inputs` (arguments, file names and bytes, in a fixed
    order); `judged`: llmmon's code reads the checker's output, so a change to llmmon is a new key."""
    if checker is None:
        return None
    digest = hashlib.sha256(f"{kind}\0{checker}\0".encode())
    if judged:
        code = buildcache.code_digest("llmmon")
        if code is None:
            return None
        digest.update(f"{code}\0".encode())
    for part in inputs:  # each with its length: no two lists of parts give the same bytes
        data = part if isinstance(part, bytes) else part.encode()
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def recalled(kind: str, entry: str | None) -> str | None:
    """What a remembered pass said, None when there is none."""
    return buildcache.get(kind, entry)


def remember(kind: str, entry: str | None, said: str) -> None:
    """Keep a pass (only ever call this for one)."""
    buildcache.put(kind, entry, said)


def remembering(kind: str, check: Check, checker: Callable[[], str | None], output: str) -> Check:
    """`check`, one of llmmon's own (it judges the output in Python, with tools `checker` tells apart), with its
    passes remembered: keyed on `checker()`, llmmon's code and data files and `output` (`output_digest`), so any
    change to the output runs it again. A result with a finding, or a part skipped or not installed, is not kept."""

    def remembered(root: Path, bundle: Bundle, plan: Plan) -> CheckResult:
        tool = checker()
        entry = key(kind, None if tool is None else f"{tool}\0{data_digest()}", output)
        said = recalled(kind, entry)
        if said is not None:
            return CheckResult(passed=[f"{line} ({AGAIN})" for line in said.splitlines()])
        result = check(root, bundle, plan)
        if result.passed and not (result.findings or result.skipped or result.missing):
            remember(kind, entry, "\n".join(result.passed))
        return result

    return remembered


def output_digest(bundle: Bundle, plan: Plan) -> str:
    """sha256 of what llmmon's own checks judge: the spec and every file of the output (once for all of them)."""
    digest = hashlib.sha256(plan.spec.model_dump_json().encode())
    for rel in sorted(bundle.files):
        for part in (rel.encode(), bundle.files[rel].encode()):
            digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()


@functools.cache
def data_digest(folder: Path = Path(__file__).parent) -> str:
    """sha256 of the data files llmmon's checks read beside their code (JSON Schemas, CRD models): code_digest
    reads only the Python source."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")):
        digest.update(f"{path.relative_to(folder)}\0".encode() + path.read_bytes())
    return digest.hexdigest()
