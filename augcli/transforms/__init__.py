"""Transforms: one module per family; see registry.py for the name -> class map."""
