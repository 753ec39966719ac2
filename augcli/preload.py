"""Imports every pool worker would otherwise repeat at its start, done once in the fork server
the workers are forked from (augcli.executor names this module as a fork-server preload).

A worker builds the recipe's transforms and reads and writes through format modules, so each
imported every transform family and its formats during its first item: about 55 ms on the
development VM. Imported in the server instead, that is once per run, not once per worker, and
the modules' memory is shared by the workers. It does not delay the first item: the server is
started before the parent's own imports (augcli.cli) and is ready by the time the parent has
scanned the input. (Timing the warp route and drawing the noise run here as well would save
each worker some 60 ms more, but it made a 5-image run about 60 ms slower: the server was then
the last to be ready.)"""
from __future__ import annotations


def _import_all() -> None:
    from augcli import formats
    from augcli.transforms import registry

    registry.registry()  # imports every transform family
    for name in formats.FORMATS:
        formats.get_format(name)


try:
    _import_all()
except Exception:  # never worth a broken pool: each worker then imports what it needs on first use
    pass
