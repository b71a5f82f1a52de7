"""`atomic_path`: the one helper every layer writes results, caches and checkpoints with."""

import os

import pytest

from fem_prdp._io import atomic_path


def test_replaces_the_target_with_usual_permissions_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "sub" / "summary.json"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".json" and tmp != target
        tmp.write_text("new")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    assert [p.name for p in target.parent.iterdir()] == ["summary.json"]


def test_an_error_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "checkpoint.pt"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="killed"):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_concurrent_writers_get_distinct_temporaries(tmp_path):
    target = tmp_path / "data.pt"
    with atomic_path(target) as a, atomic_path(target) as b:
        assert a != b
        a.write_text("a")
        b.write_text("b")
    assert target.read_text() == "a"  # the outer block finishes last and wins
