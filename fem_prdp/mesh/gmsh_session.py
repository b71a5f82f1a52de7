"""A context manager around gmsh's global state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gmsh_session"]


@contextmanager
def gmsh_session(verbose: bool = False) -> Iterator:
    """Yield the `gmsh` module, initialised, with a fresh current model.

    gmsh keeps process-wide state. When this call initialises gmsh it also finalises it;
    when the caller already holds a gmsh session, only the model made inside is removed and
    the caller's current model is restored.
    """
    import gmsh

    owns = not gmsh.isInitialized()
    if owns:
        # interruptible=False: gmsh must not install a SIGINT handler (threads, notebooks).
        gmsh.initialize(readConfigFiles=False, interruptible=False)
        previous = None
    else:
        previous = gmsh.model.getCurrent()
    gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
    try:
        yield gmsh
    finally:
        if owns:
            gmsh.finalize()
        else:
            gmsh.model.remove()
            if previous:
                gmsh.model.setCurrent(previous)
