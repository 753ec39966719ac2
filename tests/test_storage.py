"""Inputs and outputs on object storage (issue 8): fsspec URLs behave like local folders.

memory:// covers every format and the run-state logic fast (one process: --workers 1);
a real S3 server (moto's server mode on 127.0.0.1) covers s3:// with worker processes
and with the Dask executor. Every remote run is compared byte for byte with a local run."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

fsspec = pytest.importorskip("fsspec")
pytest.importorskip("upath")

from click.testing import CliRunner  # noqa: E402

from augcli import api, storage  # noqa: E402
from augcli.cli import main  # noqa: E402
from augcli.errors import UsageError  # noqa: E402
from conftest import moto_s3, read_tree_bytes, write_yolo_dataset  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data"
BASIC = ROOT / "configs" / "basic.yaml"
QUIET = {"log": lambda line: None}


@pytest.fixture
def memfs():
    """A clean memory:// file system (it is global to the process)."""
    fs = fsspec.filesystem("memory")
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    yield fs
    fs.store.clear()
    fs.pseudo_dirs.clear()
    fs.pseudo_dirs.append("")
    storage.configure(None)


def upload(fs, local: Path, remote: str) -> None:
    for p in sorted(Path(local).rglob("*")):
        if p.is_file():
            fs.pipe_file(f"{remote}/{p.relative_to(local).as_posix()}", p.read_bytes())


def remote_tree(fs, remote: str) -> dict[str, bytes]:
    base = fs._strip_protocol(remote).rstrip("/")
    return {p[len(base) + 1:]: fs.cat_file(p) for p in sorted(fs.find(base))}


def assert_same(remote: dict[str, bytes], local: dict[str, bytes]) -> None:
    assert sorted(remote) == sorted(local)
    assert [k for k in local if remote[k] != local[k]] == []


# ------------------------------------------------------------------ memory://
@pytest.mark.parametrize("name", ["yolo", "yolo-seg", "yolo-pose", "coco", "voc", "mask", "classify", "images"])
def test_memory_to_memory_equals_a_local_run(memfs, tmp_path, name):
    upload(memfs, SAMPLES / name, f"/in-{name}")
    remote = api.run(BASIC, f"memory://in-{name}", f"memory://out-{name}", workers=1, **QUIET)
    local = api.run(BASIC, SAMPLES / name, tmp_path / "local", workers=1, **QUIET)
    assert remote.exit_code == local.exit_code == 0
    assert remote.outputs == local.outputs > 0
    assert_same(remote_tree(memfs, f"memory://out-{name}"), read_tree_bytes(tmp_path / "local"))
    assert remote_tree(memfs, f"memory://in-{name}") == read_tree_bytes(SAMPLES / name)  # input untouched


def test_format_conversion_between_local_and_remote(memfs, tmp_path):
    """Local input to a remote COCO output, and that remote COCO back to a local YOLO folder."""
    convert = ROOT / "configs" / "convert.yaml"
    api.run(convert, SAMPLES / "yolo", "memory://coco", workers=1, output_format="coco", **QUIET)
    api.run(convert, SAMPLES / "yolo", tmp_path / "coco", workers=1, output_format="coco", **QUIET)
    assert_same(remote_tree(memfs, "memory://coco"), read_tree_bytes(tmp_path / "coco"))
    api.run(convert, "memory://coco", tmp_path / "from-remote", workers=1, output_format="yolo", **QUIET)
    api.run(convert, tmp_path / "coco", tmp_path / "from-local", workers=1, output_format="yolo", **QUIET)
    assert read_tree_bytes(tmp_path / "from-remote") == read_tree_bytes(tmp_path / "from-local")


def test_resume_and_update_on_object_storage(memfs, tmp_path):
    upload(memfs, SAMPLES / "yolo", "/in")
    first = api.run(BASIC, "memory://in", "memory://out", workers=1, limit=2, **QUIET)
    assert first.processed == 2
    # the state a later run needs is beside the outputs, not in a local folder
    assert {"augcli-manifest.jsonl", "augcli-run.json"} <= set(remote_tree(memfs, "memory://out"))
    resumed = api.run(BASIC, "memory://in", "memory://out", workers=1, resume=True, **QUIET)
    assert resumed.reused == 2 and resumed.processed == resumed.inputs == 6
    api.run(BASIC, SAMPLES / "yolo", tmp_path / "fresh", workers=1, **QUIET)
    assert_same(remote_tree(memfs, "memory://out"), read_tree_bytes(tmp_path / "fresh"))
    again = api.run(BASIC, "memory://in", "memory://out", workers=1, resume=True, **QUIET)
    assert again.reused == 6 and again.outputs == resumed.outputs
    assert_same(remote_tree(memfs, "memory://out"), read_tree_bytes(tmp_path / "fresh"))
    # a changed input is made again; the others are kept
    memfs.pipe_file("/in/labels/train/astronaut.txt", b"0 0.5 0.5 0.2 0.2\n")
    changed = api.run(BASIC, "memory://in", "memory://out", workers=1, resume=True, **QUIET)
    assert changed.reused == 5
    labels = remote_tree(memfs, "memory://out")["labels/train/astronaut.txt"]
    assert labels == b"0 0.500000 0.500000 0.200000 0.200000\n"


def test_non_empty_remote_output_needs_overwrite_which_removes_only_listed_files(memfs):
    upload(memfs, SAMPLES / "yolo", "/in")
    api.run(BASIC, "memory://in", "memory://out", workers=1, **QUIET)
    memfs.pipe_file("/out/notes.txt", b"mine")
    with pytest.raises(UsageError, match="not empty"):
        api.run(BASIC, "memory://in", "memory://out", workers=1, seed=5, **QUIET)
    before = remote_tree(memfs, "memory://out")
    report = api.run(BASIC, "memory://in", "memory://out", workers=1, seed=5, overwrite=True, **QUIET)
    after = remote_tree(memfs, "memory://out")
    assert report.exit_code == 0 and after["notes.txt"] == b"mine"
    assert sorted(after) == sorted(before)  # same names (same recipe, new seed) ...
    assert after["images/train/astronaut_aug1.jpg"] != before["images/train/astronaut_aug1.jpg"]  # ... new pixels


def test_no_augcli_run_in_remote_output_is_refused(memfs):
    upload(memfs, SAMPLES / "images", "/in")
    memfs.pipe_file("/out/precious.jpg", b"x")
    with pytest.raises(UsageError, match="not written by augcli"):
        api.run(BASIC, "memory://in", "memory://out", workers=1, overwrite=True, **QUIET)
    assert remote_tree(memfs, "memory://out") == {"precious.jpg": b"x"}


def test_bad_remote_inputs_are_skipped_by_name(memfs):
    upload(memfs, SAMPLES / "yolo", "/in")
    memfs.pipe_file("/in/images/train/empty.jpg", b"")
    memfs.pipe_file("/in/labels/train/empty.txt", b"")
    memfs.pipe_file("/in/labels/train/camera.txt", b"0 0.5 nan 0.1 0.1\n")
    report = api.run(BASIC, "memory://in", "memory://out", workers=1, **QUIET)
    assert report.exit_code == 1
    assert sorted((k, r) for k, r, _ in report.skipped) == [
        ("images/train/camera.jpg", "bad-label"), ("images/train/empty.jpg", "unreadable-image")]


def test_remote_output_inside_remote_input_is_refused(memfs):
    upload(memfs, SAMPLES / "images", "/in")
    with pytest.raises(UsageError, match="inside input"):
        api.run(BASIC, "memory://in", "memory://in/out", workers=1, **QUIET)


def test_memory_urls_need_one_in_process_worker(memfs):
    upload(memfs, SAMPLES / "images", "/in")
    with pytest.raises(UsageError, match="--workers 1"):
        api.run(BASIC, "memory://in", "memory://out", workers=2, **QUIET)


def test_missing_backend_and_bad_options_are_usage_errors(tmp_path, monkeypatch):
    import importlib

    registry = importlib.import_module("fsspec.registry")  # the module (fsspec.registry is also a mapping)
    monkeypatch.setitem(registry.known_implementations, "gs", {
        "class": "not_installed_gcsfs.GCSFileSystem", "err": "Please install gcsfs to access Google Storage"})
    monkeypatch.delitem(registry._registry, "gs", raising=False)
    with pytest.raises(UsageError, match="gs:// needs gcsfs"):
        api.run(BASIC, "gs://bucket/raw", tmp_path / "out", workers=1, **QUIET)
    result = CliRunner().invoke(main, ["run", str(BASIC), "-i", str(SAMPLES / "yolo"), "-o", str(tmp_path / "o"),
                                       "--storage-options", "[1, 2]"])
    assert result.exit_code == 2 and "--storage-options: expected a JSON object" in result.output
    result = CliRunner().invoke(main, ["run", str(BASIC), "-i", str(SAMPLES / "yolo"), "-o", str(tmp_path / "o"),
                                       "--storage-options", "{nope"])
    assert result.exit_code == 2 and "--storage-options: not valid JSON" in result.output
    assert not (tmp_path / "o").exists()


def test_file_urls_are_local_paths(tmp_path):
    report = api.run(BASIC, f"file://{SAMPLES / 'yolo'}", f"file://{tmp_path / 'out'}", workers=1, **QUIET)
    api.run(BASIC, SAMPLES / "yolo", tmp_path / "plain", workers=1, **QUIET)
    assert report.exit_code == 0
    assert read_tree_bytes(tmp_path / "out") == read_tree_bytes(tmp_path / "plain")


def test_storage_walk_matches_os_walk_and_prunes(memfs, tmp_path):
    src = write_yolo_dataset(tmp_path / "ds", n=3)
    (src / ".hidden").mkdir()
    (src / ".hidden" / "x.jpg").write_bytes(b"x")
    upload(memfs, src, "/ds")

    def listing(top):
        out = []
        for rel, dirnames, filenames in storage.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            out += [f"{rel}/{n}" if rel else n for n in filenames]
        return sorted(out)

    local = listing(src)
    assert local == listing(storage.location("memory://ds"))
    assert len(local) >= 6 and not any(p.startswith(".hidden") for p in local)


# ------------------------------------------------------------------ a real S3 server
@pytest.fixture(scope="module")
def s3_server():
    with moto_s3() as options:
        yield options


def _s3(options):
    import s3fs

    return s3fs.S3FileSystem(skip_instance_cache=True, **options)


def test_s3_run_with_worker_processes_equals_a_local_run(s3_server, tmp_path):
    fs = _s3(s3_server)
    fs.mkdir("bucket-a")
    upload(fs, SAMPLES / "yolo", "bucket-a/raw")
    result = CliRunner().invoke(main, ["run", str(BASIC), "-i", "s3://bucket-a/raw", "-o", "s3://bucket-a/aug",
                                       "-w", "2", "-q", "--storage-options", json.dumps(s3_server)])
    assert result.exit_code == 0, result.output
    api.run(BASIC, SAMPLES / "yolo", tmp_path / "local", workers=2, **QUIET)
    assert_same(remote_tree(_s3(s3_server), "s3://bucket-a/aug"), read_tree_bytes(tmp_path / "local"))
    # no temporary names, no partial objects: exactly the outputs
    assert not [k for k in remote_tree(_s3(s3_server), "s3://bucket-a/aug") if "tmp" in k or "partial" in k]


@pytest.mark.slow
def test_s3_run_on_a_dask_cluster_equals_a_local_run(s3_server, tmp_path):
    pytest.importorskip("distributed")
    fs = _s3(s3_server)
    fs.mkdir("bucket-b")
    upload(fs, SAMPLES / "coco", "bucket-b/raw")
    report = api.run(BASIC, "s3://bucket-b/raw", "s3://bucket-b/aug", workers=2, executor="dask",
                     storage_options=s3_server, **QUIET)
    assert report.exit_code == 0 and report.outputs > 0
    api.run(BASIC, SAMPLES / "coco", tmp_path / "local", workers=2, **QUIET)
    assert_same(remote_tree(_s3(s3_server), "s3://bucket-b/aug"), read_tree_bytes(tmp_path / "local"))
    again = api.run(BASIC, "s3://bucket-b/raw", "s3://bucket-b/aug", workers=2, executor="dask", resume=True,
                    storage_options=s3_server, **QUIET)
    assert again.reused == again.inputs == report.inputs
    assert_same(remote_tree(_s3(s3_server), "s3://bucket-b/aug"), read_tree_bytes(tmp_path / "local"))


def test_s3_missing_bucket_is_a_clear_error(s3_server, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        api.run(BASIC, "s3://no-such-bucket/raw", tmp_path / "out", workers=1, storage_options=s3_server, **QUIET)
    lines: list[str] = []
    report = api.run(BASIC, SAMPLES / "images", "s3://no-such-bucket/aug", workers=1, storage_options=s3_server,
                     log=lines.append)
    assert report.exit_code == 3 and "no-such-bucket" in report.fatal, (report.fatal, lines)


def test_a_local_run_imports_neither_dask_nor_fsspec(tmp_path):
    """The optional engines stay optional: a plain local run (and --help) never loads them."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from augcli import api\n"
        f"api.run({str(BASIC)!r}, {str(SAMPLES / 'yolo')!r}, {str(tmp_path / 'out')!r}, workers=1, log=lambda l: None)\n"
        "from click.testing import CliRunner\n"
        "from augcli.cli import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "print(sorted(m for m in ('dask', 'distributed', 'fsspec', 'upath', 's3fs') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name", ["yolo", "coco", "voc", "mask"])
def test_check_reads_a_remote_dataset_as_it_reads_a_local_one(memfs, tmp_path, name):
    import shutil

    from augcli.check import check_dataset

    src = tmp_path / name
    shutil.copytree(SAMPLES / name, src)
    broken = {"yolo": "images/train/zz.jpg", "coco": "images/val/coins.jpg", "voc": "Annotations/zz.xml",
              "mask": "images/zz.jpg"}[name]
    (src / broken).write_bytes(b"")  # an empty image, or an annotation without an image
    upload(memfs, src, f"/ds-{name}")
    remote = check_dataset(f"memory://ds-{name}").to_dict()
    local = check_dataset(src).to_dict()
    assert remote["exit_code"] == local["exit_code"] == 1
    assert any(Path(broken).stem in str(p) for p in remote["problems"])
    for report in (remote, local):
        report.pop("dataset", None)
    assert remote == local


def test_preview_of_a_remote_dataset_shows_what_a_local_preview_shows(memfs):
    from augcli.preview import make_preview

    upload(memfs, SAMPLES / "coco", "/pv")
    remote = make_preview(BASIC, "memory://pv", n=2, copies=2)
    local = make_preview(BASIC, SAMPLES / "coco", n=2, copies=2)
    assert [r.key for r in remote.rows] == [r.key for r in local.rows] and len(remote.rows) == 2
    for a, b in zip(remote.rows, local.rows):
        assert len(a.tiles) == len(b.tiles) == 3
        for ta, tb in zip(a.tiles, b.tiles):
            assert np.array_equal(ta.sample.image, tb.sample.image)
            assert np.allclose(ta.sample.objects.boxes, tb.sample.objects.boxes)
