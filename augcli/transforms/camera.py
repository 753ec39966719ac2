"""Camera, lens and video artefacts for CCTV realism."""
from __future__ import annotations
