"""Blur and noise: pixel values only, labels untouched."""
from __future__ import annotations

from augcli.kernels import blur_noise as k
from augcli.transforms.base import PhotometricTransform, uniform
from augcli.transforms.params import Flag, Range
from augcli.transforms.registry import register


@register("blur_noise")
class GaussianBlur(PhotometricTransform):
    """Gaussian blur with a standard deviation in pixels."""

    params = {"sigma": Range(default=(0.3, 1.5), lo=0, hi=50, help="blur standard deviation, pixels")}

    def sample(self, rng, size):
        return {"sigma": uniform(rng, self.sigma)}

    def apply_image(self, image, params):
        return k.gaussian_blur_image(image, params["sigma"])


@register("blur_noise")
class GaussianNoise(PhotometricTransform):
    """Additive Gaussian sensor noise; `std` in 8-bit levels (0-255)."""

    params = {
        "std": Range(default=(3.0, 12.0), lo=0, hi=255, help="noise standard deviation, 8-bit levels"),
        "per_channel": Flag(default=True, help="independent noise per colour channel (false: grey grain)"),
    }

    def sample(self, rng, size):
        return {
            "std": uniform(rng, self.std),
            "offset": [int(v) for v in rng.integers(0, k.NOISE_TILE, size=2)],
        }

    def apply_image(self, image, params):
        return k.gaussian_noise_image(image, params["std"], tuple(params["offset"]), self.per_channel)
