"""Atomic writes: a failure inside the block leaves the previous output exactly as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines import files


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
