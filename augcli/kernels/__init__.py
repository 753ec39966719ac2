"""Pure numpy/OpenCV functions on arrays: no randomness, no I/O, no label types."""
