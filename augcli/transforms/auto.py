"""Automatic augmentation policies built from the registered transforms."""
from __future__ import annotations
