"""Raw data: the embedded default dataset, reading data/, bootstrapping, splitting."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from pipelines import files
from pipelines.errors import PipelineError
from pipelines.schema import TARGET, TASK

DEFAULT_FILE = "breast_cancer.csv"
DATA_SUFFIXES = (".csv", ".parquet")


class DataError(PipelineError, RuntimeError):
    """The data cannot be found, read or materialised."""


def default_dataset() -> pd.DataFrame:
    """scikit-learn's bundled breast-cancer data, with snake_case columns and 1 = malignant."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame = frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    # scikit-learn encodes benign as 1; the positive class here is the one a screening test looks for
    frame[TARGET] = 1 - frame.pop("target")
    return frame


def write_default_dataset(directory: Path) -> Path:
    """Write the default dataset into `directory` as CSV with stable bytes."""
    path = directory / DEFAULT_FILE
    default_dataset().to_csv(path, index=False, lineterminator="\n")
    return path


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


def read_raw(directory: str | os.PathLike[str]) -> tuple[pd.DataFrame, list[Source]]:
    """Read and concatenate every data file; row numbers in the result are global."""
    frames, sources, start = [], [], 0
    for path in data_files(directory):
        try:
            frame = files.read_frame(path)
        except Exception as exc:  # pandas/pyarrow raise many types for unreadable files
            raise DataError(f"{path}: cannot be read: {exc}") from None
        frames.append(frame)
        sources.append(Source(str(path), start, len(frame)))
        start += len(frame)
    return pd.concat(frames, ignore_index=True), sources


def split(
    frame: pd.DataFrame, test_size: float, seed: int, stratify: bool, task: str = TASK, target: str = TARGET
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded train/test split, stratified on the target when asked (classification only)."""
    from sklearn.model_selection import train_test_split

    if stratify and task == "regression":
        raise DataError("split.stratify: true needs a class label, and the target is a number; set it to false")

    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[target] if stratify else None
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def profile(frame: pd.DataFrame) -> dict[str, dict[str, float | int | str | None]]:
    """Per-column summary for reports and drift checks: mean, spread, quantiles, missing rate.

    Numeric columns get moments and quantiles; other columns their most frequent values.
    Numbers are rounded to 6 significant digits so the committed file diffs cleanly.
    """

    def r(x: object) -> float | None:
        return None if pd.isna(x) else float(f"{float(x):.6g}")  # type: ignore[arg-type]

    out: dict[str, dict[str, float | int | str | None]] = {}
    for name in frame.columns:
        col = frame[name]
        entry: dict[str, float | int | str | None] = {"missing_rate": r(col.isna().mean())}
        if pd.api.types.is_numeric_dtype(col):
            q = col.quantile([0.05, 0.5, 0.95])
            entry.update(
                mean=r(col.mean()),
                std=r(col.std()),
                min=r(col.min()),
                p05=r(q[0.05]),
                p50=r(q[0.5]),
                p95=r(q[0.95]),
                max=r(col.max()),
            )
        else:
            top = col.value_counts(normalize=True).head(5)
            entry.update(unique=int(col.nunique()), top=", ".join(f"{k}: {v:.3f}" for k, v in top.items()))
        out[str(name)] = entry
    return out


def parse_pointer(text: str, source: str = "data.dvc") -> tuple[str, str]:
    """(tracked path, recorded hash) from the text of a .dvc file."""
    try:
        out = yaml.safe_load(text)["outs"][0]
    except (KeyError, IndexError, TypeError, yaml.YAMLError) as exc:
        raise DataError(f"{source}: not a readable .dvc file ({exc})") from None
    return str(out["path"]), str(out.get("md5") or out.get("hash") or "")


def tracked_path(dvc_file: str | os.PathLike[str]) -> tuple[Path, str]:
    """The path a .dvc file tracks and its recorded hash."""
    p = Path(dvc_file)
    try:
        text = p.read_text()
    except OSError as exc:
        raise DataError(f"{p}: not a readable .dvc file ({exc})") from None
    path, digest = parse_pointer(text, str(p))
    return p.parent / path, digest


def _dvc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dvc", *args], text=True, capture_output=True, check=False)


def has_remote() -> bool:
    result = _dvc("remote", "list")
    return result.returncode == 0 and bool(result.stdout.strip())


def _matches_and_cache(dvc_file: str) -> bool:
    """True if the workspace data hashes to what `dvc_file` records; if so, put it in the DVC cache.

    `dvc status` cannot answer this in a fresh clone (it reports "not in cache"), so the hash is
    compared directly; caching it makes `dvc status` clean and lets `dvc exp` restore it.
    """
    from dvc.repo import Repo

    with Repo(str(Path(dvc_file).resolve().parent)) as repo:
        out = repo.stage.load_one(dvc_file).outs[0]
        if not out.exists or out.get_hash() != out.hash_info:
            return False
        repo.commit(dvc_file, force=True)
    return True


def _missing_outputs(lock: Path) -> list[str]:
    """Outputs that `lock` records and the workspace does not have."""
    if not lock.exists():
        return []
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages") or {}
    paths = [out["path"] for body in stages.values() for out in body.get("outs") or []]
    return [path for path in paths if not (lock.parent / path).exists()]


def bootstrap(dvc_file: str = "data.dvc") -> str:
    """Make the tracked data present: `dvc pull` with a remote (the data must be there; pipeline
    outputs are restored where the remote has them), else the embedded default.

    Returns a one-line account of what happened. Never overwrites data that is already there,
    and leaves nothing behind when the embedded data is not what `dvc_file` describes.
    """
    target, _ = tracked_path(dvc_file)
    if has_remote():
        result = _dvc("pull", dvc_file)  # the data must be there: nothing can be rebuilt without it
        if result.returncode != 0:
            raise DataError(f"dvc pull {dvc_file} failed (the data it records must be in the DVC remote):\n"
                            f"{result.stderr.strip()}")  # fmt: skip
        # pipeline outputs the remote holds are restored; `dvc repro` rebuilds the others, and the
        # reproduction check then judges them. Deploys never come this way: they fetch by hash.
        _dvc("pull", "--allow-missing")
        missing = _missing_outputs(Path(dvc_file).resolve().parent / "dvc.lock")
        rebuilt = f"; not in the remote, so `dvc repro` rebuilds them: {', '.join(missing)}" if missing else ""
        return f"pulled {target} and the pipeline outputs from the DVC remote{rebuilt}"
    if target.exists() and (target.is_file() or any(target.iterdir())):
        if _matches_and_cache(dvc_file):
            return f"{target} is present and matches {dvc_file}"
        return f"{target} is present but differs from {dvc_file}; after reviewing it, `dvc add {target}` records it"
    with files.atomic_dir(target) as tmp:
        write_default_dataset(tmp)
    if not _matches_and_cache(dvc_file):
        shutil.rmtree(target)
        raise DataError(
            f"{dvc_file} does not describe the embedded default dataset, and no DVC remote is "
            "configured to pull it from: add one with `dvc remote add -d <name> <url>`, then `dvc pull`"
        )
    return f"materialised the default dataset into {target} (matches {dvc_file})"
