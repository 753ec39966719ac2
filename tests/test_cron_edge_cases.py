"""Unattended runs (cron, CI): two runs into one OUTPUT, a killed run's leftovers, a script
without the `__main__` guard, a stderr that leads nowhere.

Every dataset is generated in tmp_path; subprocesses run the real CLI (`python -m augcli`)."""
from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.imageio import TMP_MARK
from augcli.manifest import LOCK_NAME, MANIFEST_NAME, RUN_INFO_NAME, read_manifest
from conftest import CLI_RECIPE, read_tree_bytes, write_yolo_dataset

TIMEOUT = 60


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "augcli", *args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=_env())


def _sources(out: Path) -> set[str]:
    return {r["source"] for r in read_manifest(out)}


@pytest.fixture
def recipe(tmp_path: Path) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(CLI_RECIPE, encoding="utf-8")
    return path


def _hold_lock(out: Path, pid: int = 424242, host: str = "nightly-box"):
    """Stand in for another run writing into `out`: its lock file, locked, naming it."""
    fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, json.dumps({"pid": pid, "host": host, "started": "2026-01-01T02:00:00+0000"}).encode() + b"\n")
    return fd


# ------------------------------------------------------------------ two runs into one OUTPUT
@pytest.mark.parametrize("flag", ["--resume", "--overwrite", None])
def test_a_run_into_an_output_another_run_is_writing_is_refused_and_touches_nothing(tmp_path, recipe, flag):
    data = write_yolo_dataset(tmp_path / "in", n=4)
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["run", str(recipe), "-i", str(data), "-o", str(out), "-w", "1", "-q"]).exit_code == 0
    fd = _hold_lock(out)
    try:
        before = read_tree_bytes(out)
        args = ["run", str(recipe), "-i", str(data), "-o", str(out), "-w", "1", "-q"] + ([flag] if flag else [])
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2, result.output
        assert "in use by another augcli run" in result.output and "pid 424242 on host nightly-box" in result.output
        assert read_tree_bytes(out) == before  # nothing deleted, no manifest rewritten
    finally:
        os.close(fd)


def test_an_overran_nightly_resume_is_not_corrupted_by_the_next_one(tmp_path, recipe):
    """Night 1's --resume (many new inputs) still runs when night 2's starts: night 2 is refused at
    once (exit 2), night 1 finishes with every input in its manifest. Before the lock, night 2
    deleted night 1's .partial manifest as a 'temporary file', and night 1 ended with exit 0, its
    run marked complete, and inputs missing from the manifest."""
    data = write_yolo_dataset(tmp_path / "in", n=4, size=(320, 240))
    out = tmp_path / "out"
    assert _cli("run", str(recipe), "-i", str(data), "-o", str(out), "-w", "1", "-q").returncode == 0
    write_yolo_dataset(tmp_path / "in", n=150, size=(320, 240))  # the day's new images
    first = subprocess.Popen([sys.executable, "-m", "augcli", "run", str(recipe), "-i", str(data), "-o", str(out),
                              "-w", "1", "-q", "--resume"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=_env())
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (out / (MANIFEST_NAME + ".partial")).exists():  # night 1 is writing
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.02)
        second = _cli("run", str(recipe), "-i", str(data), "-o", str(out), "-w", "1", "-q", "--resume")
        assert first.poll() is None, "night 1 ended before night 2 started: make the test's run longer"
        _, err = first.communicate(timeout=TIMEOUT)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 2, second.stderr
    assert "in use by another augcli run" in second.stderr and f"pid {first.pid}" in second.stderr
    assert first.returncode == 0, err
    assert _sources(out) == {f"images/img{i}.png" for i in range(150)}
    assert json.loads((out / RUN_INFO_NAME).read_text())["complete"] is True
    assert not (out / LOCK_NAME).exists()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, recipe):
    """kill -9 leaves the lock file but no lock (the kernel drops an flock with its holder): the next
    run, with --resume, --overwrite or into a folder holding nothing else, goes ahead."""
    data = write_yolo_dataset(tmp_path / "in", n=4)
    stale = json.dumps({"pid": 999999, "host": "gone", "started": "2026-01-01T00:00:00+0000"})
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / LOCK_NAME).write_text(stale)
    base = ["run", str(recipe), "-i", str(data), "-w", "1", "-q"]
    assert CliRunner().invoke(main, [*base, "-o", str(fresh)]).exit_code == 0
    for flag in ("--resume", "--overwrite"):
        (fresh / LOCK_NAME).write_text(stale)
        result = CliRunner().invoke(main, [*base, "-o", str(fresh), flag])
        assert result.exit_code == 0, result.output
        assert not (fresh / LOCK_NAME).exists()
        assert _sources(fresh) == {f"images/img{i}.png" for i in range(4)}
        assert not any(LOCK_NAME in json.dumps(r) for r in read_manifest(fresh))


# ------------------------------------------------------------------ a killed run's temporary files
def test_temporaries_of_a_killed_run_are_removed_and_never_listed(tmp_path, recipe):
    data = write_yolo_dataset(tmp_path / "in", n=4)
    out = tmp_path / "out"
    base = ["run", str(recipe), "-i", str(data), "-o", str(out), "-w", "1", "-q"]
    assert CliRunner().invoke(main, base).exit_code == 0
    for flag in ("--resume", "--overwrite"):
        leftovers = [out / "images" / f".img0_aug1.png.1234{TMP_MARK}", out / "labels" / f".img0_aug1.txt.1234{TMP_MARK}",
                     out / f"{MANIFEST_NAME}.partial"]
        for p in leftovers:
            p.write_text("half")
        assert CliRunner().invoke(main, [*base, flag]).exit_code == 0
        assert not [p for p in out.rglob("*") if p.name.endswith((TMP_MARK, ".partial"))]
        assert not any(TMP_MARK in json.dumps(r) for r in read_manifest(out))


# ------------------------------------------------------------------ a script without the __main__ guard
SCRIPT = """\
import sys
import augcli
{call}
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_a_script_without_the_main_guard_is_told_to_add_it(tmp_path, recipe, guarded):
    data = write_yolo_dataset(tmp_path / "in", n=3)
    call = (f"report = augcli.run({str(recipe)!r}, {str(data)!r}, {str(tmp_path / 'out')!r}, workers=2)\n"
            "print('exit', report.exit_code, report.skipped_by_reason)")
    if guarded:
        call = 'if __name__ == "__main__":\n' + textwrap.indent(call, "    ")
    script = tmp_path / "nightly.py"
    script.write_text(SCRIPT.format(call=call))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT,
                          env=_env(), cwd=tmp_path)
    if guarded:
        assert proc.returncode == 0 and "exit 0 {}" in proc.stdout, proc.stderr
        return
    assert proc.returncode != 0
    assert 'if __name__ == "__main__":' in proc.stderr and "UsageError" in proc.stderr
    assert "worker-crashed" not in proc.stdout + proc.stderr
    assert not (tmp_path / "out").exists()  # refused before any work


def test_the_main_guard_check_parses_a_script_once_per_version(tmp_path):
    """The check parses the calling script (some 40 ms for 2,000 lines): once per process and
    version of the file, not once per run; a changed file is parsed again, an unparsable one is
    let through (None)."""
    import os

    from augcli import executor

    script = tmp_path / "nightly.py"
    script.write_text("x = 1\n")
    first = executor._script_syntax(str(script))
    assert first is not None and executor._script_syntax(str(script)) is first
    script.write_text("x = 1\nif __name__ == '__main__':\n    x = 2\n")
    os.utime(script, ns=(1, 2))  # a new version even within the file system's time resolution
    second = executor._script_syntax(str(script))
    assert second is not first and len(second.body) == 2
    script.write_text("def broken(:\n")
    assert executor._script_syntax(str(script)) is None
    assert executor._script_syntax(str(tmp_path / "gone.py")) is None


# ------------------------------------------------------------------ stderr that leads nowhere
def test_a_closed_stderr_pipe_does_not_stop_the_run(tmp_path, recipe):
    """`augcli run ... 2>&1 | head -1`, or a log collector that died: the run still finishes, with
    its real exit code and its dataset files (before: exit 1, no data.yaml, run left incomplete)."""
    data = write_yolo_dataset(tmp_path / "in", n=6)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "augcli", "run", str(recipe), "-i", str(data), "-o", str(out),
                             "-w", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env())
    proc.stderr.close()  # the reader is gone before the first line
    assert proc.wait(timeout=TIMEOUT) == 0
    assert (out / "data.yaml").is_file()
    assert json.loads((out / RUN_INFO_NAME).read_text())["complete"] is True
    assert len(_sources(out)) == 6


def test_quiet_prints_nothing_on_success_and_progress_lines_on_a_pipe(tmp_path, recipe):
    data = write_yolo_dataset(tmp_path / "in", n=3)
    quiet = _cli("run", str(recipe), "-i", str(data), "-o", str(tmp_path / "q"), "-w", "1", "-q")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")
    loud = _cli("run", str(recipe), "-i", str(data), "-o", str(tmp_path / "l"), "-w", "1")
    assert loud.returncode == 0 and loud.stdout == ""
    assert "augcli: 3/3 images (100%)" in loud.stderr  # a plain line, not a bar, on a non-terminal

