"""Transforms that combine images or hide parts of them; labels come from every image involved."""
from __future__ import annotations
