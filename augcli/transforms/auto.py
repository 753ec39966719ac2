"""Automatic augmentation policies: RandAugment, TrivialAugment (wide) and AutoAugment (ImageNet policy),
with torchvision's operation tables and magnitude bins.

Geometric operations (ShearX/Y, TranslateX/Y, Rotate) are augcli's Affine and Rotate, handed
the drawn values: they go through the state's matrix path, so labels move with the pixels
(and consecutive ones fuse into one resampling). One difference from torchvision: shears
are about the image centre (torchvision shears about the top-left corner, which also slides
the picture sideways). Photometric operations are the kernels of augcli.kernels.auto.

Each output records the operations it applied, in order, as params["ops"]: entries
{"op": name, "bin": magnitude bin, "value": signed magnitude} in these units: shear as the
tangent of the shear angle, translation in pixels, rotation in degrees (counter-clockwise),
Brightness / Color / Contrast / Sharpness as the change of the enhance factor (factor = 1 + value),
Posterize as bits kept, Solarize as the threshold level (0-255).
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from augcli.kernels import auto as k
from augcli.transforms.base import AugmentState, Transform, randint
from augcli.transforms.geometric import Affine, Rotate
from augcli.transforms.params import Choice, Color, Number, Range
from augcli.transforms.registry import register

FILL = Color(default=0, help="border colour where a geometric operation leaves no source pixels")
GEOMETRIC_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")

# name -> (magnitudes(bins, (width, height)) -> one value per bin, or None for an operation
# without a magnitude; signed: the magnitude is negated with probability 1/2)
Space = dict[str, tuple[Callable[[int, tuple[int, int]], np.ndarray] | None, bool]]


def _linspace(lo: float, hi: float) -> Callable[[int, tuple[int, int]], np.ndarray]:
    return lambda bins, size: np.linspace(lo, hi, bins)


def _posterize(levels: int) -> Callable[[int, tuple[int, int]], np.ndarray]:
    """8 - round(bin / ((bins - 1) / levels)): bits kept, from 8 down to 8 - levels."""
    return lambda bins, size: 8 - np.round(np.arange(bins) / ((bins - 1) / levels))


def _translate(axis: int, fraction: float) -> Callable[[int, tuple[int, int]], np.ndarray]:
    return lambda bins, size: np.linspace(0.0, fraction * size[axis], bins)


_ENHANCE = ("Brightness", "Color", "Contrast", "Sharpness")
_RANDAUGMENT: Space = {
    "Identity": (None, False),
    "ShearX": (_linspace(0.0, 0.3), True),
    "ShearY": (_linspace(0.0, 0.3), True),
    "TranslateX": (_translate(0, 150.0 / 331.0), True),
    "TranslateY": (_translate(1, 150.0 / 331.0), True),
    "Rotate": (_linspace(0.0, 30.0), True),
    **{name: (_linspace(0.0, 0.9), True) for name in _ENHANCE},
    "Posterize": (_posterize(4), False),
    "Solarize": (_linspace(255.0, 0.0), False),
    "AutoContrast": (None, False),
    "Equalize": (None, False),
}
_TRIVIAL: Space = {
    "Identity": (None, False),
    "ShearX": (_linspace(0.0, 0.99), True),
    "ShearY": (_linspace(0.0, 0.99), True),
    "TranslateX": (_linspace(0.0, 32.0), True),  # pixels, whatever the image size (as torchvision)
    "TranslateY": (_linspace(0.0, 32.0), True),
    "Rotate": (_linspace(0.0, 135.0), True),
    **{name: (_linspace(0.0, 0.99), True) for name in _ENHANCE},
    "Posterize": (_posterize(6), False),
    "Solarize": (_linspace(255.0, 0.0), False),
    "AutoContrast": (None, False),
    "Equalize": (None, False),
}
_AUTOAUGMENT: Space = {**{n: v for n, v in _RANDAUGMENT.items() if n != "Identity"}, "Invert": (None, False)}
AUTOAUGMENT_BINS = 10

# (operation, probability, magnitude bin) pairs: the ImageNet policy of "AutoAugment: Learning
# Augmentation Strategies from Data" (Cubuk et al., 2019), as tabulated in torchvision.
IMAGENET_POLICY: tuple[tuple[tuple[str, float, int | None], ...], ...] = (
    (("Posterize", 0.4, 8), ("Rotate", 0.6, 9)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
    (("Posterize", 0.6, 7), ("Posterize", 0.6, 6)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Equalize", 0.4, None), ("Rotate", 0.8, 8)),
    (("Solarize", 0.6, 3), ("Equalize", 0.6, None)),
    (("Posterize", 0.8, 5), ("Equalize", 1.0, None)),
    (("Rotate", 0.2, 3), ("Solarize", 0.6, 8)),
    (("Equalize", 0.6, None), ("Posterize", 0.4, 6)),
    (("Rotate", 0.8, 8), ("Color", 0.4, 0)),
    (("Rotate", 0.4, 9), ("Equalize", 0.6, None)),
    (("Equalize", 0.0, None), ("Equalize", 0.8, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Rotate", 0.8, 8), ("Color", 1.0, 2)),
    (("Color", 0.8, 8), ("Solarize", 0.8, 7)),
    (("Sharpness", 0.4, 7), ("Invert", 0.6, None)),
    (("ShearX", 0.6, 5), ("Equalize", 1.0, None)),
    (("Color", 0.4, 0), ("Equalize", 0.6, None)),
    (("Equalize", 0.4, None), ("Solarize", 0.2, 4)),
    (("Solarize", 0.6, 5), ("AutoContrast", 0.6, None)),
    (("Invert", 0.6, None), ("Equalize", 1.0, None)),
    (("Color", 0.6, 4), ("Contrast", 1.0, 8)),
    (("Equalize", 0.8, None), ("Equalize", 0.6, None)),
)
POLICIES = {"imagenet": IMAGENET_POLICY}

_PHOTOMETRIC: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "Brightness": lambda img, v: k.brightness_image(img, 1.0 + v),
    "Color": lambda img, v: k.color_image(img, 1.0 + v),
    "Contrast": lambda img, v: k.contrast_image(img, 1.0 + v),
    "Sharpness": lambda img, v: k.sharpness_image(img, 1.0 + v),
    "Posterize": lambda img, v: k.posterize_image(img, int(v)),
    "Solarize": lambda img, v: k.solarize_image(img, v),
    "AutoContrast": lambda img, v: k.autocontrast_image(img),
    "Equalize": lambda img, v: k.equalize_image(img),
    "Invert": lambda img, v: k.invert_image(img),
}


def draw_op(rng: np.random.Generator, space: Space, name: str, bin_: int | None, bins: int,
            size: tuple[int, int]) -> dict[str, Any]:
    """One operation's record: its magnitude from bin `bin_` of `bins` for a canvas `size`
    (width, height), negated half of the time for a signed operation."""
    magnitudes, signed = space[name]
    if magnitudes is None or bin_ is None:
        return {"op": name}
    value = float(magnitudes(bins, size)[bin_])
    if signed and rng.integers(2):
        value = -value
    return {"op": name, "bin": int(bin_), "value": round(value, 6) + 0.0}  # + 0.0: no "-0.0" in the manifest


class AutoTransform(Transform):
    """Applies a list of drawn operations (params["ops"]) in order; subclasses draw them."""

    params = {"fill": FILL}

    def __init__(self, /, p: float = 1.0, **kwargs: Any):
        super().__init__(p=p, **kwargs)
        self._affine = Affine(fill=self.fill)
        self._rotate = Rotate(fill=self.fill)

    def sample_for(self, rng: np.random.Generator, state: AugmentState) -> dict[str, Any]:
        return {"ops": self.draw(rng, state.size)}

    def draw(self, rng: np.random.Generator, size: tuple[int, int]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def apply(self, state: AugmentState, params: dict[str, Any]) -> None:
        for op in params["ops"]:
            self.apply_op(state, op["op"], op.get("value", 0.0))

    def apply_op(self, state: AugmentState, name: str, value: float) -> None:
        if name == "Identity":
            return
        if name in GEOMETRIC_OPS:
            w, h = state.size
            if name == "Rotate":
                self._rotate.apply(state, {"angle": value})
                return
            shear = math.degrees(math.atan(value))
            self._affine.apply(state, {
                "scale": 1.0, "angle": 0.0,
                "tx": value / w if name == "TranslateX" else 0.0,
                "ty": value / h if name == "TranslateY" else 0.0,
                "shear_x": shear if name == "ShearX" else 0.0,
                "shear_y": shear if name == "ShearY" else 0.0,
            })
            return
        state.set_image(_PHOTOMETRIC[name](state.image, value))


def _bins_check(config: dict[str, Any], magnitude_key: str | None = None) -> list[tuple[str, str]]:
    if magnitude_key and config[magnitude_key][1] > config["bins"] - 1:
        return [(magnitude_key, f"magnitude bins run from 0 to bins - 1 = {config['bins'] - 1}, "
                                f"got {list(config[magnitude_key])}")]
    return []


@register("auto")
class RandAugment(AutoTransform):
    """RandAugment (Cubuk et al., 2020), as torchvision: `n` operations drawn uniformly (with repeats)
    from 14 (Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color, Contrast, Sharpness,
    Posterize, Solarize, AutoContrast, Equalize), each at magnitude bin `magnitude` of `bins`
    (torchvision: 9 of 31). A range [lo, hi] draws each operation's bin from it."""

    params = {
        "n": Number(default=2, lo=0, hi=100, integer=True, help="operations per image"),
        "magnitude": Range(default=(9, 9), lo=0, hi=10000, integer=True,
                           help="magnitude bin (0 = none, bins - 1 = strongest); a range is drawn per operation"),
        "bins": Number(default=31, lo=2, hi=10001, integer=True, help="number of magnitude bins"),
        "fill": FILL,
    }

    def check(self, config):
        return _bins_check(config, "magnitude")

    def draw(self, rng, size):
        names = list(_RANDAUGMENT)
        ops = []
        for _ in range(self.n):
            name = names[int(rng.integers(len(names)))]
            ops.append(draw_op(rng, _RANDAUGMENT, name, randint(rng, self.magnitude), self.bins, size))
        return ops


@register("auto")
class TrivialAugment(AutoTransform):
    """TrivialAugment Wide (Müller and Hutter, 2021), as torchvision's TrivialAugmentWide: one operation
    drawn uniformly from the 14 of RandAugment, at a magnitude bin drawn uniformly from `bins`,
    with wider ranges (shear up to 0.99, translation up to 32 pixels, rotation up to 135 degrees,
    enhance factors 0.01-1.99, Posterize down to 2 bits)."""

    params = {
        "bins": Number(default=31, lo=2, hi=10001, integer=True, help="number of magnitude bins"),
        "fill": FILL,
    }

    def draw(self, rng, size):
        names = list(_TRIVIAL)
        name = names[int(rng.integers(len(names)))]
        return [draw_op(rng, _TRIVIAL, name, int(rng.integers(self.bins)), self.bins, size)]


@register("auto")
class AutoAugment(AutoTransform):
    """AutoAugment (Cubuk et al., 2019) with the published ImageNet policy, as torchvision: one of 25
    sub-policies drawn uniformly; each of its two operations applied with its own probability, at
    its magnitude bin of 10. params["sub_policy"] is the policy row; params["ops"] the operations
    that were applied."""

    params = {
        "policy": Choice(default="imagenet", options=tuple(POLICIES), help="learned policy"),
        "fill": FILL,
    }

    def sample_for(self, rng, state):
        table = POLICIES[self.policy]
        row = int(rng.integers(len(table)))
        ops = []
        for name, probability, bin_ in table[row]:
            if rng.random() < probability:
                ops.append(draw_op(rng, _AUTOAUGMENT, name, bin_, AUTOAUGMENT_BINS, state.size))
        return {"sub_policy": row, "ops": ops}

