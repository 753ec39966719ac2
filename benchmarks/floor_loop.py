"""The floor's work in a worker process: what bench.py's floor case hands to the pool.

Kept apart from bench.py so that a worker imports only this (well under a millisecond), as an
`augcli run` worker imports nothing of the command that started it; see bench.start_child."""
from __future__ import annotations

import os
import shutil

COPIES = 3  # outputs per input image, floor and augcli alike
JPEG_QUALITY = 95


def init_single_thread() -> None:
    import cv2

    cv2.setNumThreads(1)  # as augcli's workers: processes are the parallelism


def floor_item(task: tuple[str, str, str, str]) -> int:
    """Decode once, encode COPIES copies, copy the label file for each: nothing else."""
    import cv2
    import numpy as np

    image_path, label_path, out_root, stem = task
    with open(image_path, "rb") as f:
        data = f.read()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    for k in range(1, COPIES + 1):
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        with open(os.path.join(out_root, "images", f"{stem}_aug{k}.jpg"), "wb") as f:
            f.write(buf.tobytes())
        shutil.copyfile(label_path, os.path.join(out_root, "labels", f"{stem}_aug{k}.txt"))
    return COPIES
