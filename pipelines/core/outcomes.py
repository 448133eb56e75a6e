"""Outcomes (the target's true values, sent back after a prediction), checked by one rule everywhere.

`/feedback`, `feedback import` and ingest accept exactly what `validate` accepts for the target: pandera's
coercion to the target's type (pipelines.core.validation), with the target's checks. A table that stores
its classes as 0.0/1.0 therefore gives outcomes 0 and 1; what coercion would change (1.5 for an integer
class), a missing value and a value outside the rule are refused, with one line naming the allowed values
and the type.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.names import one_of


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
