"""The Dask executor: same outputs as the local pool, byte for byte, including when a Dask
worker process is killed mid-run. Each test starts its own LocalCluster (a few seconds)."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

import dask  # noqa: E402  (after the skip: dask is optional)
from click.testing import CliRunner  # noqa: E402

from augcli import api  # noqa: E402
from augcli.cli import main  # noqa: E402
from augcli.executor import WorkerCrashed  # noqa: E402
from augcli.executor_dask import DaskExecutor  # noqa: E402
from conftest import read_tree_bytes, write_yolo_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "yolo"
BASIC = ROOT / "configs" / "basic.yaml"


def assert_same_tree(got: Path, want: Path) -> None:
    a, b = read_tree_bytes(got), read_tree_bytes(want)
    assert sorted(a) == sorted(b)
    assert [k for k in a if a[k] != b[k]] == []


def test_dask_run_equals_local_run(tmp_path):
    lines: list[str] = []
    local = api.run(BASIC, SAMPLE, tmp_path / "local", workers=2, log=lambda line: None)
    dasked = api.run(BASIC, SAMPLE, tmp_path / "dask", workers=2, executor="dask", log=lines.append)
    assert (dasked.processed, dasked.outputs, dasked.skipped) == (local.processed, local.outputs, local.skipped)
    assert (dasked.processed, dasked.outputs, dasked.skipped) == (6, 18, [])
    assert any("dashboard http" in line for line in lines), lines
    assert_same_tree(tmp_path / "dask", tmp_path / "local")


def test_cli_executor_dask(tmp_path):
    local = CliRunner().invoke(main, ["run", str(BASIC), "-i", str(SAMPLE), "-o", str(tmp_path / "local"), "-q"])
    assert local.exit_code == 0, local.output
    result = CliRunner().invoke(main, ["run", str(BASIC), "-i", str(SAMPLE), "-o", str(tmp_path / "dask"),
                                       "-w", "2", "--executor", "dask", "-q"])
    assert result.exit_code == 0, result.output
    assert_same_tree(tmp_path / "dask", tmp_path / "local")


def test_scheduler_without_dask_executor_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["run", str(BASIC), "-i", str(SAMPLE), "-o", str(tmp_path / "out"),
                                       "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code != 0
    assert "--scheduler needs --executor dask" in result.output
    assert not (tmp_path / "out").exists()


_SETUP: list[int] = []


def _setup(base: int) -> None:
    _SETUP.append(base)


def _add_or_die(x: int) -> int:
    if x == 3:
        os._exit(1)  # a crash in native code, the OOM killer
    return x + _SETUP[-1]


def test_an_item_that_keeps_killing_workers_is_yielded_as_worker_crashed():
    """The other items finish, in input order; the killer becomes WorkerCrashed."""
    # window=1: only the killer is in flight when its worker dies, so Dask never counts an innocent
    # item as suspicious (it blames every task processing on a dying worker)
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        ex = DaskExecutor(2, window=1)
        got = list(ex.map(_add_or_die, range(6), _setup, (100,)))
    assert [i for i, _ in got] == list(range(6))
    assert [r for i, r in got if i != 3] == [100, 101, 102, 104, 105]
    assert isinstance(got[3][1], WorkerCrashed)
    assert ex.crashed


def test_should_stop_finishes_in_flight_items_and_returns():
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 4  # after the first window was handed out

    got = list(DaskExecutor(2, window=3).map(_add_or_die, [0, 1, 2, 4, 5, 6, 7, 8], _setup, (0,), should_stop=stop))
    assert 3 <= len(got) < 8
    assert [i for i, _ in got] == [0, 1, 2, 4, 5, 6, 7, 8][:len(got)]


@pytest.mark.slow
def test_a_killed_dask_worker_is_replaced_and_the_run_equals_a_local_run(tmp_path, write_recipe):
    src = write_yolo_dataset(tmp_path / "input", n=40, size=(320, 240), ext=".jpg")
    recipe = write_recipe("""
        seed: 11
        copies: 2
        keep_original: true
        pipeline:
          - {type: Rotate, degrees: [-12, 12]}
          - {type: GaussianNoise, std: [2, 6], p: 0.5}
    """)
    api.run(recipe, src, tmp_path / "local", workers=2, log=lambda line: None)
    killed: list[int] = []

    def kill_one_worker(done: int, total: int) -> None:
        if done == 8 and not killed:
            pids = distributed.get_client().run(os.getpid)  # {worker address: pid}
            killed.append(sorted(pids.values())[0])
            os.kill(killed[0], signal.SIGKILL)

    report = api.run(recipe, src, tmp_path / "dask", workers=2, executor="dask", progress=kill_one_worker,
                     log=lambda line: None)
    assert killed
    assert report.processed == 40 and report.skipped == [] and report.fatal is None
    assert_same_tree(tmp_path / "dask", tmp_path / "local")
