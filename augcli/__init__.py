"""augcli: offline image-dataset augmentation with exact label updates.

The public API is imported lazily so that `augcli --help` stays fast."""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "load_recipe", "run", "augment", "RunReport"]


def __getattr__(name: str):
    if name in ("load_recipe", "run", "augment", "RunReport"):
        from augcli import api

        return getattr(api, name)
    raise AttributeError(f"module 'augcli' has no attribute {name!r}")
