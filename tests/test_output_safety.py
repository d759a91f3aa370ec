"""No partial output, no lost output: a failure and a kill at every step of a write, signals, failing emitters.

A write is exercised on a small synthetic output (outputkit.py: files changed, added, removed, unchanged, next
to files llmmon does not own). Every file-system call it makes is, in turn, made to fail (the write must raise
and leave the previous output) or to kill the process with SIGKILL (the next run must find the previous
output, or the complete new one if the kill came after the commit point). Real `llmmon` processes are killed
too. Concurrent runs and links: test_output_guards.py. Everything happens under tmp_path.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import outputkit
import pytest
from outputkit import NEW, OLD, cli_process, prepare, state, visible

from helpers import EXAMPLE, ROOT
from llmmon import atomic, output

KILLS = 4  # real processes killed at random moments (each run takes a second or so)
WRAPPED = ("open", "write", "fsync", "replace", "link", "mkdir", "unlink", "rmdir", "ftruncate")


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Path, Path]:
    return outputkit.two_versions(tmp_path)


@contextmanager
def _os_calls(on_call: Callable[[int, str, tuple[Any, ...]], None]) -> Iterator[list[tuple[str, str]]]:
    """Wrap the mutating os calls; `on_call(n, name, args)` runs before the nth call. Yields the call log."""
    log: list[tuple[str, str]] = []
    real = {name: getattr(os, name) for name in WRAPPED}

    def wrap(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            log.append((name, str(args[0]) if args else ""))
            on_call(len(log), name, args)
            return real[name](*args, **kwargs)
        return call

    for name in WRAPPED:
        setattr(os, name, wrap(name))
    try:
        yield log
    finally:
        for name, function in real.items():
            setattr(os, name, function)


def _calls_of_a_write(tmp_path: Path) -> list[tuple[str, str]]:
    out = tmp_path / "count"
    prepare(out)
    with _os_calls(lambda n, name, args: None) as log:
        output.write(out, "s", NEW)
    assert visible(out) == state(NEW)
    return list(log)


def _commit_index(log: list[tuple[str, str]]) -> int:
    """The 1-based index of the call that deletes the journal: the commit point."""
    return next(i for i, (name, arg) in enumerate(log, 1) if name == "unlink" and arg.endswith(f"{atomic.TXN}/journal"))


def _not_locked(out: Path) -> None:
    with atomic.locked(out):
        pass


# --- a failure at every step ------------------------------------------------------------------------------------


def test_a_failure_at_any_step_of_a_write_leaves_the_previous_output(tmp_path: Path) -> None:
    log = _calls_of_a_write(tmp_path)
    assert len(log) > 40, log
    outcomes = {"refused": 0, "written": 0}
    for step in range(1, len(log) + 1):
        out = tmp_path / f"fail-{step}"
        prepare(out)

        def fail(n: int, name: str, args: tuple[Any, ...], step: int = step) -> None:
            if n == step:
                raise OSError(28, "No space left on device")

        with _os_calls(fail):
            try:
                output.write(out, "s", NEW)
                outcome = "written"
            except output.OutputError as exc:
                assert "No space left on device" in str(exc)
                outcome = "refused"
        outcomes[outcome] += 1
        expected = state(NEW if outcome == "written" else OLD)
        assert visible(out) == expected, f"step {step} ({log[step - 1]}): {outcome}, but the output is mixed"
        assert not atomic.pending(out), f"step {step}: a journal was left behind"
        if outcome == "refused":  # after a commit, a failed clean-up may leave staged copies for the next run
            assert not (out / atomic.TXN).exists(), f"step {step}: the staging area was left behind"
        _not_locked(out)
        output.write(out, "s", NEW, durable=False)  # and the next run is an ordinary one
        assert visible(out) == state(NEW)
        assert not (out / atomic.TXN).exists()
        if step > _commit_index(log):
            assert outcome == "written", f"step {step}: a failure after the commit point undid a complete write"
    assert outcomes["refused"] > 20 and outcomes["written"] > 5, outcomes  # fsyncs of folders may fail quietly


def test_a_failure_of_the_undo_itself_is_finished_by_the_next_run(tmp_path: Path) -> None:
    log = _calls_of_a_write(tmp_path)
    first_install = next(i for i, (name, arg) in enumerate(log, 1) if name == "replace" and atomic.TXN + "/new/" in arg)
    out = tmp_path / "out"
    prepare(out)

    def fail(n: int, name: str, args: tuple[Any, ...]) -> None:
        if n == first_install + 2 or (n > first_install + 2 and name == "replace"):
            raise OSError(5, "Input/output error")  # the install fails, and so does every rename of the undo

    with _os_calls(fail), pytest.raises(output.OutputError, match="the next llmmon run finishes the undo"):
        output.write(out, "s", NEW)
    assert atomic.pending(out)
    with pytest.raises(output.OutputError, match="interrupted"):
        output.compare(out, "s", NEW)  # --check must not report a half-written directory as merely stale
    assert output.recover(out) is True
    assert visible(out) == state(OLD)
    assert not (out / atomic.TXN).exists()


# --- a kill at every step -------------------------------------------------------------------------------------


def _killed_at(out: Path, step: int) -> bool:
    """Run the write in a forked child that SIGKILLs itself at call `step`; True if it was killed."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            def kill(n: int, name: str, args: tuple[Any, ...]) -> None:
                if n == step:
                    os.kill(os.getpid(), signal.SIGKILL)

            with _os_calls(kill):
                output.write(out, "s", NEW)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_a_kill_at_any_step_leaves_the_previous_output_or_the_complete_new_one(tmp_path: Path) -> None:
    log = _calls_of_a_write(tmp_path)
    commit = _commit_index(log)
    rolled_back = 0
    for step in range(1, len(log) + 1):
        out = tmp_path / f"kill-{step}"
        prepare(out)
        assert _killed_at(out, step), f"step {step} did not kill the child"
        if atomic.pending(out):
            with pytest.raises(output.OutputError, match="interrupted"):
                output.compare(out, "s", OLD)
        rolled_back += output.recover(out)
        now = visible(out)
        where = f"killed at step {step} of {len(log)} ({log[step - 1]})"
        if step <= commit:
            assert now == state(OLD), f"{where}, before the commit point: the previous output is not intact"
        else:
            assert now == state(NEW), f"{where}, after the commit point: the new output is not complete"
        assert not (out / atomic.TXN).exists()
        _not_locked(out)
        changes = output.write(out, "s", NEW)
        assert visible(out) == state(NEW)
        assert not changes.recovered
    assert rolled_back > 5  # kills between the journal and the commit point left something to undo


def _signal_at_third_install(sig: signal.Signals) -> str:
    return (f"_replace, _count = os.replace, [0]\n"
            f"def _hooked(a, b, *r, **k):\n"
            f"    if '{atomic.TXN}/new/' in str(a):\n"
            f"        _count[0] += 1\n"
            f"        if _count[0] == 3: os.kill(os.getpid(), {int(sig)})\n"
            f"    return _replace(a, b, *r, **k)\n"
            f"os.replace = _hooked\n")


def test_a_real_llmmon_process_killed_mid_write_is_rolled_back_by_the_next_run(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    out = tmp_path / "out"
    assert cli_process(older, out).wait(timeout=60) == 0
    before = visible(out)

    killed = cli_process(newer, out, _signal_at_third_install(signal.SIGKILL))
    assert killed.wait(timeout=60) == -signal.SIGKILL
    assert atomic.pending(out)
    check = subprocess.run([sys.executable, "-m", "llmmon", "generate", str(older), "-o", str(out), "--check"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 2
    assert "was interrupted while writing" in check.stderr and "Traceback" not in check.stderr

    again = cli_process(older, out)
    stdout, stderr = again.communicate(timeout=60)
    assert again.returncode == 0, stderr
    assert "its changes were rolled back first" in stderr
    assert "(0 added, 0 changed, 0 removed" in stdout  # the rollback alone restored the previous output
    assert visible(out) == before


def test_sigterm_mid_write_exits_143_with_the_previous_output_in_place(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    out = tmp_path / "out"
    assert cli_process(older, out).wait(timeout=60) == 0
    before = visible(out)

    stopped = cli_process(newer, out, _signal_at_third_install(signal.SIGTERM))
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 128 + signal.SIGTERM
    assert stderr.strip() == "llmmon: terminated"
    assert visible(out) == before
    assert not (out / atomic.TXN).exists() and not (out / atomic.LOCK).exists()


def test_processes_killed_at_random_moments_never_leave_a_mixed_output(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    out = tmp_path / "out"
    assert cli_process(older, out).wait(timeout=60) == 0
    states = {"older": visible(out)}
    assert cli_process(newer, out).wait(timeout=60) == 0
    states["newer"] = visible(out)
    started = time.perf_counter()
    assert cli_process(older, out).wait(timeout=60) == 0
    runtime = time.perf_counter() - started
    for i in range(KILLS):  # kill moments spread over a whole run: load, build, stage, install, clean up
        process = cli_process(newer if i % 2 == 0 else older, out)
        delay = runtime * (i + 0.5) / KILLS
        time.sleep(delay)
        process.kill()
        process.wait(timeout=60)
        output.recover(out)
        assert visible(out) in (states["older"], states["newer"]), f"kill {i} after {delay:.2f}s"


# --- an emitter that fails -------------------------------------------------------------------------------------


def _emitters() -> list[tuple[str, str]]:
    """(module, function) of every emitter: those of the registry, and the ones generate.build calls itself."""
    from llmmon.emit import outputs

    core = [("llmmon.emit.prometheus", "build"), ("llmmon.emit.prom_tests", "build"),
            ("llmmon.emit.kubernetes", "prometheus_rules"), ("llmmon.emit.kustomize", "emit"),
            ("llmmon.generate", "_summary")]
    return [(e.__module__, e.__name__) for e in outputs.emitters()] + core


@pytest.mark.parametrize(("module", "name"), _emitters(), ids=lambda v: v.removeprefix("llmmon."))
def test_an_emitter_that_fails_leaves_the_previous_output_and_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], module: str, name: str
) -> None:
    from helpers import generate, plan_of
    from llmmon import cli

    out = tmp_path / "out"
    generate(plan_of(EXAMPLE), out)
    before = visible(out)
    target = importlib.import_module(module)
    assert callable(getattr(target, name))

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"injected failure in {module}.{name}")

    monkeypatch.setattr(target, name, boom)
    monkeypatch.delenv("LLMMON_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["llmmon", "generate", str(EXAMPLE), "-o", str(out)])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == 70
    assert capsys.readouterr().err == (f"llmmon: internal error: RuntimeError: injected failure in {module}.{name} "
                                       "(set LLMMON_DEBUG=1 for details; please report)\n")
    assert visible(out) == before
    assert not (out / atomic.TXN).exists() and not (out / atomic.LOCK).exists()
