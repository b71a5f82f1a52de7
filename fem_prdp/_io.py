"""Atomic file writes, shared by every layer that writes results, caches or checkpoints."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path next to `path` (same suffix, so writers that choose the
    format by suffix still work); when the block ends normally, rename it onto `path`.

    The rename is atomic on POSIX: readers see the old file or the new one, never a partial
    one, and a killed process leaves no truncated file. The temporary name is unique per
    call, so concurrent writers (distributed ranks) do not collide. On an error the
    temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(name, 0o666 & ~umask)  # mkstemp makes 0600; give the final file the usual rights
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
