"""Colour transforms: pixel values only, labels untouched."""
from __future__ import annotations

from augcli.kernels import color as k
from augcli.transforms.base import PhotometricTransform, randint, uniform
from augcli.transforms.params import Number, Range
from augcli.transforms.registry import register


@register("color")
class BrightnessContrast(PhotometricTransform):
    """Add brightness (fraction of full scale) and scale contrast about the mean (1 + fraction)."""

    params = {
        "brightness": Range(default=(-0.2, 0.2), lo=-1, hi=1, help="added light, fraction of full scale"),
        "contrast": Range(default=(-0.2, 0.2), lo=-1, hi=10, help="contrast change, fraction (0.2 = x1.2)"),
    }

    def sample(self, rng, size):
        return {"brightness": uniform(rng, self.brightness), "contrast": uniform(rng, self.contrast)}

    in_place = True

    def apply_image(self, image, params, out=None):
        return k.brightness_contrast_image(image, params["brightness"], params["contrast"], out=out)


@register("color")
class HueSaturationValue(PhotometricTransform):
    """Shift hue (degrees) and scale saturation and value (1 + fraction)."""

    params = {
        "hue": Range(default=(-10.0, 10.0), lo=-180, hi=180, help="hue shift in degrees"),
        "saturation": Range(default=(-0.3, 0.3), lo=-1, hi=10, help="saturation change, fraction"),
        "value": Range(default=(-0.2, 0.2), lo=-1, hi=10, help="value (brightness) change, fraction"),
    }

    def sample(self, rng, size):
        return {
            "hue": uniform(rng, self.hue),
            "saturation": uniform(rng, self.saturation),
            "value": uniform(rng, self.value),
        }

    def apply_image(self, image, params):
        return k.hue_saturation_value_image(image, params["hue"], params["saturation"], params["value"])


@register("color")
class ColorJitter(PhotometricTransform):
    """torchvision's ColorJitter: brightness, contrast, saturation and hue, in a random order."""

    params = {
        "brightness": Range(default=(0.8, 1.2), lo=0, hi=10, help="brightness factor (1 = unchanged)"),
        "contrast": Range(default=(0.8, 1.2), lo=0, hi=10, help="contrast factor about the mean grey (1 = unchanged)"),
        "saturation": Range(default=(0.8, 1.2), lo=0, hi=10, help="saturation factor (0 = grey, 1 = unchanged)"),
        "hue": Range(default=(-10.0, 10.0), lo=-180, hi=180, help="hue shift in degrees (torchvision's hue x 360)"),
    }

    def sample(self, rng, size):
        return {
            "order": [k.JITTER_OPS[i] for i in rng.permutation(len(k.JITTER_OPS))],
            "brightness": uniform(rng, self.brightness),
            "contrast": uniform(rng, self.contrast),
            "saturation": uniform(rng, self.saturation),
            "hue": uniform(rng, self.hue),
        }

    def apply_image(self, image, params):
        return k.color_jitter_image(image, params["order"], params["brightness"], params["contrast"],
                                    params["saturation"], params["hue"])


@register("color")
class Gamma(PhotometricTransform):
    """Gamma curve on every channel: out = 255 * (in / 255) ** gamma."""

    params = {"gamma": Range(default=(0.8, 1.2), lo=0.01, hi=10,
                             help="gamma exponent (below 1 brightens shadows, 1 = unchanged)")}

    def sample(self, rng, size):
        return {"gamma": uniform(rng, self.gamma)}

    def apply_image(self, image, params):
        return k.gamma_image(image, params["gamma"])


@register("color")
class CLAHE(PhotometricTransform):
    """Contrast-limited adaptive histogram equalisation of lightness (L of Lab), tile by tile."""

    params = {
        "clip_limit": Range(default=(1.0, 4.0), lo=0.01, hi=100,
                            help="contrast limit per tile (higher = stronger local contrast)"),
        "tile_grid": Number(default=8, lo=1, hi=256, integer=True, help="tiles along each side of the image (fewer on a smaller image)"),
    }

    def sample(self, rng, size):
        return {"clip_limit": uniform(rng, self.clip_limit)}

    def apply_image(self, image, params):
        return k.clahe_image(image, params["clip_limit"], self.tile_grid)


@register("color")
class Equalize(PhotometricTransform):
    """Histogram equalisation of luma, over the whole image; colours keep their chroma."""

    def apply_image(self, image, params):
        return k.equalize_image(image)


@register("color")
class Grayscale(PhotometricTransform):
    """Grey picture (Rec.601 luma) in all three channels."""

    def apply_image(self, image, params):
        return k.grayscale_image(image)


@register("color")
class ChannelShuffle(PhotometricTransform):
    """Reorder the colour channels by a random permutation (recorded as `order`)."""

    def sample(self, rng, size):
        return {"order": [int(i) for i in rng.permutation(3)]}

    def apply_image(self, image, params):
        return k.channel_shuffle_image(image, params["order"])


@register("color")
class Posterize(PhotometricTransform):
    """Keep only the top bits of every level (fewer, flatter colours)."""

    params = {"bits": Range(default=(4, 8), lo=1, hi=8, integer=True, help="bits kept per channel (8 = unchanged)")}

    def sample(self, rng, size):
        return {"bits": randint(rng, self.bits)}

    def apply_image(self, image, params):
        return k.posterize_image(image, params["bits"])


@register("color")
class Solarize(PhotometricTransform):
    """Invert every level at or above a threshold."""

    params = {"threshold": Range(default=(128, 128), lo=0, hi=256, integer=True,
                                 help="levels at or above this are inverted (0 = all, 256 = none)")}

    def sample(self, rng, size):
        return {"threshold": randint(rng, self.threshold)}

    def apply_image(self, image, params):
        return k.solarize_image(image, params["threshold"])
