"""Shared fixtures. Every dataset and recipe is generated in tmp_path; nothing binary is checked in.

Fixtures for the recipe / CLI / YOLO-format tests (test_recipe.py, test_cli.py, test_yolo_format.py):
    make_yolo_dataset   factory: write a small YOLO detect dataset (noise images, one box each)
    yolo_dataset        that factory's default: 5 images 64x48 in tmp_path/"input", names [cat, dog]
    write_recipe        factory: write recipe text (dedented) to tmp_path and return its path
    cli_recipe          a small fast recipe (2 copies, flip + rotate + noise) for end-to-end runs
    tree_bytes          function: {posix relative path: bytes} of every file under a folder
"""
from __future__ import annotations

import contextlib
import os
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import pytest

YOLO_IMAGE_SIZE = (64, 48)  # (width, height) in pixels
YOLO_NAMES = ("cat", "dog")


def _yolo_box(i: int) -> tuple[float, float, float, float]:
    """A box well inside the frame (normalised cx, cy, w, h), different for each image."""
    return 0.4 + 0.05 * (i % 4), 0.45 + 0.025 * (i % 3), 0.3 + 0.02 * (i % 5), 0.25 + 0.03 * (i % 2)


def write_yolo_dataset(
    root: Path,
    n: int = 5,
    size: tuple[int, int] = YOLO_IMAGE_SIZE,
    names: tuple[str, ...] | None = YOLO_NAMES,
    ext: str = ".png",
) -> Path:
    """images/ + labels/ + data.yaml; image i is seeded noise, with one box of class i % len(names)."""
    w, h = size
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        pixels = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        assert cv2.imwrite(str(root / "images" / f"img{i}{ext}"), pixels)
        cx, cy, bw, bh = _yolo_box(i)
        cls = i % len(names) if names else 0
        (root / "labels" / f"img{i}.txt").write_text(f"{cls} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
    if names:
        (root / "data.yaml").write_text("names: [" + ", ".join(names) + "]\n")
    return root


@pytest.fixture
def make_yolo_dataset(tmp_path: Path) -> Callable[..., Path]:
    def make(name: str = "input", **kwargs) -> Path:
        return write_yolo_dataset(tmp_path / name, **kwargs)

    return make


@pytest.fixture
def yolo_dataset(make_yolo_dataset) -> Path:
    return make_yolo_dataset()


@pytest.fixture
def write_recipe(tmp_path: Path) -> Callable[[str, str], Path]:
    def write(text: str, name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write


CLI_RECIPE = """\
seed: 7
copies: 2
keep_original: true
pipeline:
  - {type: HorizontalFlip, p: 0.5}
  - {type: Rotate, degrees: [-10, 10]}
  - {type: GaussianNoise, std: [2, 5], p: 0.5}
"""


@pytest.fixture
def cli_recipe(write_recipe) -> Path:
    return write_recipe(CLI_RECIPE, "cli_recipe.yaml")


def read_tree_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file()}


def full_disk_write(budget: int) -> Callable[[int, bytes], int]:
    """An os.write for augcli.imageio that fails like a full disk: writes to output temporary files
    (found through /proc/self/fd) succeed until `budget` bytes in all, the bytes that still fit are
    written, then every such write raises ENOSPC. Other descriptors are written as usual."""
    import errno

    from augcli.imageio import TMP_MARK

    left = [budget]
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        if not os.readlink(f"/proc/self/fd/{fd}").endswith(TMP_MARK):
            return real_write(fd, data)
        if len(data) > left[0]:
            if left[0] > 0:
                real_write(fd, bytes(data[: left[0]]))
            left[0] = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        left[0] -= len(data)
        return real_write(fd, data)

    return write


@pytest.fixture
def tree_bytes() -> Callable[[Path], dict[str, bytes]]:
    return read_tree_bytes


@contextlib.contextmanager
def moto_s3() -> Iterator[dict[str, str]]:
    """A moto S3 server on 127.0.0.1 for the while inside, yielding its --storage-options; skips the
    test when s3fs or moto is missing. The credentials go into this process's environment too;
    worker processes (a fork server started by an earlier test has the environment of then) get
    them with the storage options."""
    pytest.importorskip("s3fs")
    server_mod = pytest.importorskip("moto.server")
    server = server_mod.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield {"endpoint_url": f"http://{host}:{port}", "key": "testing", "secret": "testing"}
    finally:
        server.stop()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        from augcli import storage

        storage.configure(None)
