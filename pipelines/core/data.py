"""Data in, data out: the embedded default dataset, the split, the profile, the .dvc pointer.

Reading files and running DVC are pipelines.adapters (files, dvc); nothing here touches disk.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from pipelines.core.privacy import profile_entry
from pipelines.errors import PipelineError

DEFAULT_FILE = "breast_cancer.csv"
DEFAULT_TARGET = "malignant"


class DataError(PipelineError, RuntimeError):
    """The data cannot be found, read or materialised."""


def default_dataset() -> pd.DataFrame:
    """scikit-learn's bundled breast-cancer data (569 rows): 30 snake_case measurement columns and
    `malignant` (1 = malignant, 0 = benign), the example the template ships with."""
    from sklearn.datasets import load_breast_cancer

    frame = load_breast_cancer(as_frame=True).frame
    frame = frame.rename(columns=lambda c: str(c).replace(" ", "_"))
    # scikit-learn encodes benign as 1; the positive class here is the one a screening test looks for
    frame[DEFAULT_TARGET] = 1 - frame.pop("target")
    return frame


def default_csv() -> bytes:
    """The default dataset as the CSV bytes `data.dvc` records (stable across runs)."""
    return default_dataset().to_csv(index=False, lineterminator="\n").encode()


def min_rows_per_class(test_size: float) -> int:
    """The fewest rows a class needs so that a holdout of `test_size` (a fraction) can hold one of them and
    training keeps at least one: max(2, ceil(1 / test_size))."""
    import math

    return max(2, math.ceil(1 / test_size - 1e-9))


def check_classes(y: pd.Series, test_size: float) -> None:
    """Raise DataError naming every class of the label `y` with too few rows for a holdout split, its
    count, the minimum and what to do."""
    needed = min_rows_per_class(test_size)
    counts = y.value_counts()
    few = counts[counts < needed]
    if len(few):
        listed = ", ".join(f"{label!r} has {count} row(s)" for label, count in few.items())
        raise DataError(
            f"target {y.name!r}: {listed}; each class needs at least {needed} for a holdout of "
            f"{test_size:g} to contain it: add rows, merge or drop the class, or change split.test_size"
        )


def split(
    frame: pd.DataFrame,
    test_size: float,
    seed: int,
    stratify: bool,
    task: str,
    target: str,
    order_by: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train/test split (rows x columns in, two frames out): seeded and random, stratified on `target` when
    asked (a label: classification only); or, with `order_by` (a timestamp column), the newest `test_size`
    fraction of rows held out, so the model is judged on the future it will meet.

    Raises DataError for a target with fewer than two distinct values (nothing to learn, and a constant
    number would score perfectly), a stratified regression split, `order_by` with `stratify` or naming no
    column, and a class with too few rows for the holdout (check_classes).
    """
    from sklearn.model_selection import train_test_split

    distinct = frame[target].dropna().unique()
    if len(distinct) < 2:
        shown = "no value" if not len(distinct) else f"only {str(distinct[0])[:40]!r}"
        raise DataError(f"the target {target!r} holds {shown} in every row: nothing to learn; nothing was split")

    if stratify and task == "regression":
        raise DataError("split.stratify: true needs a class label, and the target is a number; set it to false")
    if task != "regression":
        check_classes(frame[target], test_size)
    if order_by is not None:
        if stratify:
            raise DataError("split.order_by holds out the newest rows; set split.stratify to false with it")
        if order_by not in frame.columns:
            raise DataError(f"split.order_by: {order_by!r} is not a column of the data")
        ordered = frame.iloc[time_order(frame, order_by).argsort(kind="stable")]
        cut = len(ordered) - max(1, round(len(ordered) * test_size))
        return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    train, test = train_test_split(
        frame, test_size=test_size, random_state=seed, stratify=frame[target] if stratify else None
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def time_order(frame: pd.DataFrame, column: str) -> pd.Series:
    """`column` as the rows' time order: a number as it is (a sequence number), anything else as timestamps;
    DataError naming the column and a value that is neither (a region name, say)."""
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        return values
    parsed = pd.to_datetime(values, errors="coerce", format="mixed")
    wrong = values[parsed.isna() & values.notna()]
    if len(wrong):
        raise DataError(f"split.order_by: {column!r} is not a time order: {str(wrong.iloc[0])[:40]!r} is neither a "
                        "number nor a timestamp; name a timestamp column, or null")  # fmt: skip
    return parsed


def profile(frame: pd.DataFrame, personal: Collection[str] = ()) -> dict[str, dict[str, Any]]:
    """Per-column summary for reports and drift checks: mean, spread, quantiles, missing rate.

    Numeric columns get moments and quantiles; other columns their most frequent values; a `personal` column
    only its missing rate (pipelines.core.privacy.profile_entry: the profile is committed and compared in the
    pull-request report). Numbers are rounded to 6 significant digits so the committed file diffs cleanly.
    """

    def r(x: object) -> float | None:
        return None if pd.isna(x) else float(f"{float(x):.6g}")  # type: ignore[arg-type]

    out: dict[str, dict[str, Any]] = {}
    for name in frame.columns:
        col = frame[name]
        if str(name) in personal:
            out[str(name)] = profile_entry(col)
            continue
        entry: dict[str, Any] = {"missing_rate": r(col.isna().mean())}
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
    """(tracked path, recorded hash) from the text of a .dvc file; DataError if it is not one."""
    try:
        out = yaml.safe_load(text)["outs"][0]
    except (KeyError, IndexError, TypeError, yaml.YAMLError) as exc:
        raise DataError(f"{source}: not a readable .dvc file ({exc})") from None
    return str(out["path"]), str(out.get("md5") or out.get("hash") or "")


@dataclass(frozen=True)
class DataChange:
    """What changed in the data between the base and this branch."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    diff_error: str | None = None
    rows_before: int | None = None
    rows_after: int | None = None
    valid: bool | None = None
    profile_before: Mapping[str, Mapping[str, Any]] | None = None
    profile_after: Mapping[str, Mapping[str, Any]] | None = None
