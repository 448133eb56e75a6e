"""Reading the user's table: the task its target implies, and a starting contract for its columns."""

from __future__ import annotations

import json
import keyword
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from pipelines.core.contract import Contract
from pipelines.errors import PipelineError

MAX_CLASSES = 50  # more distinct labels than this is not a classification target we guess at
MAX_CATEGORIES = 50  # a text column with more distinct values gets no `isin` check


class InitError(PipelineError, ValueError):
    """init cannot run: bad options or data, or a repository that has diverged from the template."""


def infer_task(target: pd.Series) -> str:
    """binary for two labels, multiclass for a few, regression for a number with many values."""
    values = target.dropna()
    distinct = values.nunique()
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    whole = numeric and bool(np.all(np.mod(values.to_numpy(dtype=float), 1) == 0))
    if distinct < 2:
        raise InitError(f"target column {target.name!r} has {distinct} distinct value(s): nothing to learn")
    if numeric and (not whole or distinct > 20):
        return "regression"
    if distinct == 2:
        return "binary"
    if distinct > MAX_CLASSES:
        raise InitError(
            f"target column {target.name!r} has {distinct} distinct labels; pass --task regression if it is a "
            "number, or group the labels first"
        )
    return "multiclass"


@dataclass(frozen=True)
class Column:
    """One column of the contract: how it is declared in the generated schema."""

    name: str
    attribute: str  # a Python identifier; `alias` carries the real name when they differ
    kind: str  # "float", "int" or "str"
    nullable: bool
    low: float | None = None
    high: float | None = None
    categories: list[Any] | None = None

    def field_code(self) -> str:
        """The `pa.Field(...)` line that declares this column in the generated schema."""
        args = [f"alias={json.dumps(self.name)}"] if self.attribute != self.name else []
        if self.categories is not None:
            args.append(f"isin={json.dumps(self.categories)}")
        if self.low is not None:
            args.append(f"ge={_num(self.low)}")
        if self.high is not None:
            args.append(f"le={_num(self.high)}")
        args.append(f"nullable={self.nullable}")
        return f"    {self.attribute}: Series[{self.kind}] = pa.Field({', '.join(args)})"


def _num(value: float) -> str:
    return repr(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(float(value))


def _outward(value: float, up: bool) -> float:
    """Round to 3 significant digits, away from the data (up for an upper bound)."""
    if value == 0 or not math.isfinite(value):
        return value
    scale = 10 ** (math.floor(math.log10(abs(value))) - 2)
    return float(f"{(math.ceil if up else math.floor)(value / scale) * scale:.6g}")


def _bounds(values: pd.Series) -> tuple[float, float]:
    """Loose bounds: the observed range widened by its width on each side; 0 stays the floor of
    non-negative data. They catch unit mix-ups and corrupt rows, not honest new values."""
    low, high = float(values.min()), float(values.max())
    width = max(high - low, abs(high), 1.0)
    lower = 0.0 if low >= 0 else _outward(low - width, up=False)
    return lower, _outward(high + width, up=True)


def _attribute(name: str, taken: set[str]) -> str:
    base = re.sub(r"\W+", "_", str(name).strip()).strip("_").lower() or "column"
    if base[0].isdigit() or keyword.iskeyword(base):
        base = f"c_{base}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    taken.add(candidate)
    return candidate


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def infer_columns(frame: pd.DataFrame, target: str, task: str) -> tuple[list[Column], Column]:
    """The feature columns and the target column of a starting schema for `frame`."""
    taken: set[str] = set()
    features = []
    for name in frame.columns:
        if name == target:
            continue
        col = frame[name]
        attribute = _attribute(name, taken)
        nullable = bool(col.isna().any())
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            present = col.dropna()
            if present.empty:
                raise InitError(f"column {name!r} has no values at all; drop it from the dataset")
            low, high = _bounds(present)
            features.append(Column(str(name), attribute, "float", nullable, low, high))
        else:
            text = col.dropna().astype(str)
            categories = sorted(text.unique()) if text.nunique() <= MAX_CATEGORIES else None
            features.append(Column(str(name), attribute, "str", nullable, categories=categories))
    if not features:
        raise InitError("the dataset has no columns besides the target")
    y = frame[target]
    attribute = _attribute(target, taken)
    if task == "regression":
        low, high = _bounds(y)
        return features, Column(target, attribute, "float", False, low, high)
    labels = sorted(_plain(v) for v in y.unique())
    numeric = pd.api.types.is_numeric_dtype(y) and not pd.api.types.is_bool_dtype(y)
    if numeric:
        return features, Column(target, attribute, "int", False, categories=[int(v) for v in labels])
    return features, Column(target, attribute, "str", False, categories=[str(v) for v in labels])


def _column(column: Column) -> pa.Column:
    """The pandera Column a generated `pa.Field` declares (the same dtype, checks and nullability)."""
    dtype = {"float": float, "int": int, "str": str}[column.kind]
    checks = []
    if column.categories is not None:
        checks.append(pa.Check.isin(column.categories))
    if column.low is not None:
        checks.append(pa.Check.ge(column.low))
    if column.high is not None:
        checks.append(pa.Check.le(column.high))
    return pa.Column(dtype, checks=checks, nullable=column.nullable)


def contract_for(features: list[Column], target: Column, task: str) -> Contract:
    """The contract the generated pipelines/yours/schema.py declares, built directly (nothing is executed)."""
    inputs = {c.name: _column(c) for c in features}
    return Contract(
        raw=pa.DataFrameSchema({**inputs, target.name: _column(target)}, strict=True, coerce=True),
        inputs=pa.DataFrameSchema(inputs, strict=True, coerce=True),
        target=target.name,
        task=task,
    )
