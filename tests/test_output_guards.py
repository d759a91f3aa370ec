"""Guards of the output directory: one run at a time, nothing through links, llmmon's own state checked.

Everything happens under tmp_path, on the synthetic output of outputkit.py and on the example spec.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import outputkit
import pytest
from outputkit import FOREIGN, NEW, OLD, cli_process, prepare, state, visible

from helpers import EXAMPLE, ROOT
from llmmon import atomic, output


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Path, Path]:
    return outputkit.two_versions(tmp_path)


# --- two runs at once -------------------------------------------------------------------------------------------


def test_a_second_run_on_a_locked_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    output.write(out, "s", OLD)
    before = visible(out)
    with atomic.locked(out):
        with pytest.raises(output.OutputError, match=rf"being written by another llmmon run \(pid {os.getpid()}\)"):
            output.write(out, "s", NEW)
        done = subprocess.run([sys.executable, "-m", "llmmon", "generate", str(EXAMPLE), "-o", str(out)], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"llmmon: {out} is being written by another llmmon run (pid {os.getpid()}); let it "
                                   "finish and run again (or wait for it with --lock-timeout SECONDS)")
    assert visible(out) == before
    assert not (out / atomic.LOCK).exists(), "the lock file goes with its holder"


def test_a_lock_taken_before_its_holder_wrote_its_pid_is_refused_without_a_pid(tmp_path: Path) -> None:
    """The holder locks the file, then writes its pid: a run between the two read an empty file, and took the
    empty read for a pid: an IndexError, exit 70 (the four concurrent runs below failed so once in `make test`)."""
    import fcntl

    out = tmp_path / "out"
    output.write(out, "s", OLD)
    before = visible(out)
    for content in (b"", b"\n", b"garbage\n"):
        fd = os.open(out / atomic.LOCK, os.O_CREAT | os.O_RDWR | os.O_TRUNC)
        try:
            os.write(fd, content)
            fcntl.flock(fd, fcntl.LOCK_EX)
            with pytest.raises(output.OutputError, match=r"is being written by another llmmon run; let it finish"):
                output.write(out, "s", NEW)
            assert atomic.busy(out) == ""
        finally:
            os.close(fd)
            os.unlink(out / atomic.LOCK)
    assert visible(out) == before


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
    holding, released = threading.Event(), threading.Event()

    def hold() -> None:
        with atomic.locked(out):
            holding.set()
            time.sleep(0.5)
            released.set()  # still inside the lock: a write that got it first would find this unset

    holder = threading.Thread(target=hold)
    holder.start()
    holding.wait(5)
    output.write(out, "s", NEW, lock_timeout=10)
    assert released.is_set()  # the order of events, not a wall-clock figure, shows that the write waited
    holder.join()
    assert visible(out) == {k: v for k, v in state(NEW).items() if k not in FOREIGN}


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
        assert cli_process(spec, alone).wait(timeout=60) == 0
        outputs[name] = visible(alone)
    out = tmp_path / "out"
    runs = [cli_process(older if i % 2 else newer, out) for i in range(4)]
    results = [(run.communicate(timeout=120)[1], run.returncode) for run in runs]
    assert [code for _, code in results] == [0] * 4, results
    assert visible(out) in (outputs["older"], outputs["newer"])
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
    prepare(out)
    (out / atomic.TXN).mkdir()
    (out / atomic.TXN / "journal").write_text('{"install": [{"path": "../../etc/passwd"}]}', encoding="utf-8")
    with pytest.raises(output.OutputError, match="is not a journal this llmmon can read"):
        output.write(out, "s", NEW)
    assert visible(out) == state(OLD)


@pytest.mark.parametrize("rel", [".llmmon-txn/x", ".llmmon.lock", "a/\x00b", "a\\..\\b", "a//b", "./a"])
def test_paths_naming_llmmon_state_or_malformed_are_refused(tmp_path: Path, rel: str) -> None:
    with pytest.raises(output.OutputError, match="refusing to write outside the output directory"):
        output.write(tmp_path / "out", "s", {rel: "x\n"})
    assert not (tmp_path / "out").exists()
