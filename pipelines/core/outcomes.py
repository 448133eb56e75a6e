"""Outcomes (the target's true values, sent back after a prediction), checked by one rule everywhere.

`/feedback`, `feedback import` and ingest accept exactly what `validate` accepts for the target: pandera's
coercion to the target's type (pipelines.core.validation), with the target's checks. A table that stores
its classes as 0.0/1.0 therefore gives outcomes 0 and 1; what coercion would change (1.5 for an integer
class), a missing value and a value outside the rule are refused, with one line naming the allowed values
and the type.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core import ids
from pipelines.core.contract import Contract
from pipelines.core.names import one_of
from pipelines.errors import PipelineError


class OutcomeError(ValueError):
    """Outcomes the target's rule refuses: `rows` (bool mask, one per outcome) and `reason` (one line naming the
    allowed values and the type, never a refused value)."""

    def __init__(self, reason: str, rows: np.ndarray):
        super().__init__(reason)
        self.reason = reason
        self.rows = rows


def rule_text(contract: Contract) -> str:
    """The target's rule in words: `one of 0, 1 (integers)`, `a number in [0, 50]`, `one of "no", "yes" (text)`."""
    column = contract.column(contract.target)
    dtype = str(column.dtype).lower()
    kind = (
        "an integer" if "int" in dtype else "a number" if "float" in dtype
        else "a boolean" if "bool" in dtype else "text"
    )  # fmt: skip
    allowed: set[Any] | None = None
    low, high = -math.inf, math.inf
    for check in column.checks:
        stats = check.statistics or {}
        if "allowed_values" in stats:
            given = {v.item() if hasattr(v, "item") else v for v in stats["allowed_values"]}
            allowed = given if allowed is None else allowed & given
        low = max(low, float(stats.get("min_value", -math.inf)))
        high = min(high, float(stats.get("max_value", math.inf)))
    if allowed is not None:
        plural = {"an integer": "integers", "a number": "numbers", "a boolean": "booleans"}.get(kind, kind)
        return f"one of {one_of(frozenset(allowed))} ({plural})"
    if math.isfinite(low) or math.isfinite(high):
        return f"{kind} in [{low:g}, {high:g}]"
    return kind


def coerce(contract: Contract, values: Sequence[Any] | pd.Series) -> list[Any]:
    """`values` (n outcomes, any order) as the target's type: plain Python values (int, float, str, bool), n of
    them. Raises OutcomeError when any is missing, would change under coercion, or breaks the target's checks."""
    from pipelines.core.validation import DataValidationError, validate

    target = contract.target
    if len(values) == 0:
        return []
    series = pd.Series(list(values), dtype=object) if not isinstance(values, pd.Series) else values
    frame = pd.DataFrame({target: series.to_numpy(dtype=object)})
    if "str" in str(contract.column(target).dtype).lower():  # a CSV's True or 1 is the text it was trained on
        frame[target] = frame[target].map(lambda v: v if v is None or v != v else str(v))
    missing = frame[target].isna().to_numpy()
    if missing.any():
        raise OutcomeError(f"no outcome (the target {target} takes {rule_text(contract)})", missing)
    try:
        checked, _ = validate(frame, contract.raw.select_columns([target]))
    except DataValidationError as exc:
        bad = np.zeros(len(frame), dtype=bool)
        bad[[int(i) for i in exc.failed_rows]] = True
        raise OutcomeError(f"not {rule_text(contract)}, as the target {target} requires", bad) from None
    return [v.item() if hasattr(v, "item") else v for v in checked[target]]


def latest_outcomes(records: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, Any]]:
    """id -> (ts, outcome): per id the record with the latest `ts`; on equal times, the one that comes later in
    `records` (a file's later row; the feedback log is read in file and line order). The one rule for outcomes
    sent more than once: `monitor`'s join and `feedback import` both use it. A record's outcome is its
    "label", "value" or "outcome"."""
    found: dict[str, tuple[float, Any]] = {}
    for record in records:
        outcome = next(record[k] for k in ("label", "value", "outcome") if k in record)
        ts = float(record.get("ts", 0.0))
        now = found.get(record["id"])
        if now is None or ts >= now[0]:
            found[record["id"]] = (ts, outcome)
    return found


def from_table(frame: pd.DataFrame, id_column: str, column: str, ts_column: str | None, now: float,
               max_age_days: float, contract: Contract, source: str) -> list[tuple[str, Any, float]]:  # fmt: skip
    """(id, outcome, ts) per prediction id in `frame`, sorted by id: the outcome checked with the target's rule
    in the contract, ts from `ts_column` (epoch seconds or a date-time) or `now`; an id given twice keeps its
    latest (`latest_outcomes`: on equal times, the later row). PipelineError naming the column, rule and rows
    (never the values) for a missing column, an outcome that breaks the rule, a malformed, expired or future id,
    or a bad time."""
    wanted = [id_column, column] + ([ts_column] if ts_column else [])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise PipelineError(
            f"{source}: no column(s) {', '.join(missing)} (see --id-column, --outcome-column, --ts-column)"
        )

    def rows(mask: Any) -> str:
        if not mask.any():  # a rule about the whole column (its type)
            return "the outcomes"
        where = [int(k) + 1 for k in np.flatnonzero(np.asarray(mask))[:5]]
        return f"{int(mask.sum())} row(s), e.g. row(s) {', '.join(map(str, where))}"

    try:
        checked = coerce(contract, frame[column])
    except OutcomeError as exc:
        raise PipelineError(f"{source}: {rows(exc.rows)} in {column}: {exc.reason}") from None
    given = frame[id_column].astype(str)
    malformed = ~given.map(ids.well_formed)
    if malformed.any():
        raise PipelineError(
            f"{source}: {rows(malformed.to_numpy())} are not prediction ids (37 hex digits with their check)"
        )
    expired = given.map(lambda i: ids.age_problem(i, max_age_days, now) is not None)  # foreign ids: monitor counts them
    if expired.any():
        raise PipelineError(f"{source}: {rows(expired.to_numpy())} have ids older than {max_age_days:g} days "
                            "(serve.feedback.max_age_days) or made in the future")  # fmt: skip
    stamps = pd.Series(now, index=frame.index, dtype=float)
    if ts_column:
        if pd.api.types.is_numeric_dtype(frame[ts_column]):
            stamps = frame[ts_column].astype(float)
        else:
            when = pd.to_datetime(frame[ts_column], utc=True, errors="coerce", format="ISO8601")
            stamps = (when - pd.Timestamp(0, tz="UTC")).dt.total_seconds()  # whatever the parsed resolution
        unreadable = ~np.isfinite(stamps.to_numpy(dtype=float))
        if unreadable.any():
            raise PipelineError(f"{source}: {rows(unreadable)} have no readable time in {ts_column}")
        made, skew = given.map(ids.made_at).to_numpy(), ids.CLOCK_SKEW_SECONDS
        impossible = (stamps.to_numpy(dtype=float) < made - skew) | (stamps.to_numpy(dtype=float) > now + skew)
        if impossible.any():
            raise PipelineError(f"{source}: {rows(impossible)} have a time in {ts_column} before their prediction "
                                "was made or in the future (epoch seconds, or ISO 8601)")  # fmt: skip
    records = [{"id": i, "ts": float(ts), "outcome": outcome} for i, outcome, ts in zip(given, checked, stamps,
                                                                                        strict=True)]  # fmt: skip
    return sorted((i, value, ts) for i, (ts, value) in latest_outcomes(records).items())
