"""No partial output, no lost output: failures and kills at every step, concurrent runs, links, failing emitters.

A write is exercised on a small synthetic output (files changed, added, removed, unchanged, next to files
llmmon does not own). Every file-system call it makes is, in turn, made to fail (the write must raise and
leave the previous output) or to kill the process with SIGKILL (the next run must find the previous output,
or the complete new one if the kill came after the commit point). Real `llmmon` processes are killed and run
concurrently too. Everything happens under tmp_path.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from helpers import EXAMPLE, ROOT
from llmmon import atomic, output

OLD = {"a.txt": "a1\n", "dir/b.txt": "b1\n", "dir/sub/c.txt": "c1\n", "gone/x.txt": "x\n", "same.txt": "s\n"}
NEW = {"a.txt": "a2\n", "dir/b.txt": "b1\n", "dir/sub/c.txt": "c2\n", "new/deep/d.txt": "d\n", "same.txt": "s\n"}
FOREIGN = {"notes.txt": b"mine\n", "dir/mine.txt": b"also mine\n", ".hidden": b"h\n", "gone/keep.txt": b"k\n"}
KILLS = 4  # real processes killed at random moments (each run takes a second or so)
WRAPPED = ("open", "write", "fsync", "replace", "link", "mkdir", "unlink", "rmdir", "ftruncate")


def _visible(out: Path) -> dict[str, bytes]:
    """Every file under `out` except llmmon's own lock and staging area."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.relative_to(out).parts[0] not in atomic.RESERVED}


def _state(files: dict[str, str]) -> dict[str, bytes]:
    every = output.with_manifest("s", files)
    return {**FOREIGN, **{rel: text.encode() for rel, text in every.items()}}


def _prepare(out: Path) -> None:
    for rel, data in FOREIGN.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    output.write(out, "s", OLD, durable=False)
    assert _visible(out) == _state(OLD)


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
    _prepare(out)
    with _os_calls(lambda n, name, args: None) as log:
        output.write(out, "s", NEW)
    assert _visible(out) == _state(NEW)
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
        _prepare(out)

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
        expected = _state(NEW if outcome == "written" else OLD)
        assert _visible(out) == expected, f"step {step} ({log[step - 1]}): {outcome}, but the output is mixed"
        assert not atomic.pending(out), f"step {step}: a journal was left behind"
        if outcome == "refused":  # after a commit, a failed clean-up may leave staged copies for the next run
            assert not (out / atomic.TXN).exists(), f"step {step}: the staging area was left behind"
        _not_locked(out)
        output.write(out, "s", NEW, durable=False)  # and the next run is an ordinary one
        assert _visible(out) == _state(NEW)
        assert not (out / atomic.TXN).exists()
        if step > _commit_index(log):
            assert outcome == "written", f"step {step}: a failure after the commit point undid a complete write"
    assert outcomes["refused"] > 20 and outcomes["written"] > 5, outcomes  # fsyncs of folders may fail quietly


def test_a_failure_of_the_undo_itself_is_finished_by_the_next_run(tmp_path: Path) -> None:
    log = _calls_of_a_write(tmp_path)
    first_install = next(i for i, (name, arg) in enumerate(log, 1) if name == "replace" and atomic.TXN + "/new/" in arg)
    out = tmp_path / "out"
    _prepare(out)

    def fail(n: int, name: str, args: tuple[Any, ...]) -> None:
        if n == first_install + 2 or (n > first_install + 2 and name == "replace"):
            raise OSError(5, "Input/output error")  # the install fails, and so does every rename of the undo

    with _os_calls(fail), pytest.raises(output.OutputError, match="the next llmmon run finishes the undo"):
        output.write(out, "s", NEW)
    assert atomic.pending(out)
    with pytest.raises(output.OutputError, match="interrupted"):
        output.compare(out, "s", NEW)  # --check must not report a half-written directory as merely stale
    assert output.recover(out) is True
    assert _visible(out) == _state(OLD)
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
        _prepare(out)
        assert _killed_at(out, step), f"step {step} did not kill the child"
        if atomic.pending(out):
            with pytest.raises(output.OutputError, match="interrupted"):
                output.compare(out, "s", OLD)
        rolled_back += output.recover(out)
        state = _visible(out)
        where = f"killed at step {step} of {len(log)} ({log[step - 1]})"
        if step <= commit:
            assert state == _state(OLD), f"{where}, before the commit point: the previous output is not intact"
        else:
            assert state == _state(NEW), f"{where}, after the commit point: the new output is not complete"
        assert not (out / atomic.TXN).exists()
        _not_locked(out)
        changes = output.write(out, "s", NEW)
        assert _visible(out) == _state(NEW)
        assert not changes.recovered
    assert rolled_back > 5  # kills between the journal and the commit point left something to undo


def _cli_process(spec: Path, out: Path, hook: str = "") -> subprocess.Popen[str]:
    """`llmmon generate` in a real process; `hook` is Python run first (to arm a kill at a given rename)."""
    code = f"import os, signal, sys\n{hook}\nfrom llmmon.cli import main\nsys.argv = ['llmmon', 'generate', " \
           f"{str(spec)!r}, '-o', {str(out)!r}, '--lock-timeout', '30']\nmain()\n"
    env = {k: v for k, v in os.environ.items() if k != "LLMMON_DEBUG"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def _signal_at_third_install(sig: signal.Signals) -> str:
    return (f"_replace, _count = os.replace, [0]\n"
            f"def _hooked(a, b, *r, **k):\n"
            f"    if '{atomic.TXN}/new/' in str(a):\n"
            f"        _count[0] += 1\n"
            f"        if _count[0] == 3: os.kill(os.getpid(), {int(sig)})\n"
            f"    return _replace(a, b, *r, **k)\n"
            f"os.replace = _hooked\n")


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Path, Path]:
    """The example spec, and a copy with the model qwen2-7b removed (same spec name, other files)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    start, end = text.index("  - name: qwen2-7b\n"), text.index("\nalert_tiers:")
    older = tmp_path / "older.yaml"
    older.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    newer = tmp_path / "newer.yaml"
    newer.write_text(text, encoding="utf-8")
    return older, newer


def test_a_real_llmmon_process_killed_mid_write_is_rolled_back_by_the_next_run(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    out = tmp_path / "out"
    assert _cli_process(older, out).wait(timeout=60) == 0
    before = _visible(out)

    killed = _cli_process(newer, out, _signal_at_third_install(signal.SIGKILL))
    assert killed.wait(timeout=60) == -signal.SIGKILL
    assert atomic.pending(out)
    check = subprocess.run([sys.executable, "-m", "llmmon", "generate", str(older), "-o", str(out), "--check"],
                           cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert check.returncode == 2
    assert "was interrupted while writing" in check.stderr and "Traceback" not in check.stderr

    again = _cli_process(older, out)
    stdout, stderr = again.communicate(timeout=60)
    assert again.returncode == 0, stderr
    assert "its changes were rolled back first" in stderr
    assert "(0 added, 0 changed, 0 removed" in stdout  # the rollback alone restored the previous output
    assert _visible(out) == before


def test_sigterm_mid_write_exits_143_with_the_previous_output_in_place(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    out = tmp_path / "out"
    assert _cli_process(older, out).wait(timeout=60) == 0
    before = _visible(out)

    stopped = _cli_process(newer, out, _signal_at_third_install(signal.SIGTERM))
    _, stderr = stopped.communicate(timeout=60)
    assert stopped.returncode == 128 + signal.SIGTERM
    assert stderr.strip() == "llmmon: terminated"
    assert _visible(out) == before
    assert not (out / atomic.TXN).exists() and not (out / atomic.LOCK).exists()


def test_processes_killed_at_random_moments_never_leave_a_mixed_output(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    out = tmp_path / "out"
    assert _cli_process(older, out).wait(timeout=60) == 0
    states = {"older": _visible(out)}
    assert _cli_process(newer, out).wait(timeout=60) == 0
    states["newer"] = _visible(out)
    started = time.perf_counter()
    assert _cli_process(older, out).wait(timeout=60) == 0
    runtime = time.perf_counter() - started
    for i in range(KILLS):  # kill moments spread over a whole run: load, build, stage, install, clean up
        process = _cli_process(newer if i % 2 == 0 else older, out)
        delay = runtime * (i + 0.5) / KILLS
        time.sleep(delay)
        process.kill()
        process.wait(timeout=60)
        output.recover(out)
        assert _visible(out) in (states["older"], states["newer"]), f"kill {i} after {delay:.2f}s"


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
    before = _visible(out)
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
    assert _visible(out) == before
    assert not (out / atomic.TXN).exists() and not (out / atomic.LOCK).exists()


# --- two runs at once -------------------------------------------------------------------------------------------


def test_a_second_run_on_a_locked_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write(out, "s", OLD)
    before = _visible(out)
    with atomic.locked(out):
        with pytest.raises(output.OutputError, match=rf"being written by another llmmon run \(pid {os.getpid()}\)"):
            output.write(out, "s", NEW)
        done = subprocess.run([sys.executable, "-m", "llmmon", "generate", str(EXAMPLE), "-o", str(out)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"llmmon: {out} is being written by another llmmon run (pid {os.getpid()}); let it "
                                   "finish and run again (or wait for it with --lock-timeout SECONDS)")
    assert _visible(out) == before
    assert not (out / atomic.LOCK).exists(), "the lock file goes with its holder"


def test_check_during_another_run_says_it_is_being_written_not_interrupted(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write(out, "s", OLD)
    with atomic.locked(out):
        (out / atomic.TXN).mkdir()
        (out / atomic.TXN / "journal").write_text("{}", encoding="utf-8")  # the other run is mid-update
        with pytest.raises(output.OutputError, match=rf"being written by another llmmon run \(pid {os.getpid()}\) "
                                                     "right now"):
            output.compare(out, "s", OLD)


def test_a_run_with_a_lock_timeout_waits_for_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write(out, "s", OLD)
    holding = threading.Event()

    def hold() -> None:
        with atomic.locked(out):
            holding.set()
            time.sleep(0.5)

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    started = time.perf_counter()
    output.write(out, "s", NEW, lock_timeout=10)
    waited = time.perf_counter() - started
    holder.join()
    assert 0.2 < waited < 5
    assert _visible(out) == {k: v for k, v in _state(NEW).items() if k not in FOREIGN}


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write(out, "s", OLD)
    pid = os.fork()
    if pid == 0:
        try:
            with atomic.locked(out):
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)
    assert (out / atomic.LOCK).read_text() == f"{pid}\n"  # the file stays, its lock died with the process
    output.write(out, "s", NEW)
    assert not (out / atomic.LOCK).exists()


def test_concurrent_runs_on_one_directory_end_in_one_complete_output(
    tmp_path: Path, two_versions: tuple[Path, Path]
) -> None:
    older, newer = two_versions
    outputs = {}
    for name, spec in (("older", older), ("newer", newer)):
        alone = tmp_path / name
        assert _cli_process(spec, alone).wait(timeout=60) == 0
        outputs[name] = _visible(alone)
    out = tmp_path / "out"
    runs = [_cli_process(older if i % 2 else newer, out) for i in range(4)]
    results = [(run.communicate(timeout=120)[1], run.returncode) for run in runs]
    assert [code for _, code in results] == [0] * 4, results
    assert _visible(out) in (outputs["older"], outputs["newer"])
    assert not (out / atomic.TXN).exists() and not (out / atomic.LOCK).exists()


# --- links and llmmon's own state ------------------------------------------------------------------------------


def test_a_linked_folder_inside_the_output_is_never_written_through(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    elsewhere.mkdir()
    out.mkdir()
    (out / "dir").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(output.OutputError, match="is a symbolic link"):
        output.write(out, "s", NEW)
    with pytest.raises(output.OutputError, match="is a symbolic link"):
        output.compare(out, "s", NEW)
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in out.iterdir()) == ["dir"]


def test_a_generated_file_replaced_by_a_link_is_neither_followed_nor_printed(tmp_path: Path) -> None:
    out, secret = tmp_path / "out", tmp_path / "secret.txt"
    secret.write_text("TOKEN=hunter2\n", encoding="utf-8")
    output.write(out, "s", OLD)
    (out / "a.txt").unlink()
    (out / "a.txt").symlink_to(secret)

    changes = output.compare(out, "s", OLD)
    assert changes.changed == ["a.txt"]
    text = output.diff(out, "s", OLD, changes)
    assert "hunter2" not in text
    assert "a symbolic link to" in text
    output.write(out, "s", OLD)
    assert not (out / "a.txt").is_symlink()
    assert (out / "a.txt").read_text(encoding="utf-8") == "a1\n"
    assert secret.read_text(encoding="utf-8") == "TOKEN=hunter2\n"


def test_a_manifest_entry_behind_a_linked_folder_is_never_deleted(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (elsewhere / "x").mkdir(parents=True)
    (elsewhere / "x" / "victim.txt").write_text("not llmmon's\n", encoding="utf-8")
    out.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    (out / output.manifest_name("s")).write_text(json.dumps({"generator": "llmmon", "files": ["link/x/victim.txt"]}),
                                                 encoding="utf-8")
    changes = output.write(out, "s", {"a.txt": "a\n"})
    assert changes.removed == []
    assert (elsewhere / "x" / "victim.txt").read_text(encoding="utf-8") == "not llmmon's\n"


@pytest.mark.parametrize("name", [atomic.LOCK, output.manifest_name("s")])
def test_llmmon_files_replaced_by_links_are_refused_not_followed(tmp_path: Path, name: str) -> None:
    out, target = tmp_path / "out", tmp_path / "precious.txt"
    target.write_text("precious\n", encoding="utf-8")
    out.mkdir()
    (out / name).symlink_to(target)
    with pytest.raises(output.OutputError, match="symbolic link"):
        output.write(out, "s", NEW)
    assert target.read_text(encoding="utf-8") == "precious\n"


def test_an_unreadable_journal_is_refused_and_nothing_is_touched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _prepare(out)
    (out / atomic.TXN).mkdir()
    (out / atomic.TXN / "journal").write_text('{"install": [{"path": "../../etc/passwd"}]}', encoding="utf-8")
    with pytest.raises(output.OutputError, match="is not a journal this llmmon can read"):
        output.write(out, "s", NEW)
    assert _visible(out) == _state(OLD)


@pytest.mark.parametrize("rel", [".llmmon-txn/x", ".llmmon.lock", "a/\x00b", "a\\..\\b", "a//b", "./a"])
def test_paths_naming_llmmon_state_or_malformed_are_refused(tmp_path: Path, rel: str) -> None:
    with pytest.raises(output.OutputError, match="refusing to write outside the output directory"):
        output.write(tmp_path / "out", "s", {rel: "x\n"})
    assert not (tmp_path / "out").exists()
