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

    in_place = True

    def apply_image(self, image, params, out=None):
        return k.gaussian_blur_image(image, params["sigma"], out=out)


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

    in_place = True

    def apply_image(self, image, params, out=None):
        return k.add_noise(image, params["std"], tuple(params["offset"]), self.per_channel, out=out)


@register("blur_noise")
class Sharpen(PhotometricTransform):
    """Sharpen with a 3x3 Laplacian-boost filter, blended with the original by `alpha`."""

    params = {
        "alpha": Range(default=(0.2, 0.5), lo=0, hi=1, help="share of the sharpened image (0 = unchanged)"),
        "lightness": Range(default=(0.5, 1.0), lo=0, hi=10, help="brightness of the sharpened image (1 = kept)"),
    }

    def sample(self, rng, size):
        return {"alpha": uniform(rng, self.alpha), "lightness": uniform(rng, self.lightness)}

    def apply_image(self, image, params):
        return k.sharpen_image(image, params["alpha"], params["lightness"])


@register("blur_noise")
class MedianBlur(PhotometricTransform):
    """Median filter over a square window of odd side (removes salt-and-pepper noise)."""

    params = {"ksize": Range(default=(3, 5), lo=1, hi=255, integer=True,
                             help="window side in pixels, an odd number drawn from [lo, hi]")}

    def check(self, config):
        lo, hi = config["ksize"]
        if lo == hi and lo % 2 == 0:
            return [("ksize", f"expected an odd window side, got {lo}")]
        return []

    def sample(self, rng, size):
        lo, hi = self.ksize
        first, last = lo | 1, hi if hi % 2 else hi - 1  # the odd numbers in [lo, hi]
        return {"ksize": first + 2 * int(rng.integers(0, (last - first) // 2 + 1))}

    def apply_image(self, image, params):
        return k.median_blur_image(image, params["ksize"])
