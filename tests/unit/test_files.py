"""Atomic writes: a failure inside the block leaves the previous output exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.adapters import files


def test_atomic_path_replaces_on_success_and_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out" / "metrics.json"
    files.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), files.atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash midway")
    assert target.read_text() == '{\n  "a": 1\n}\n'
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]  # no temp files left


def test_atomic_dir_swaps_whole_directories_and_keeps_the_old_one_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "model"
    with files.atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), files.atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("crash midway")
    assert sorted(p.name for p in target.iterdir()) == ["a"]
    with files.atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
    assert sorted(p.name for p in target.iterdir()) == ["c"]  # replaced as a whole, nothing stale
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_write_json_refuses_nan_rather_than_writing_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        files.write_json(tmp_path / "m.json", {"x": float("nan")})
    assert not (tmp_path / "m.json").exists()


def test_atomic_outputs_get_ordinary_permissions_not_the_temp_files_private_ones(tmp_path: Path) -> None:
    """A model written 0600/0700 would be unreadable by the container's non-root user."""
    import os

    files.write_text(tmp_path / "a.txt", "x")
    with files.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "f").write_text("y")
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o777 & ~umask
