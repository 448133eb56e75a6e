"""Files: atomic writes (an output is either the previous version or the complete new one, never
half) and reading tables, including every data file under data/.

DVC stages in this project declare their outputs `persist: true`, so DVC does not delete them
before a stage runs; these helpers are what keeps a failed stage from leaving a broken output.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.core.data import DataError

DATA_SUFFIXES = (".csv", ".parquet")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path next to `path`; move it over `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp creates 0600; give the result the mode an ordinary write would have
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temporary directory; swap it in for `path` only if the block succeeds.

    The swap is two renames (old out of the way, new in), so a reader sees either the old or the
    new directory, except in the instant between the renames; the old one is deleted afterwards.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = target.parent / f".{target.name}.old"
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        if old.exists():
            shutil.rmtree(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON atomically, indented and key-sorted so that diffs stay small and stable."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n")


def write_csv(path: str | os.PathLike[str], frame: pd.DataFrame, float_format: str = "%.10g") -> None:
    """Write a DataFrame atomically as CSV, floats with `float_format` (10 significant digits by default)."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n", float_format=float_format)


def write_frame(path: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a DataFrame atomically as Parquet (types survive, unlike CSV)."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def read_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a table written by `write_frame` (Parquet: the pipeline's intermediate tables)."""
    return pd.read_parquet(Path(path))


def read_table(source: Any, missing_values: Sequence[str], name: str | None = None) -> pd.DataFrame:
    """Read a raw data table: CSV, or Parquet when its name ends in .parquet.

    `source` is a path or an open binary file (then `name` says what it is). In a CSV file only the
    strings in `missing_values` (params.yaml `data.missing_values`; [""]: empty cells) are missing, so a
    country code "NA" or a category "None" stays a value instead of pandas' default reading of it as NaN.
    """
    label = str(name if name is not None else source)
    if label.endswith(".parquet"):
        return pd.read_parquet(source)
    return pd.read_csv(source, keep_default_na=False, na_values=list(missing_values))


@dataclass(frozen=True)
class Source:
    """One data file and where its rows sit in the concatenated frame."""

    path: str
    first_row: int
    rows: int


def data_files(directory: str | os.PathLike[str]) -> list[Path]:
    """The data files under `directory`, in a stable order."""
    root = Path(directory)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"{root}: no such file or directory (run `make data` or `dvc pull`)")
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES)
    if not found:
        raise DataError(f"{root}: no {' or '.join(DATA_SUFFIXES)} files")
    return found


def read_raw(directory: str | os.PathLike[str], missing_values: Sequence[str]) -> tuple[pd.DataFrame, list[Source]]:
    """Read and concatenate every data file (see `read_table` for `missing_values`); row numbers in the
    result are global.

    Raises DataError naming a missing directory, an empty one, or a file that cannot be read.
    """
    frames, sources, start = [], [], 0
    for path in data_files(directory):
        try:
            frame = read_table(path, missing_values)
        except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
            raise DataError(f"{path}: cannot be read: {exc}") from None
        frames.append(frame)
        sources.append(Source(str(path), start, len(frame)))
        start += len(frame)
    return pd.concat(frames, ignore_index=True), sources
