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
    each under a soft memory limit (GOMEMLIMIT) that keeps them all within half of the memory llmmon may use. None
    (the environment as it is) when the user set either variable, or that memory cannot be read."""
    if "GOGC" in os.environ or "GOMEMLIMIT" in os.environ:
        return None
    memory = usable_memory()
    if memory is None:
        return None
    return {**os.environ, "GOGC": _GO_GC_PERCENT, "GOMEMLIMIT": str(memory // (2 * max(1, processes)))}


def usable_memory(cgroups: Path = Path("/sys/fs/cgroup"), own: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes of memory this process may use: the machine's, or its container's limit where that is lower (a CI job
    in a Kubernetes pod sees the node's memory, and Go does not read the limit itself). The limit is that of the
    process's own cgroup, v2 (`memory.max`) or v1 (`memory.limit_in_bytes`), as /proc/self/cgroup names it, or of
    the root of the container's cgroup namespace."""
    try:
        memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    places = [cgroups / "memory.max", cgroups / "memory" / "memory.limit_in_bytes"]
    with contextlib.suppress(OSError):
        for line in own.read_text(encoding="utf-8").splitlines():
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            _, controllers, path = parts
            if controllers == "":
                places.append(cgroups / path.lstrip("/") / "memory.max")
            elif "memory" in controllers.split(","):
                places.append(cgroups / "memory" / path.lstrip("/") / "memory.limit_in_bytes")
    for place in places:
        with contextlib.suppress(OSError, ValueError):
            memory = min(memory, int(place.read_text(encoding="utf-8").strip()))  # "max": no limit (ValueError)
    return memory if memory > 0 else None


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
