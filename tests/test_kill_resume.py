"""Interrupted runs: SIGINT / SIGTERM / SIGKILL of the parent or of a worker at a random point,
then `--resume`, compared file by file (names and bytes) with one clean run of the same command.

Every run is the real CLI in a subprocess (`python -m augcli run ...`) under a timeout, in its
own session so a test that fails can still end everything it started. The random points are
drawn from KILL_SEED (environment variable AUGCLI_KILL_SEED, printed in every failure) so a
failing case can be replayed.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli.cli import main
from augcli.executor import LocalExecutor, WorkerCrashed
from augcli.executor import LocalExecutor
from augcli.imageio import TMP_MARK
from augcli.manifest import MANIFEST_NAME, read_manifest
from conftest import read_tree_bytes, write_yolo_dataset
from hostile_corpus import snapshot

pytestmark = pytest.mark.slow

SIZE = (160, 120)
WORKERS = 2
COPIES = 2
# A stopped pool finishes the chunks already handed out: up to its window of chunks, each of up
# to MAX_CHUNK quick items. The inputs left at the latest stop point (half the outputs) must be
# more than that, or a "stopped" run legitimately finishes everything.
IN_FLIGHT_MAX = LocalExecutor(WORKERS).window * LocalExecutor.MAX_CHUNK
N_IMAGES = 2 * IN_FLIGHT_MAX + 40
OUTPUTS = N_IMAGES * (1 + COPIES)  # images a full run writes
TIMEOUT = 90  # seconds for any one run; a hang fails the test instead of the suite
KILL_SEED = int(os.environ.get("AUGCLI_KILL_SEED", "20240605"))
RECIPE = f"""\
version: 1
seed: 11
copies: {COPIES}
keep_original: true
pipeline:
  - {{type: HorizontalFlip, p: 0.5}}
  - {{type: Rotate, degrees: [-12, 12], p: 0.8}}
  - {{type: GaussianNoise, std: [2, 6], p: 0.5}}
"""


# ---------------------------------------------------------------- running the CLI
def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8", "PYTHONUNBUFFERED": "1"}


def _args(recipe: Path, src: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "augcli", "run", str(recipe), "-i", str(src), "-o", str(out), "-w", str(WORKERS),
            "-q", *extra]


def start(recipe: Path, src: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(_args(recipe, src, out, *extra), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env(), start_new_session=True, cwd=out.parent)


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> tuple[int, str]:
    """(exit code, stderr); a run still going after `timeout` is killed (whole session) and fails the test."""
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"augcli did not finish within {timeout}s (seed {KILL_SEED}); stderr:\n{err}")
    return proc.returncode, err


def run(recipe: Path, src: Path, out: Path, *extra: str) -> tuple[int, str]:
    return finish(start(recipe, src, out, *extra))


def children(pid: int) -> list[int]:
    """Direct child processes of `pid`, from /proc (no psutil)."""
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                found += [int(c) for c in f.read().split()]
        except FileNotFoundError:
            continue
    return sorted(set(found))


def workers_of(pid: int) -> list[int]:
    """The pool's worker processes: augcli starts them from a forkserver, a child of the parent,
    so they are the parent's grandchildren (the forkserver's children)."""
    out = []
    for server in children(pid):
        try:
            with open(f"/proc/{server}/cmdline", "rb") as f:
                if b"forkserver" not in f.read():
                    continue
        except FileNotFoundError:
            continue
        out += children(server)
    return sorted(out)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def written_images(out: Path) -> int:
    """Finished output images (temporary files of atomic writes not counted)."""
    folder = out / "images"
    try:
        return sum(1 for n in os.listdir(folder) if not n.endswith(TMP_MARK))
    except FileNotFoundError:
        return 0


def wait_until(proc: subprocess.Popen, condition, timeout: float = TIMEOUT, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"augcli ended (exit {proc.returncode}) before {what} (seed {KILL_SEED}): "
                        f"{proc.stderr.read() if proc.stderr else ''}")
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what} (seed {KILL_SEED})")
        time.sleep(0.005)


def random_point(rng: random.Random) -> int:
    """How many finished output images to wait for before the kill: somewhere in the middle."""
    return rng.randint(OUTPUTS // 10, OUTPUTS // 2)


def assert_same_tree(got: Path, want: Path, context: str) -> None:
    a, b = read_tree_bytes(got), read_tree_bytes(want)
    missing, extra = sorted(set(b) - set(a)), sorted(set(a) - set(b))
    differ = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    assert not (missing or extra or differ), (
        f"{context} (seed {KILL_SEED}): differs from a clean run: missing {missing[:10]}, extra {extra[:10]}, "
        f"different bytes {differ[:10]}")


def assert_clean_state(out: Path, context: str) -> None:
    """After a stop: no temporary file, every manifest record complete and every image on disk in the manifest."""
    temps = [p for p in out.rglob("*") if p.name.endswith(TMP_MARK)]
    assert not temps, f"{context}: temporary files left: {temps}"
    records = read_manifest(out)
    listed = {r["output"] for r in records if "output" in r}
    for rel in listed:
        assert (out / rel).is_file() and (out / rel).stat().st_size > 0, f"{context}: {rel} listed, not on disk"
    on_disk = {p.relative_to(out).as_posix() for p in (out / "images").rglob("*") if p.is_file()} \
        if (out / "images").is_dir() else set()
    assert on_disk <= listed, f"{context}: finished images not in the manifest: {sorted(on_disk - listed)[:10]}"


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The input, the recipe and one clean run (the reference every interrupted run must equal)."""
    base = tmp_path_factory.mktemp("kill")
    src = write_yolo_dataset(base / "input", n=N_IMAGES, size=SIZE, ext=".jpg")
    recipe = base / "recipe.yaml"
    recipe.write_text(RECIPE)
    reference = base / "reference"
    code, err = run(recipe, src, reference)
    assert code == 0, err
    assert sum(1 for r in read_manifest(reference) if "output" in r) == OUTPUTS
    return {"base": base, "src": src, "recipe": recipe, "reference": reference, "input": snapshot(src)}


@pytest.fixture
def reaper():
    """Sessions started by a test; whatever is still running at the end is killed by its group id."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# ---------------------------------------------------------------- the parent stopped by a signal
@pytest.mark.parametrize("workers", [WORKERS, 1], ids=["pool", "in-process"])
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_signal_then_resume_equals_clean_run(world, tmp_path, reaper, signum, code, workers):
    """With one worker the work runs in augcli's own process: Ctrl-C must stop it there too
    (the worker set-up ignores SIGINT, which once left such runs deaf to it)."""
    rng = random.Random(f"{KILL_SEED}-{signum}")
    out = tmp_path / "out"
    point = random_point(rng)
    proc = start(world["recipe"], world["src"], out, "-w", str(workers))
    reaper.append(proc)
    wait_until(proc, lambda: written_images(out) >= point, what=f"{point} outputs")
    proc.send_signal(signum)
    got, err = finish(proc)
    context = f"{signal.Signals(signum).name} after {point} outputs"
    assert got == code, f"{context}: exit {got}\n{err}"
    assert "Traceback" not in err, err
    assert "--resume" in err, f"{context}: the message should say how to continue:\n{err}"
    assert_clean_state(out, context)
    assert written_images(out) < OUTPUTS, f"{context}: the run was not stopped early"
    got, err = run(world["recipe"], world["src"], out, "--resume")
    assert got == 0, f"{context}, then --resume: exit {got}\n{err}"
    assert_same_tree(out, world["reference"], f"{context}, then --resume")
    assert snapshot(world["src"]) == world["input"], "the input changed"


def test_second_sigint_stops_at_once_then_resume_equals_clean_run(world, tmp_path, reaper):
    rng = random.Random(f"{KILL_SEED}-double")
    out = tmp_path / "out"
    point = random_point(rng)
    proc = start(world["recipe"], world["src"], out)
    reaper.append(proc)
    wait_until(proc, lambda: written_images(out) >= point, what=f"{point} outputs")
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    got, err = finish(proc)
    assert got == 130, err
    assert "Traceback" not in err, err
    assert not [p for p in out.rglob("*") if p.name.endswith(TMP_MARK)], "half-written files left"
    got, err = run(world["recipe"], world["src"], out, "--resume")
    assert got == 0, err
    assert_same_tree(out, world["reference"], f"two SIGINTs after {point} outputs, then --resume")


# ---------------------------------------------------------------- SIGKILL: nothing can be cleaned up
def _sigkill_parent(proc: subprocess.Popen, out: Path, point: int) -> list[int]:
    """SIGKILL the parent once `point` images are written; returns its workers' pids."""
    wait_until(proc, lambda: len(workers_of(proc.pid)) == WORKERS and written_images(out) >= point,
               what=f"{point} outputs")
    orphans = workers_of(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)
    return orphans


def _reap(orphans: list[int], grace: float) -> list[int]:
    """Wait up to `grace` seconds for the orphaned workers to exit; kill (by pid) and return those that did not."""
    deadline = time.monotonic() + grace
    while any(alive(p) for p in orphans) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p in orphans if alive(p)]
    for pid in left:  # ours: forked by the run this test started
        os.kill(pid, signal.SIGKILL)
    return left


def test_parent_sigkill_then_resume_equals_clean_run(world, tmp_path, reaper):
    rng = random.Random(f"{KILL_SEED}-parent")
    out = tmp_path / "out"
    point = random_point(rng)
    proc = start(world["recipe"], world["src"], out)
    reaper.append(proc)
    _reap(_sigkill_parent(proc, out, point), grace=0)
    proc.communicate()
    got, err = run(world["recipe"], world["src"], out, "--resume")
    assert got == 0, f"SIGKILL after {point} outputs, then --resume: exit {got}\n{err}"
    assert "Traceback" not in err, err
    assert_same_tree(out, world["reference"], f"parent SIGKILLed after {point} outputs, then --resume")


def test_workers_exit_when_the_parent_is_killed(world, tmp_path, reaper):
    """A parent killed by the OOM killer or `kill -9` in cron must not leave its workers running forever."""
    out = tmp_path / "out"
    proc = start(world["recipe"], world["src"], out)
    reaper.append(proc)
    orphans = _sigkill_parent(proc, out, OUTPUTS // 5)
    left = _reap(orphans, grace=5)
    proc.communicate()
    assert not left, f"worker processes {left} of a SIGKILLed parent were still running 5 s later"


def _open_temporaries(pid: int) -> list[str]:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return []
    found = []
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.endswith(TMP_MARK):
            found.append(target)
    return found


@pytest.mark.parametrize("when", ["random", "mid-write"])
def test_worker_sigkill_is_retried_and_the_run_equals_a_clean_run(world, tmp_path, reaper, when):
    """A worker killed mid-run: its items are run again alone, the run completes (exit 0) and its
    output equals a clean run's. 'mid-write': the worker is stopped, and killed only while it holds
    a temporary output file open (killed inside an atomic write)."""
    rng = random.Random(f"{KILL_SEED}-worker-{when}")
    out = tmp_path / "out"
    point = random_point(rng)
    proc = start(world["recipe"], world["src"], out)
    reaper.append(proc)
    wait_until(proc, lambda: len(workers_of(proc.pid)) == WORKERS and written_images(out) >= point,
               what=f"{point} outputs")
    victim = None
    if when == "random":
        victim = rng.choice(workers_of(proc.pid))
        os.kill(victim, signal.SIGKILL)
    else:
        deadline = time.monotonic() + 30
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            for pid in workers_of(proc.pid):
                os.kill(pid, signal.SIGSTOP)
                if _open_temporaries(pid):
                    os.kill(pid, signal.SIGKILL)
                    victim = pid
                    break
                os.kill(pid, signal.SIGCONT)
        if victim is None:
            pytest.skip("never caught a worker inside an atomic write")
    got, err = finish(proc)
    context = f"worker {victim} SIGKILLed ({when}) after {point} outputs"
    assert got == 0, f"{context}: exit {got}\n{err}"
    assert "Traceback" not in err, err
    assert_same_tree(out, world["reference"], context)


# ---------------------------------------------------------------- resume as an update
def test_resume_after_new_inputs_and_a_changed_label_equals_a_fresh_run(world, tmp_path):
    src = tmp_path / "input"
    shutil.copytree(world["src"], src)
    out = tmp_path / "out"
    shutil.copytree(world["reference"], out)  # a finished run of the old input
    write_yolo_dataset(tmp_path / "more", n=N_IMAGES + 3, size=SIZE, ext=".jpg")
    for i in range(N_IMAGES, N_IMAGES + 3):  # three new images with their labels
        shutil.copy(tmp_path / "more" / "images" / f"img{i}.jpg", src / "images" / f"new{i}.jpg")
        shutil.copy(tmp_path / "more" / "labels" / f"img{i}.txt", src / "labels" / f"new{i}.txt")
    (src / "labels" / "img7.txt").write_text("1 0.300000 0.400000 0.200000 0.300000\n")  # one label changed
    code, err = run(world["recipe"], src, out, "--resume")
    assert code == 0, err
    assert "Traceback" not in err, err
    fresh = tmp_path / "fresh"
    code, err = run(world["recipe"], src, fresh)
    assert code == 0, err
    assert_same_tree(out, fresh, "--resume after adding 3 inputs and changing labels/img7.txt")
    rows = [r for r in read_manifest(out) if r["source"] == "images/img7.jpg"]
    assert rows and all(r["classes"] == {"dog": 1} for r in rows), rows


def test_resume_with_a_changed_recipe_is_refused_naming_the_recipe(world, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(world["reference"], out)
    before = snapshot(out)
    changed = tmp_path / "changed.yaml"
    changed.write_text(RECIPE.replace("p: 0.8", "p: 0.9"))
    result = CliRunner().invoke(main, ["run", str(changed), "-i", str(world["src"]), "-o", str(out), "-w", "1",
                                       "--resume"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "--resume" in result.stderr and "recipe" in result.stderr, result.stderr
    assert "--overwrite" in result.stderr, "the message should say how to start again"
    assert snapshot(out) == before, "a refused --resume changed the output folder"
    assert (out / MANIFEST_NAME).is_file()


# ---------------------------------------------------------------- the pool itself
def _no_setup() -> None:
    pass


def _square_or_die(x: int) -> int:
    """Item 5 kills its own worker, once the items before it are done."""
    if x == 5:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGKILL)
    return x * x


def test_pool_survives_a_worker_dying_between_two_results():
    """The deterministic form of a race seen in the worker-kill tests: a worker dies while the caller
    holds a finished result, so the pool finds it dead when it next hands it work, not while waiting
    for a result. The items must still all come back in order, the one that kills its worker as
    WorkerCrashed."""
    got = []
    for i, (item, result) in enumerate(LocalExecutor(2).map(_square_or_die, range(12), _no_setup, ())):
        got.append((item, result))
        if i == 0:
            time.sleep(1.0)  # item 5 kills its worker meanwhile; items 1..4 are already finished
    assert [item for item, _ in got] == list(range(12))
    assert isinstance(got[5][1], WorkerCrashed)
    assert [r for i, r in got if i != 5] == [i * i for i in range(12) if i != 5]


def test_the_items_of_the_chunk_a_worker_died_in_are_run_again_alone():
    """Quick items travel in chunks. A worker that dies takes down the chunk it was running: its
    items are run again one by one on fresh workers, the one that kills its worker again comes
    back as WorkerCrashed, and every other item comes back once, in input order, with its own
    result (the first item of the run is a killer too: the chunk at the head of the results)."""
    import pool_probe

    killers = {0, 77, 78}
    tasks = [(i, i in killers) for i in range(160)]
    ex = LocalExecutor(2)
    got = list(ex.map(pool_probe.value_or_die, tasks, pool_probe.no_setup, ()))
    assert [task for task, _ in got] == tasks
    assert all(isinstance(r, WorkerCrashed) for (i, _), r in got if i in killers)
    assert [r for (i, _), r in got if i not in killers] == [i for i in range(160) if i not in killers]
    assert ex.crashed


def test_a_result_that_cannot_travel_back_ends_the_run_after_the_results_before_it():
    import pool_probe

    got = []
    with pytest.raises(RuntimeError, match="could not be sent back"):
        for item, result in LocalExecutor(2).map(pool_probe.unpicklable_at, range(8), pool_probe.no_setup, ()):
            got.append((item, result))
    assert got == [(0, 0), (1, 1), (2, 2)]


def _square_or_fail(x: int) -> int:
    if x == 37:
        raise ValueError("item 37 is bad")
    time.sleep(0.002 if x % 3 else 0.0)
    return x * x


def test_pool_sends_quick_items_in_chunks_and_keeps_order():
    """Quick items travel in chunks (one round trip for several items), results still in input order,
    and an item that raises ends the run after every result before it."""
    from augcli.executor import _Pace

    got = []
    with pytest.raises(ValueError, match="item 37"):
        for item, result in LocalExecutor(2).map(_square_or_fail, range(200), _no_setup, ()):
            got.append((item, result))
    assert got == [(i, i * i) for i in range(37)]
    pace = _Pace(workers=2, seconds=0.05, largest=16)
    assert pace.chunk == 1, "the first chunk is one item: nothing is known about the work yet"
    pace.start -= 0.01  # 20 items took 10 ms on 2 workers: 1 ms each
    pace.done(20)
    assert pace.chunk == 16
    slow = _Pace(workers=2, seconds=0.05, largest=16)
    slow.start -= 2.0  # 10 items took 2 s on 2 workers: 0.4 s each
    slow.done(10)
    assert slow.chunk == 1


def test_the_last_chunks_of_a_run_are_cut_down_to_single_items():
    """Chunks are as large as the pace asks until the end of the items is in sight; then each is at
    most 1/shares of what is left, so the run ends in single items (no worker left alone with a
    long chunk). The items come out whole and in order, and are read only so far ahead."""
    import itertools

    from augcli.executor import _Ahead

    pending = _Ahead(range(200), reach=64)
    chunks = []
    while chunk := pending.take(16, shares=4):
        chunks.append(chunk)
    assert [i for chunk in chunks for i in chunk] == list(range(200))
    sizes = [len(chunk) for chunk in chunks]
    left = 200
    for size in sizes:
        assert size == min(16, -(-left // 4)) or left > 16 + 64, (size, left, sizes)
        left -= size
    assert sizes[:8] == [16] * 8 and sizes[-4:] == [1, 1, 1, 1], sizes
    assert sizes == sorted(sizes, reverse=True), sizes

    endless = itertools.count()
    assert _Ahead(endless, reach=64).take(16, shares=4) == list(range(16))
    assert next(endless) == 16 + 64, "read 64 items ahead of the chunk, no more"


def test_pool_reports_an_error_in_the_very_first_item():
    with pytest.raises(ValueError, match="item 37"):
        list(LocalExecutor(2).map(_square_or_fail, [37, 1, 2], _no_setup, ()))


def test_pool_workers_start_with_numpy_random_imported():
    """Every worker needs numpy.random (each output's generator) but augcli.job leaves it to first
    use; the fork server imports it once so that the workers do not each pay for it."""
    import pool_probe

    got = [result for _, result in LocalExecutor(2).map(pool_probe.imported, ["numpy.random"] * 4, pool_probe.no_setup, ())]
    assert got == [True] * 4


def test_pool_workers_inherit_the_start_up_work_from_the_fork_server():
    """Every transform family and format is imported once in the fork server (augcli.preload),
    not again in each worker."""
    import pool_probe

    from augcli.executor import _context

    if _context().get_start_method() != "forkserver":
        pytest.skip("no fork server on this platform")
    got = [result for _, result in LocalExecutor(2).map(pool_probe.warmed_up, [0] * 2, pool_probe.no_setup, ())]
    assert got == [{"families": True, "formats": True}] * 2


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_pool_pins_each_worker_to_its_own_cpu_when_there_is_one_per_cpu(monkeypatch):
    """A pool with one worker per CPU pins worker i to CPU i (the parent stays free); with fewer
    workers than CPUs, or AUGCLI_PIN_WORKERS=0, nothing is pinned."""
    import pool_probe

    from augcli import executor

    cpus = sorted(os.sched_getaffinity(0))
    with monkeypatch.context() as m:  # which CPUs: those this process may use, when there are as many as workers
        m.setattr(executor.os, "sched_getaffinity", lambda pid: {5, 2})
        assert executor._cpus_to_pin(2) == [2, 5]
        assert executor._cpus_to_pin(1) is None and executor._cpus_to_pin(3) is None
        m.setenv(executor.PIN_ENV, "0")
        assert executor._cpus_to_pin(2) is None

    fake = [cpus[0], cpus[-1]]  # two CPUs this machine has (the same one twice on a 1-CPU machine)
    monkeypatch.setattr(executor, "_cpus_to_pin", lambda workers: fake if workers == 2 else None)
    got = [r for _, r in LocalExecutor(2).map(pool_probe.affinity_after, [0.3] * 6, pool_probe.no_setup, ())]
    by_worker = dict(got)
    assert len(by_worker) == 2, "both workers took items"
    assert sorted(by_worker.values()) == sorted([(fake[0],), (fake[1],)]), "one CPU each, in start order"
    assert os.getpid() not in by_worker and sorted(os.sched_getaffinity(0)) == cpus, "the parent is not pinned"
    monkeypatch.setattr(executor, "_cpus_to_pin", lambda workers: None)
    unpinned = {r for _, r in LocalExecutor(2).map(pool_probe.affinity_after, [0.05] * 4, pool_probe.no_setup, ())}
    assert {cpus_of for _, cpus_of in unpinned} == {tuple(cpus)}


def test_a_run_whose_workers_cannot_start_stops_with_an_error(make_yolo_dataset, tmp_path, monkeypatch):
    """Workers whose set-up fails die before any work: every input would end as worker-crashed, one
    fresh worker at a time. After WORKER_DEATHS_TO_STOP such inputs in a row the run stops with an
    error (exit 3) instead of going through the whole dataset."""
    import pool_probe

    from augcli import api, executor

    class BrokenWorkers(executor.LocalExecutor):
        def map(self, fn, items, initializer, initargs, should_stop=executor.Never):
            return super().map(fn, items, pool_probe.broken_setup, (), should_stop)

    monkeypatch.setattr(executor, "make_executor", lambda workers, *a, **k: BrokenWorkers(workers))
    src = make_yolo_dataset(n=40)
    report = api.run({"version": 1, "copies": 1, "pipeline": [{"type": "HorizontalFlip"}]}, src, tmp_path / "out",
                     workers=2)
    assert report.exit_code == 3 and "keep dying" in report.fatal
    crashed = [key for key, reason, _ in report.skipped if reason == "worker-crashed"]
    assert api.WORKER_DEATHS_TO_STOP <= len(crashed) < 40, "stopped soon after the limit"
    assert not report.failed_fast, "not reported as --on-error fail"


def test_a_second_signal_inside_a_critical_stretch_waits_for_its_end():
    """The second Ctrl-C stops at once, but not between two records of one item (that left an item
    whose copies were written but not recorded, which --resume then took as done)."""
    from augcli.executor import StopOnSignal

    steps = []
    with StopOnSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)  # the first: a stop request
        assert stop() and stop.signum == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            with stop.critical():
                steps.append("first record")
                os.kill(os.getpid(), signal.SIGINT)  # the second, mid-item
                for _ in range(1000):  # give the handler every chance to run here
                    pass
                steps.append("last record")
        assert steps == ["first record", "last record"]
        with pytest.raises(KeyboardInterrupt):  # outside a critical stretch it interrupts at once
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):
                pass
    with pytest.raises(ValueError):  # an error inside is not masked by a deferred interrupt
        with StopOnSignal() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            with stop.critical():
                os.kill(os.getpid(), signal.SIGINT)
                raise ValueError("disk full")


def test_resume_redoes_an_item_whose_records_were_cut_short(world, tmp_path):
    """A run killed while recording an item (SIGKILL mid-flush) can leave its original's record
    but not its copies'. --resume must make that item again, not take it as done with two of its
    outputs missing from the manifest."""
    out = tmp_path / "out"
    shutil.copytree(world["reference"], out)
    manifest = (out / MANIFEST_NAME).read_text().splitlines(keepends=True)
    cut = [i for i, line in enumerate(manifest) if '"source": "images/img3.jpg"' in line][-1]  # its last copy
    lost = manifest.pop(cut)
    (out / MANIFEST_NAME).write_text("".join(manifest))
    output = json.loads(lost)["output"]
    spool = (out / ".augcli-spool.jsonl").read_text().splitlines(keepends=True)
    (out / ".augcli-spool.jsonl").write_text("".join(s for s in spool if json.loads(s)["image"] != output))
    code, err = run(world["recipe"], world["src"], out, "--resume")
    assert code == 0, err
    assert_same_tree(out, world["reference"], "--resume after an item's last record was lost")
