"""Every registered transform, with its defaults, on every label kind of the shipped sample data:
boxes, polygons, keypoints, masks and image-level classes. Masks move by nearest-neighbour only:
an output mask holds no value its input did not have (0 = background may appear at borders)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from augcli.formats import get_format
from augcli.job import augment_sample
from augcli.recipe import load_recipe
from augcli.transforms.meta import Container
from augcli.transforms.registry import registry

ROOT = Path(__file__).resolve().parents[1]
NEEDS = {"Resize": {"size": [96, 128]}, "RandomResizedCrop": {"size": [96, 96]}, "RandomCrop": {"size": [64, 64]},
         "CenterCrop": {"size": [64, 64]}, "RandomSizedBBoxSafeCrop": {"size": [96, 96]}, "Mosaic": {"size": [128, 128]}}
DATASETS = {"yolo": "yolo", "yolo-seg": "yolo", "yolo-pose": "yolo", "mask": "mask", "classify": "classify"}


def _config(name: str) -> dict:
    cfg = {"type": name, **NEEDS.get(name, {})}
    if issubclass(registry()[name], Container):
        cfg["transforms"] = [{"type": "HorizontalFlip"}, {"type": "Rotate"}]
    return cfg


@pytest.fixture(scope="module")
def samples():
    out = {}
    for folder, fmt_name in DATASETS.items():
        fmt = get_format(fmt_name)
        ds = fmt.scan(ROOT / "sample_data" / folder)
        loaded = fmt.load(ds.items[0], ds.schema, 10**8).sample
        # small copies keep 58 transforms x 5 datasets fast; the labels scale with them
        from augcli.transforms.base import AugmentState
        from augcli.transforms.geometric import Resize

        state = AugmentState(loaded)
        h, w = loaded.image.shape[:2]
        scale = 160 / max(h, w)
        Resize(size=[max(8, round(h * scale)), max(8, round(w * scale))])(state, np.random.default_rng(0))
        out[folder] = state.finish()
    return out


def _donors(samples):
    pool = list(samples.items())
    return lambda rng: pool[int(rng.integers(len(pool)))]


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_transform_on_every_sample_label_kind(name, samples):
    recipe = load_recipe({"seed": 1, "labels": {"min_visibility": 0.0, "min_area": 0}, "pipeline": [_config(name)]})
    for folder, sample in samples.items():
        for copy in (1, 2):
            out, ops, _ = augment_sample(sample, recipe, f"{folder}/x.jpg", copy, _donors(samples))
            assert out.image.dtype == np.uint8 and out.image.ndim == 3 and out.image.shape[2] == 3
            w, h = out.size
            objects = out.objects
            assert np.all(np.isfinite(objects.boxes))
            assert np.all(objects.boxes[:, [0, 2]] >= -1e-6) and np.all(objects.boxes[:, [0, 2]] <= w + 1e-6)
            assert np.all(objects.boxes[:, [1, 3]] >= -1e-6) and np.all(objects.boxes[:, [1, 3]] <= h + 1e-6)
            if sample.objects.keypoints is not None and len(objects):
                assert objects.keypoints.shape[1:] == sample.objects.keypoints.shape[1:]
            if sample.mask is not None:
                assert out.mask is not None and out.mask.shape == (h, w)
                allowed = set(np.unique(sample.mask).tolist()) | {0, 255}
                assert set(np.unique(out.mask).tolist()) <= allowed, f"{name} invented mask values"
            if sample.image_class is not None:
                assert out.image_class == sample.image_class
