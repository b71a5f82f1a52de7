"""Solve records for whoever asked for them.

`solve` hands the `SolveInfo` of every solve to the innermost open `solve_records()`
block (and to every enclosing one), so a caller that wants to know what the solves inside
a call cost, or whether one failed, opens a block around the call; nothing has to be
reset afterwards and a call made outside any block records nothing::

    with solve_records() as records:
        loss = task.loss(batch, k)
        loss.backward()          # implicit adjoints land in each record's `adjoint` list
    records.totals()             # {"primal": ..., "adjoint": ..., "matvecs": ..., ...}
    records.failures()           # [(index, "primal" | "adjoint", SolveInfo), ...]

The stack of open blocks lives in a `contextvars.ContextVar`, so threads and asyncio
tasks each see their own blocks.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from .krylov._common import SolveInfo, SolveStatus

__all__ = ["SolveRecords", "solve_records", "report_solve"]

_OPEN: contextvars.ContextVar[tuple[SolveRecords, ...]] = contextvars.ContextVar("fem_prdp_solve_records",
                                                                                  default=())


class SolveRecords:
    """The `SolveInfo`s of the solves run inside one `solve_records()` block, in order.

    An implicit solve's adjoint record is appended to its forward record's `adjoint` list
    when backward runs, so totals taken after backward count both."""

    def __init__(self) -> None:
        self.infos: list[SolveInfo] = []

    def __len__(self) -> int:
        return len(self.infos)

    def __iter__(self) -> Iterator[SolveInfo]:
        return iter(self.infos)

    def adjoints(self) -> list[SolveInfo]:
        return [a for info in self.infos for a in info.adjoint]

    def totals(self) -> dict:
        """Iterations and matrix-vector products (summed over samples), wall seconds and the
        number of primal solves, for the primal solves and their adjoints."""
        adjoints = self.adjoints()
        return {
            "primal": sum(int(i.n_iters.sum()) for i in self.infos),
            "adjoint": sum(int(a.n_iters.sum()) for a in adjoints),
            "matvecs": sum(int(i.matvecs.sum()) for i in [*self.infos, *adjoints]),
            "seconds": sum(i.seconds for i in [*self.infos, *adjoints]),
            "solves": len(self.infos),
        }

    def max_iterations(self) -> int:
        """The most iterations any primal solve (any sample) needed; 0 with no solves."""
        return max((int(i.n_iters.max()) for i in self.infos), default=0)

    def failures(self) -> list[tuple[int, str, SolveInfo]]:
        """(solve number from 1, "primal" or "adjoint", info) of every solve that ended
        INDEFINITE, BREAKDOWN or NONFINITE. CAPPED is not a failure."""
        out = []
        for n, info in enumerate(self.infos, start=1):
            out += [(n, "primal", info)] if info.status >= SolveStatus.INDEFINITE else []
            out += [(n, "adjoint", a) for a in info.adjoint if a.status >= SolveStatus.INDEFINITE]
        return out


@contextlib.contextmanager
def solve_records() -> Iterator[SolveRecords]:
    """Collect the records of every solve run inside the block (see the module docstring)."""
    records = SolveRecords()
    token = _OPEN.set((*_OPEN.get(), records))
    try:
        yield records
    finally:
        _OPEN.reset(token)


def report_solve(info: SolveInfo) -> None:
    """Hand a finished solve's record to every open block (called by `solve`)."""
    for records in _OPEN.get():
        records.infos.append(info)
