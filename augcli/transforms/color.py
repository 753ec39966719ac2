"""Colour transforms: pixel values only, labels untouched."""
from __future__ import annotations

from augcli.kernels import color as k
from augcli.transforms.base import PhotometricTransform, uniform
from augcli.transforms.params import Range
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

    def apply_image(self, image, params):
        return k.brightness_contrast_image(image, params["brightness"], params["contrast"])


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
