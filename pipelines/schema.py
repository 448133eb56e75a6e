"""The data contract: pandera schemas for the raw data and the model's inputs.

This is the file a forked project edits first. Bounds are deliberately loose (about twice the
largest value in the reference data) so that they catch unit mix-ups, corrupt rows and infinities
without rejecting honest new data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pandera.typing import Series

from pipelines.config import Task
from pipelines.errors import PipelineError

TARGET = "malignant"
"""Label column: 1 = malignant tumour (the positive class), 0 = benign."""
TASK: Task = "binary"
"""binary (the larger label is the positive class), multiclass or regression: picks estimators and metrics."""

# Cap on failure cases kept in a report file; counts per check are always complete.
MAX_REPORTED_CASES = 1000


def _measure(le: float) -> Any:
    return pa.Field(ge=0.0, le=le, nullable=False)


class Features(pa.DataFrameModel):
    """Model inputs: 30 non-negative measurements of a cell-nucleus image."""

    mean_radius: Series[float] = _measure(60)
    mean_texture: Series[float] = _measure(80)
    mean_perimeter: Series[float] = _measure(400)
    mean_area: Series[float] = _measure(6000)
    mean_smoothness: Series[float] = _measure(0.4)
    mean_compactness: Series[float] = _measure(0.7)
    mean_concavity: Series[float] = _measure(0.9)
    mean_concave_points: Series[float] = _measure(0.5)
    mean_symmetry: Series[float] = _measure(0.7)
    mean_fractal_dimension: Series[float] = _measure(0.2)
    radius_error: Series[float] = _measure(6)
    texture_error: Series[float] = _measure(10)
    perimeter_error: Series[float] = _measure(50)
    area_error: Series[float] = _measure(2000)
    smoothness_error: Series[float] = _measure(0.07)
    compactness_error: Series[float] = _measure(0.3)
    concavity_error: Series[float] = _measure(0.8)
    concave_points_error: Series[float] = _measure(0.2)
    symmetry_error: Series[float] = _measure(0.2)
    fractal_dimension_error: Series[float] = _measure(0.06)
    worst_radius: Series[float] = _measure(80)
    worst_texture: Series[float] = _measure(100)
    worst_perimeter: Series[float] = _measure(600)
    worst_area: Series[float] = _measure(9000)
    worst_smoothness: Series[float] = _measure(0.5)
    worst_compactness: Series[float] = _measure(3)
    worst_concavity: Series[float] = _measure(3)
    worst_concave_points: Series[float] = _measure(0.6)
    worst_symmetry: Series[float] = _measure(2)
    worst_fractal_dimension: Series[float] = _measure(0.5)

    class Config:
        strict = True
        coerce = True


class RawData(Features):
    """A labelled row: the features plus the target."""

    malignant: Series[int] = pa.Field(isin=[0, 1], nullable=False)

    class Config:
        strict = True
        coerce = True


FEATURES: list[str] = list(Features.to_schema().columns)
NUMERIC_FEATURES: list[str] = [
    name for name, col in Features.to_schema().columns.items() if pd.api.types.is_numeric_dtype(str(col.dtype))
]
CATEGORICAL_FEATURES: list[str] = [name for name in FEATURES if name not in NUMERIC_FEATURES]


@dataclass(frozen=True)
class ValidationReport:
    """What a lazy validation found: every failing check, with counts and examples."""

    rows: int
    columns: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)  # one entry per (column, check)
    cases: list[dict[str, Any]] = field(default_factory=list)  # individual failures, capped

    @property
    def valid(self) -> bool:
        return not self.checks

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "rows": self.rows,
            "columns": self.columns,
            "failed_checks": self.checks,
            "failure_cases": self.cases,
            "failure_cases_truncated": sum(c["count"] for c in self.checks) > len(self.cases),
        }

    def summary(self, limit: int = 20) -> str:
        """A few lines for stderr: one per failing check."""
        if self.valid:
            return f"data is valid: {self.rows} rows, {len(self.columns)} columns"
        lines = [f"data failed validation: {len(self.checks)} failing check(s) in {self.rows} rows"]
        for c in self.checks[:limit]:
            rows = ", ".join(str(r) for r in c["rows"][:5]) or "-"
            values = ", ".join(repr(v) for v in c["values"][:5])
            lines.append(
                f"  - column {c['column']!s}: {c['check']} failed {c['count']}x (rows {rows}; values {values})"
            )
        if len(self.checks) > limit:
            lines.append(f"  ... and {len(self.checks) - limit} more (see the report file)")
        return "\n".join(lines)


class DataValidationError(PipelineError, ValueError):
    """Raised when data breaks the schema; carries the full report."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report


def _plain(value: Any) -> Any:
    """JSON-safe version of a failure case value (NaN and inf become strings)."""
    if value is None:
        return None
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if hasattr(value, "item"):
        return _plain(value.item())
    if isinstance(value, (int, float, str, bool)):
        return value
    return str(value)


def _report(frame: pd.DataFrame, failures: pd.DataFrame) -> ValidationReport:
    failures = failures.copy()
    failures["column"] = failures["column"].fillna("(table)").astype(str)
    checks = []
    for (column, check), group in failures.groupby(["column", "check"], sort=False, dropna=False):
        idx = group["index"].dropna()
        checks.append(
            {
                "column": column,
                "check": str(check),
                "count": len(group),
                "rows": [_plain(i) for i in idx.head(20)],
                "values": [_plain(v) for v in group["failure_case"].head(20)],
            }
        )
    cases = [
        {"column": r.column, "check": str(r.check), "row": _plain(r.index), "value": _plain(r.failure_case)}
        for r in failures.head(MAX_REPORTED_CASES).itertuples(index=False)
    ]
    return ValidationReport(rows=len(frame), columns=[str(c) for c in frame.columns], checks=checks, cases=cases)


def validate(frame: pd.DataFrame, schema: type[pa.DataFrameModel] = RawData) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate lazily (every check runs); return the coerced frame, or raise DataValidationError."""
    if frame.empty:
        failures = pd.DataFrame(
            [{"column": None, "check": "at least one row", "index": None, "failure_case": "0 rows"}]
        )
        raise DataValidationError(_report(frame, failures))
    try:
        validated = schema.validate(frame, lazy=True)
    except (pandera.errors.SchemaErrors, pandera.errors.SchemaError) as exc:
        # with strict=True an extra column can raise SchemaError even when lazy
        failures = exc.failure_cases if isinstance(exc, pandera.errors.SchemaErrors) else _single(exc)
        raise DataValidationError(_report(frame, failures)) from None
    return validated, ValidationReport(rows=len(frame), columns=[str(c) for c in frame.columns])


def _single(exc: pandera.errors.SchemaError) -> pd.DataFrame:
    cases = exc.failure_cases
    if isinstance(cases, pd.DataFrame) and "failure_case" in cases:
        values = list(cases["failure_case"])
        index = list(cases["index"]) if "index" in cases else [None] * len(values)
    else:
        values, index = [cases], [None]
    column = getattr(exc.schema, "name", None)
    return pd.DataFrame({"column": column, "check": str(exc.check), "index": index, "failure_case": values})
