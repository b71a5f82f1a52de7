"""`reuse_freed_memory`: a large tensor allocated again comes from freed heap memory, not
from freshly faulted pages; the `fem-prdp` command applies it unless told not to."""

import platform
import subprocess
import sys
import textwrap

import pytest

import fem_prdp.cli as cli
from fem_prdp import reuse_freed_memory

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"

# Page faults of the second of two 64 MB allocations (16,384 pages of 4 KB), in a fresh process.
_FAULTS = textwrap.dedent("""
    import resource, sys, torch
    from fem_prdp import reuse_freed_memory
    applied = reuse_freed_memory() if sys.argv[1] == "reuse" else None
    def fill():
        t = torch.empty(16 * 2**20, dtype=torch.float32)
        t.fill_(1.0)
        return float(t[-1])
    fill()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fill()
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


def _second_allocation_faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")
def test_a_freed_large_block_is_reused_without_page_faults():
    applied, reused = _second_allocation_faults("reuse")
    _, fresh = _second_allocation_faults("system")
    assert applied == "True"
    assert fresh > 8_000  # glibc's default: a fresh mapping, every page faulted in again
    assert reused < 1_000  # tuned: the freed block again, its pages already there


def test_limit_out_of_range_is_refused():
    for bad in (0, -1, 2**31, 1.5):
        with pytest.raises(ValueError, match="limit_bytes"):
            reuse_freed_memory(bad)


def _run_command(monkeypatch, mode: str | None) -> tuple[int, list[str]]:
    calls = []
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: calls.append("reuse"))
    monkeypatch.setattr(cli, "main", lambda: 0)
    if mode is None:
        monkeypatch.delenv("FEM_PRDP_MALLOC", raising=False)
    else:
        monkeypatch.setenv("FEM_PRDP_MALLOC", mode)
    with pytest.raises(SystemExit) as stop:
        cli.command()
    return stop.value.code, calls


def test_the_command_reuses_freed_memory_unless_told_not_to(monkeypatch, capsys):
    assert _run_command(monkeypatch, None) == (0, ["reuse"])
    assert _run_command(monkeypatch, "Reuse") == (0, ["reuse"])
    assert _run_command(monkeypatch, "system") == (0, [])
    assert _run_command(monkeypatch, "jemalloc") == (2, [])
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["fem-prdp: error: FEM_PRDP_MALLOC must be reuse or system, not 'jemalloc'; unset it for the "
                   "default (reuse)"]
