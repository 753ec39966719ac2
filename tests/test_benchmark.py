"""The benchmark (benchmarks/bench.py) runs end to end and prints every table.

Only that it runs: timings depend on the machine, so nothing here asserts a number."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from augcli.transforms.registry import registry

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    tmp = tmp_path_factory.mktemp("bench")
    results = tmp / "results"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--images", "5", "--workers", "1,2", "--scale-sizes", "10,30",
         "--data-dir", str(tmp / "data"), "--results-dir", str(results), "--save"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1"),
    )
    return proc, results


def test_quick_run_succeeds(quick_run):
    proc, _ = quick_run
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.mark.parametrize("heading", [
    "## Machine", "## Throughput", "## Scaling", "## Memory at 1920x1080",
    "## Parent memory as the dataset grows", "## Per-transform cost", "## Start-up", "## Targets (issue 6)",
])
def test_report_has_every_table(quick_run, heading):
    proc, _ = quick_run
    assert heading in proc.stdout


def test_throughput_table_has_every_case_and_worker_count(quick_run):
    out = quick_run[0].stdout
    for workers in (1, 2):
        for case in ("floor", "augcli STANDARD", "augcli LIGHT", "hand-written OpenCV STANDARD",
                     "hand-written OpenCV LIGHT"):
            assert f"| {workers} | {case} |" in out
    assert "against the hand-written OpenCV STANDARD script" in out


def test_hand_written_opencv_script_moves_boxes_with_the_pixels():
    """The reference script is only a fair rival if it does the labelling work right: a box drawn as a
    solid colour patch must, after each random flip/rotation, still cover the patch's pixels."""
    import numpy as np

    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench
    finally:
        sys.path.remove(str(BENCH.parent))
    bench._CV.update(standard=True, noise=None)
    h, w = 180, 320
    image = np.zeros((h, w, 3), np.uint8)
    box = (200.0, 40.0, 260.0, 110.0)  # x1 y1 x2 y2, pixel edges
    image[40:110, 200:260] = (0, 0, 255)
    rotated = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        out, kept, keep = bench._opencv_copy(image, np.array([box]), rng)
        red = (out[..., 2] > 100) & (out[..., 1] < 80) & (out[..., 0] < 80)  # survives BC, blur, noise
        ys, xs = np.nonzero(red)
        assert len(keep) == 1 and len(xs) > 0
        x1, y1, x2, y2 = kept[0]
        assert x1 - 1 <= xs.min() and xs.max() + 1 <= x2 + 1 and y1 - 1 <= ys.min() and ys.max() + 1 <= y2 + 1
        # tight: a rotated patch's corner box exceeds the patch by at most its own size times sin 15°
        assert (x2 - x1) - (xs.max() + 1 - xs.min()) <= 0.3 * 70 + 2
        rotated += (x2 - x1) > 62
    assert rotated > 0  # some copies were rotated


def test_dask_row_when_dask_is_installed(quick_run):
    """The dask engine against the local pool (issue 8): 2 workers only, with its overhead line."""
    pytest.importorskip("distributed")
    out = quick_run[0].stdout
    assert "| 2 | augcli STANDARD (dask) |" in out
    assert "| 1 | augcli STANDARD (dask) |" not in out
    assert "Engine overhead: `--executor dask`" in out


def test_every_registered_transform_is_timed(quick_run):
    out = quick_run[0].stdout
    for name in registry():
        rows = [line for line in out.splitlines() if line.startswith(f"| {name} |")]
        assert rows, f"{name} missing from the per-transform table"
        assert "not measured" not in rows[0], rows[0]


def test_save_writes_the_report(quick_run):
    proc, results = quick_run
    saved = list(results.glob("*.md"))
    assert len(saved) == 1
    assert saved[0].read_text().strip() in proc.stdout
    assert len(list(results.glob("*.json"))) == 1


def test_case_outputs_are_set_aside_then_deleted_at_the_end(quick_run):
    """Outputs wait in a trash folder between cases (deleting them would slow the next case's file
    creation on a journal-less ext4) and are all gone when the benchmark ends."""
    _, results = quick_run
    scratch = results.parent / "data" / "scratch"
    assert scratch.is_dir()
    assert sorted(p.name for p in scratch.iterdir()) == []


def _bench_module():
    sys.path.insert(0, str(BENCH.parent))
    try:
        import bench
    finally:
        sys.path.remove(str(BENCH.parent))
    return bench


def test_settling_probes_file_creation_without_deleting_anything(tmp_path, monkeypatch):
    """Before measuring, the benchmark waits until creating a file is cheap (no recently freed inodes
    to walk past); its probe files go to the trash, so probing frees no inode, and the wait ends as
    soon as one probe is under the threshold."""
    bench = _bench_module()
    monkeypatch.setattr(bench, "SETTLE_POLL_SECONDS", 0)
    costs = iter([900.0, 400.0, 20.0, 5.0])
    probes = []
    monkeypatch.setattr(bench, "file_create_us", lambda folder: probes.append(folder) or next(costs))
    assert bench.settle_file_creation(tmp_path) == 20.0
    assert probes == [tmp_path] * 3

    monkeypatch.undo()
    cost = bench.file_create_us(tmp_path, files=5)
    assert cost > 0
    (probe,) = (tmp_path / bench.TRASH).iterdir()
    assert sorted(p.name for p in probe.iterdir()) == ["0", "1", "2", "3", "4"]


def test_settling_gives_up_after_its_limit(tmp_path, monkeypatch):
    bench = _bench_module()
    monkeypatch.setattr(bench, "SETTLE_POLL_SECONDS", 0)
    monkeypatch.setattr(bench, "file_create_us", lambda folder: 700.0)
    assert bench.settle_file_creation(tmp_path, limit=0) == 700.0
    assert bench.empty_trash(tmp_path, settle=0) is None  # --settle-seconds 0: no probe, no wait


def test_a_case_whose_cores_sat_idle_is_run_again(monkeypatch):
    """A CPU-bound case keeps the cores it can use busy; one that idled more than RETRY_IDLE of its
    time (no steal, no other process) was held up by the host and is run again like a disturbed
    one. Short cases, whose pool start is a real share of the time, and results saved before the
    benchmark recorded `cores`, are never judged idle."""
    bench = _bench_module()
    quiet = {"other_cores": 0.0, "steal_cores": 0.0}
    busy_1w = {**quiet, "seconds": 4.0, "cpu_seconds": 3.9, "cores": 1}
    stalled_1w = {**quiet, "seconds": 5.3, "cpu_seconds": 4.1, "cores": 1}  # 23% idle
    busy_2w = {**quiet, "seconds": 2.2, "cpu_seconds": 4.2, "cores": 2}  # 5% idle: a pool's start and end
    stalled_2w = {**quiet, "seconds": 2.86, "cpu_seconds": 4.23, "cores": 2}  # 26% idle
    assert bench._idle_share(busy_1w) == pytest.approx(0.025)
    assert [bench._disturbed(r) for r in (busy_1w, stalled_1w, busy_2w, stalled_2w)] == [False, True, False, True]
    assert bench._idle_share({**stalled_2w, "seconds": 0.9}) is None  # too short to judge
    assert bench._idle_share({k: v for k, v in stalled_1w.items() if k != "cores"}) is None  # an older result

    monkeypatch.setattr(bench.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert [bench._cores_of({"workers": w}) for w in (1, 2, 4)] == [1, 2, 2]
    assert bench._cores_of({"workers": 2, "cpu": 1}) == 1  # --compare pins each version to one CPU

    runs = iter([stalled_1w, stalled_1w, busy_1w, stalled_1w])
    monkeypatch.setattr(bench.Bench, "run_child", lambda self, spec: dict(next(runs)))
    b = bench.Bench(data_dir=Path("."), recipes={}, datasets={}, augcli_src=Path("."), quiet_wait=0, retries=3)
    kept = b.run_timed({"case": "floor", "workers": 1}, "floor")
    assert kept["discarded"] == 2 and kept["seconds"] == busy_1w["seconds"]


def test_compare_runs_two_versions_side_by_side(tmp_path):
    """--compare: two revisions (here the same one twice), each from its own snapshot, 1 worker
    each at the same time; the report has a row per recipe asked for (--recipes)."""
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--compare", "HEAD", "HEAD", "--quick", "--images", "5",
         "--recipes", "standard,light,shrink", "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, NO_ALBUMENTATIONS_UPDATE="1"),
        cwd=BENCH.parents[1],
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "# augcli A/B comparison" in proc.stdout
    for recipe in ("STANDARD", "LIGHT", "SHRINK"):
        assert f"| {recipe} | 1 |" in proc.stdout
    assert proc.stderr.count("pair 1/1: CPU") == 3
    assert sorted(p.name for p in (tmp_path / "data" / "scratch").iterdir()) == []


def test_a_case_runs_from_python_c_so_its_pool_workers_do_not_import_the_benchmark(monkeypatch):
    """A worker started from the fork server imports the main module of the process that started it
    again when that is a file: for bench.py, 45-50 ms of every 2-worker case's clock that `augcli run`
    from a shell never pays. A case's process is `python -c` (bench.CHILD_ENTRY), and a pool started
    under that entry has workers without bench (nor any main module) imported."""
    bench = _bench_module()
    started = []
    with monkeypatch.context() as patched:
        patched.setattr(bench.subprocess, "Popen", lambda args, **kw: started.append(args))
        bench.start_child({"case": "floor"})
    assert started[0][1:3] == ["-c", bench.CHILD_ENTRY]

    probe = ("import pool_probe; from augcli.executor import LocalExecutor; "
             "print(sorted({r for _, r in LocalExecutor(2).map(pool_probe.imported, ['bench'] * 4, pool_probe.no_setup, ())}), "
             "sorted({str(r) for _, r in LocalExecutor(2).map(pool_probe.main_file, range(4), pool_probe.no_setup, ())}))")
    entry, tail = bench.CHILD_ENTRY.split("sys.exit(", 1)
    assert tail.startswith("bench.main(")
    code = entry + f"sys.path.insert(1, {str(Path(__file__).parent)!r}); " + probe
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[False] ['None']", "a worker imported bench.py (or another main module) again"
