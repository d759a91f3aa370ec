"""Running the external checkers (promtool, amtool, kubectl, checkov): one way, safe by construction.

An argument list, never a shell; stdin closed, so a tool waiting for input cannot hang a run; output decoded as
UTF-8 with bad bytes replaced, so a tool's garbage cannot raise. Each tool runs in a process group of its own:
on a timeout, or when llmmon itself is interrupted, the whole group is killed, including any process the tool
started, which would otherwise hold its output pipes open and make the timeout wait for it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from pathlib import Path

_running: set[subprocess.Popen[str]] = set()
_lock = threading.Lock()
# Go's garbage collector is tuned for servers that run for days: it collects each time the heap has doubled. A
# checker that runs for seconds (`promtool test rules`) spends a quarter to a third of its CPU there; collecting
# when the heap has grown fivefold costs ~2x the memory (tens to hundreds of MB) and saves most of that time.
_GO_GC_PERCENT = "400"


def go_checker_env(processes: int) -> dict[str, str] | None:
    """The environment for `processes` short runs of a Go checker at once: garbage collected less often (GOGC),
    each under a soft memory limit (GOMEMLIMIT) that keeps them all within half of the machine's memory. None
    (the environment as it is) when the user set either variable, or the machine's memory cannot be read."""
    if "GOGC" in os.environ or "GOMEMLIMIT" in os.environ:
        return None
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    if memory <= 0:
        return None
    return {**os.environ, "GOGC": _GO_GC_PERCENT, "GOMEMLIMIT": str(memory // (2 * max(1, processes)))}


def run(args: list[str], timeout: float, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion; raises OSError when it cannot start and TimeoutExpired after `timeout` s."""
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise TypeError("a tool is run from a list of strings, never a shell command line")
    process = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                               process_group=0)
    with _lock:
        _running.add(process)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException:  # the timeout, or llmmon interrupted: nothing of the tool may outlive it
        _kill(process)
        process.communicate()
        raise
    finally:
        with _lock:
            _running.discard(process)
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def kill_all() -> None:
    """Kill every tool still running (and what it started): llmmon is being interrupted."""
    with _lock:
        running = list(_running)
    for process in running:
        _kill(process)


def _kill(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
