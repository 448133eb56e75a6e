"""Checking data against the schema: lazy validation, and a report of every failure by column and row."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa

from pipelines.core.names import printable
from pipelines.core.privacy import WITHHELD, personal_columns
from pipelines.errors import PipelineError

# Cap on failure cases kept in a report file; counts per check are always complete.
MAX_REPORTED_CASES = 1000


@dataclass(frozen=True)
class ValidationReport:
    """What a lazy validation found: every failing check (column, check, count, example rows and
    values), and up to MAX_REPORTED_CASES individual failures."""

    rows: int
    columns: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)  # one entry per (column, check)
    cases: list[dict[str, Any]] = field(default_factory=list)  # individual failures, capped

    @property
    def valid(self) -> bool:
        """Whether no check failed."""
        return not self.checks

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (reports/validation.json)."""
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
            line = f"  - column {c['column']!s}: {c['check']} failed {c['count']}x (rows {rows}; values {values})"
            lines.append(printable(line))
        if len(self.checks) > limit:
            lines.append(f"  ... and {len(self.checks) - limit} more (see the report file)")
        return "\n".join(lines)


class DataValidationError(PipelineError, ValueError):
    """Raised when data breaks the schema; carries the full report and the index of every failing row."""

    def __init__(self, report: ValidationReport, failed_rows: Sequence[Any] = ()):
        super().__init__(report.summary())
        self.report = report
        self.failed_rows = list(failed_rows)  # uncapped, unlike the report's cases


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


def _report(frame: pd.DataFrame, failures: pd.DataFrame, personal: frozenset[str] = frozenset()) -> ValidationReport:
    """The report of `failures` (pandera's failure cases); a value of a `personal` column is WITHHELD (the report
    is committed, uploaded and printed: pipelines.core.privacy), its row number kept."""
    failures = failures.copy()
    failures["column"] = failures["column"].fillna("(table)").astype(str)
    if personal:
        failures["failure_case"] = failures["failure_case"].astype(object)
        failures.loc[failures["column"].isin(personal), "failure_case"] = WITHHELD
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


def validate(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> tuple[pd.DataFrame, ValidationReport]:
    """Validate lazily against `schema` (every check runs); return the coerced frame and a report.

    Coercion is pandera's, except that it must not change a value: a number with a fraction in an integer
    column (1.5 would become 1) fails the check "whole number". Raises DataValidationError, carrying the full
    report, when any check fails or `frame` is empty; the report names no value of a column the schema tags
    personal (pipelines.core.privacy).
    """
    personal = frozenset(personal_columns(schema))
    if frame.empty:
        failures = pd.DataFrame(
            [{"column": None, "check": "at least one row", "index": None, "failure_case": "0 rows"}]
        )
        raise DataValidationError(_report(frame, failures))
    failures = _hidden_by_coercion(frame, schema)
    try:
        validated = schema.validate(frame, lazy=True)
    except (pandera.errors.SchemaErrors, pandera.errors.SchemaError) as exc:
        # with strict=True an extra column can raise SchemaError even when lazy
        found = exc.failure_cases if isinstance(exc, pandera.errors.SchemaErrors) else _single(exc)
        failures = pd.concat([failures, found], ignore_index=True) if len(failures) else found
    if len(failures):
        raise DataValidationError(_report(frame, failures, personal), failures["index"].dropna().unique()) from None
    return validated, ValidationReport(rows=len(frame), columns=[str(c) for c in frame.columns])


def _hidden_by_coercion(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Failure cases coercion would hide: a number with a fraction in an integer column (it would drop it), and a
    boolean in a numeric column (True would become the class or value 1)."""
    cases = []
    for name, column in schema.columns.items():
        dtype = str(column.dtype)
        if name not in frame.columns or not pd.api.types.is_numeric_dtype(dtype) or "bool" in dtype.lower():
            continue
        values = frame[name]
        whole = pd.api.types.is_integer_dtype(dtype)
        if pd.api.types.is_bool_dtype(values.dtype):
            booleans, lossy = values.notna(), None
        elif pd.api.types.is_float_dtype(values.dtype):
            booleans = None
            lossy = (values.notna() & np.isfinite(values) & (values != np.floor(values))) if whole else None
        elif values.dtype == object:
            booleans = values.map(lambda v: isinstance(v, (bool, np.bool_)))
            lossy = (
                values.map(lambda v: isinstance(v, float) and math.isfinite(v) and not v.is_integer())
                if whole
                else None
            )
        else:
            continue
        for mask, check in ((lossy, "whole number"), (booleans, "a number, not a boolean")):
            if mask is not None:
                for index, value in values[mask.astype(bool)].items():
                    cases.append({"column": name, "check": check, "index": index, "failure_case": value})
    return pd.DataFrame(cases, columns=["column", "check", "index", "failure_case"])


def _single(exc: pandera.errors.SchemaError) -> pd.DataFrame:
    cases = exc.failure_cases
    if isinstance(cases, pd.DataFrame) and "failure_case" in cases:
        values = list(cases["failure_case"])
        index = list(cases["index"]) if "index" in cases else [None] * len(values)
    else:
        values, index = [cases], [None]
    column = getattr(exc.schema, "name", None)
    return pd.DataFrame({"column": column, "check": str(exc.check), "index": index, "failure_case": values})
