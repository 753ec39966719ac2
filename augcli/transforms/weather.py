"""Weather and light for CCTV realism: rain, snow, fog, glare, shadows. Pixels only."""
from __future__ import annotations
