"""Name -> transform class. Defaults and parameter specs live on the classes registered here."""
from __future__ import annotations

import difflib
import importlib
from typing import Any, Callable, TypeVar

from augcli.transforms.base import Transform

FAMILIES = ("geometric", "color", "blur_noise", "weather", "camera", "mixing", "auto", "meta")
FAMILY_TITLES = {
    "geometric": "Geometric (labels move with the pixels)",
    "color": "Colour (pixels only)",
    "blur_noise": "Blur and noise (pixels only)",
    "weather": "Weather and light, for CCTV realism (pixels only)",
    "camera": "Camera, lens and video artefacts, for CCTV realism",
    "mixing": "Mixing and cut-out (labels from every image involved)",
    "auto": "Automatic policies (RandAugment and friends)",
    "meta": "Containers",
}
_REGISTRY: dict[str, type[Transform]] = {}
_loaded = False
T = TypeVar("T", bound=type[Transform])


def register(family: str) -> Callable[[T], T]:
    def deco(cls: T) -> T:
        cls.name = cls.__name__
        cls.family = family
        if cls.name in _REGISTRY:
            raise RuntimeError(f"transform {cls.name} registered twice")
        _REGISTRY[cls.name] = cls
        return cls

    return deco


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for family in FAMILIES:
            importlib.import_module(f"augcli.transforms.{family}")


def registry() -> dict[str, type[Transform]]:
    _load()
    return dict(_REGISTRY)


def get(name: str) -> type[Transform]:
    _load()
    return _REGISTRY[name]


def suggest(name: str) -> list[str]:
    """Registered names closest to a misspelt one (case-insensitive)."""
    _load()
    lowered = {n.lower(): n for n in _REGISTRY}
    if name.lower() in lowered:
        return [lowered[name.lower()]]
    return [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3, cutoff=0.5)]


def build(config: dict[str, Any]) -> Transform:
    """Build a transform from a recipe entry such as {'type': 'Rotate', 'degrees': [-10, 10]}.

    Raises KeyError for an unknown type and augcli.errors.ParamError for bad parameters."""
    cfg = dict(config)
    name = cfg.pop("type")
    return get(name)(**cfg)
