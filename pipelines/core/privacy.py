"""What may leave the data and the model about a column tagged `personal` (pipelines.core.contract.PRIVACY): the
rules the writers share (the validation report and profile, the model's input example). Pure: schemas and frames
in, values out. docs/OPERATIONS.md, "Privacy", lists every writer and what it does with a personal column.

Nothing is hashed, so there is no salt to keep: a hash of a value with few possible values (an age, a zip code)
is reversed by hashing every possible value. A personal column's raw values are dropped; what leaves is a count or
a share over many rows. A minimum, maximum, quantile or list of values is one person's value, and so is a mean
published twice: the mean of n + 1 rows beside the mean of n rows gives the added row's value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

PERSONAL = "personal"  # the tag (pipelines.core.contract.PRIVACY)
WITHHELD = "(withheld: personal)"  # in place of a personal column's value in a report
PLACEHOLDER = "withheld"  # a personal text column's value in the model's input example, when no group can stand in
MIN_GROUP_ROWS = 10  # a value held by fewer training rows is too close to naming someone to stand in for the column


def is_personal(column: Any) -> bool:
    """Whether a pandera Column carries the privacy tag `personal` (its `metadata`)."""
    return (getattr(column, "metadata", None) or {}).get("privacy") == PERSONAL


def personal_columns(schema: Any) -> list[str]:
    """The columns of a pandera DataFrameSchema tagged `personal`, in schema order."""
    return [str(name) for name, column in schema.columns.items() if is_personal(column)]


def profile_entry(values: pd.Series) -> dict[str, Any]:
    """A personal column's entry in the data profile (reports/validation.json): its missing share only, at 6
    significant digits, and the tag that says why there is nothing else."""
    share = float(values.isna().mean()) if len(values) else 0.0
    return {"privacy": PERSONAL, "missing_rate": float(f"{share:.6g}")}


def _bounds(column: Any) -> tuple[float, float, list[Any] | None]:
    """(lowest, highest, allowed values or None) that the pandera Column's checks allow."""
    low, high, allowed = -np.inf, np.inf, None
    for check in getattr(column, "checks", None) or []:
        stats = check.statistics or {}
        low = max(low, float(stats["min_value"])) if "min_value" in stats else low
        high = min(high, float(stats["max_value"])) if "max_value" in stats else high
        allowed = list(stats["allowed_values"]) if "allowed_values" in stats else allowed
    return low, high, allowed


def placeholder(values: pd.Series, column: Any) -> Any:
    """What stands in for a personal column's values in the model's input example: an aggregate of `values` (the
    training rows) that the column's checks accept and that names no one. None when no value is present.

    - a number: the median at 2 significant digits, within the column's bounds (a whole number for an integer
      column);
    - a date: the first day of the median's year;
    - anything else, or a number from a list of allowed values: the commonest value when at least
      MIN_GROUP_ROWS rows hold it (a group, like `sex=female`), else the first allowed value the contract lists
      (public already), else False for a flag and PLACEHOLDER for text (the model ignores an unknown category).
    """
    present = values.dropna()
    if present.empty:
        return None
    low, high, allowed = _bounds(column)
    if pd.api.types.is_datetime64_any_dtype(present):
        middle = pd.Timestamp(present.median())
        return pd.Timestamp(year=middle.year, month=1, day=1, tz=middle.tz)
    numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if numeric and allowed is None:
        value = float(np.clip(float(f"{float(present.median()):.2g}"), low, high))
        return round(value) if pd.api.types.is_integer_dtype(present) else value
    counts = present.value_counts()
    commonest = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[0]
    if commonest[1] >= MIN_GROUP_ROWS:
        return commonest[0].item() if hasattr(commonest[0], "item") else commonest[0]
    if allowed:
        return sorted(allowed, key=str)[0]
    return False if pd.api.types.is_bool_dtype(present) else PLACEHOLDER


def masked_example(example: pd.DataFrame, rows: pd.DataFrame, schema: Any) -> pd.DataFrame:
    """`example` (the model's input example, rows x inputs) with every personal column of `schema` (a pandera
    DataFrameSchema) set to its `placeholder` over `rows` (the training inputs): the example that is saved with
    the model, logged to MLflow and baked into the image carries no one's values. Other columns are unchanged."""
    out = example.copy()
    for name in personal_columns(schema):
        if name not in out.columns:
            continue
        value = placeholder(rows[name], schema.columns[name])
        filled = pd.Series([value] * len(out), index=out.index, dtype=object)
        out[name] = filled if value is None and out[name].dtype == object else filled.astype(out[name].dtype)
    return out
