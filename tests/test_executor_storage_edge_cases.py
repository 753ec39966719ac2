"""Edge cases of the executors (local pool, Dask) and the storage layer, each found by running the
command line against generated datasets: what a user sees when something around the run goes wrong."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from augcli import api
from augcli.cli import main
from conftest import read_tree_bytes, write_yolo_dataset

ROOT = Path(__file__).resolve().parent.parent
BASIC = ROOT / "configs" / "basic.yaml"
QUIET = {"log": lambda line: None}


# ------------------------------------------------------------------ --executor dask --scheduler
@pytest.mark.parametrize("address", ["nonsense", "http://127.0.0.1:8786", "tcp://127.0.0.1:1"])
def test_a_scheduler_that_cannot_be_reached_is_a_usage_error_and_nothing_is_written(tmp_path, address):
    """Before: a traceback and exit 1 (malformed address), or after the connect timeout
    'cannot write to OUTPUT: Timed out trying to connect' and exit 3 (unreachable), both after
    the output folder had been made with an augcli-run.json, so the corrected command was refused
    as 'not empty'."""
    pytest.importorskip("distributed")
    import dask

    src = write_yolo_dataset(tmp_path / "in", n=2)
    out = tmp_path / "out"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        result = CliRunner().invoke(main, ["run", str(BASIC), "-i", str(src), "-o", str(out), "-q",
                                           "--executor", "dask", "--scheduler", address])
    assert result.exit_code == 2, result.output
    assert f"cannot reach the dask scheduler {address}" in result.output
    assert "cannot write" not in result.output
    assert not out.exists()


def _start_cluster(tmp_path: Path) -> tuple[subprocess.Popen, subprocess.Popen, str]:
    """A scheduler and one worker in processes of their own (the scheduler can then be killed)."""
    from distributed import Client

    info = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
                                  "--no-dashboard", "--scheduler-file", str(info)], **quiet)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", str(info),
                               "--nthreads", "1", "--no-dashboard"], **quiet)
    deadline = time.monotonic() + 60
    while not info.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    with Client(scheduler_file=str(info), timeout=30) as client:
        client.wait_for_workers(1, timeout=60)
        return scheduler, worker, client.scheduler.address


def test_losing_the_scheduler_mid_run_stops_with_exit_3_naming_it_and_resume_completes(tmp_path):
    """Before: the cleanup after the lost connection (unregistering the worker plugin) failed too and
    its OSError hid the real one, reported as 'cannot write to OUTPUT: Timed out trying to connect'."""
    pytest.importorskip("distributed")
    import dask

    src = write_yolo_dataset(tmp_path / "in", n=12)
    scheduler, worker, address = _start_cluster(tmp_path)
    try:
        def kill_scheduler(done: int, total: int) -> None:
            if done == 3 and scheduler.poll() is None:
                scheduler.kill()
                scheduler.wait()

        with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
            report = api.run(BASIC, src, tmp_path / "out", workers=1, executor="dask", scheduler=address,
                             progress=kill_scheduler, **QUIET)
    finally:
        for proc in (scheduler, worker):
            proc.kill()
            proc.wait()
    assert report.exit_code == 3
    assert report.fatal.startswith(f"lost the dask scheduler {address}"), report.fatal
    assert "cannot write" not in report.fatal
    assert 3 <= report.processed < 12
    resumed = api.run(BASIC, src, tmp_path / "out", workers=1, resume=True, **QUIET)
    assert resumed.exit_code == 0 and resumed.reused >= 3
    api.run(BASIC, src, tmp_path / "fresh", workers=1, **QUIET)
    assert read_tree_bytes(tmp_path / "out") == read_tree_bytes(tmp_path / "fresh")


# ------------------------------------------------------------------ storage: containment by URL
@pytest.mark.parametrize("output, input_, inside", [
    ("s3a://bucket/raw/aug", "s3://bucket/raw", (True, False)),   # one backend, two schemes
    ("s3://bucket/raw", "s3a://bucket/raw/aug", (False, True)),
    ("s3a://bucket/raw", "s3://bucket/raw", (True, True)),
    ("s3://bucket/raw2", "s3a://bucket/raw", (False, False)),
    ("memory://in/out", "memory:///in", (True, False)),
    ("memory://inx", "memory://in", (False, False)),
])
def test_containment_compares_file_system_and_path_not_url_text(output, input_, inside):
    """Before: URLs were compared as text, so an output at s3a://bucket/raw/aug was not seen to be
    inside the input s3://bucket/raw (s3fs serves both schemes): the run wrote into its own input."""
    pytest.importorskip("upath")
    if output.startswith("s3") or input_.startswith("s3"):
        pytest.importorskip("s3fs")
    from augcli import storage

    try:
        assert storage.same_place(storage.location(output), storage.location(input_)) == inside
    finally:
        storage.configure(None)


# ------------------------------------------------------------------ --executor dask: tasks in flight
_BUSY = {"now": 0, "most": 0}


def _busy_for_a_while(x: int) -> int:
    """In a worker: how many of these ran at once in this process, so far."""
    import threading

    lock = _BUSY.setdefault("lock", threading.Lock())
    with lock:
        _BUSY["now"] += 1
        _BUSY["most"] = max(_BUSY["most"], _BUSY["now"])
    time.sleep(0.4)
    with lock:
        _BUSY["now"] -= 1
        return _BUSY["most"]


def _no_setup() -> None:
    pass


def test_tasks_in_flight_follow_the_clusters_threads_not_this_machines_cpus():
    """Before: with --scheduler, at most 4 x -w tasks were in flight, -w defaulting to the CPU count of
    the machine running augcli: a cluster with more threads than that had the rest idle."""
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    from augcli.executor_dask import DaskExecutor

    with LocalCluster(n_workers=1, threads_per_worker=8, processes=True, dashboard_address=":0") as cluster:
        got = [r for _, r in DaskExecutor(1, scheduler=cluster.scheduler_address).map(
            _busy_for_a_while, range(16), _no_setup, ())]
    assert max(got) > 4, got  # 4 x (-w 1) before
