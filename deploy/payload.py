"""Turning a request into model input: the body's JSON, MLflow's four scoring formats, the input contract.

- `loads`: the body as JSON (strict first; NaN and Infinity as MLflow clients write them); never a 500.
- `InputSpec`: the model's input contract, derived from the contract's input schema (names,
  numeric or not, nullable, bounds, categories), checked in plain Python/NumPy so one row costs microseconds.
- `parse_payload`: MLflow's four scoring formats to rows in schema order; errors name the field, never a value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.core.names import _name, one_of, shown

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


class RequestError(Exception):
    """A request the service refuses, with the HTTP status and a message that names no values."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _bad(message: str) -> RequestError:
    return RequestError(400, "BAD_REQUEST", message)


def _invalid(message: str) -> RequestError:
    return RequestError(422, "INVALID_INPUT", message)


@dataclass(frozen=True)
class InputSpec:
    """The input contract: column order, which columns are numeric, nullable, their bounds, and the
    categories a column allows (pandera's `isin`), so the service refuses what `validate` refuses."""

    names: tuple[str, ...]
    numeric: tuple[bool, ...]
    nullable: tuple[bool, ...]
    low: np.ndarray  # per column, -inf where unbounded (numeric columns only)
    high: np.ndarray
    allowed: tuple[frozenset[Any] | None, ...] = ()  # per column, None where any value is allowed
    personal: tuple[bool, ...] = ()  # per column, whether it is tagged personal: scored, never logged

    @classmethod
    def from_schema(cls, schema: Any) -> InputSpec:
        """Read names, kinds, nullability, ge/le (or gt/lt) bounds, `isin` categories and the privacy tag from a
        pandera DataFrameSchema (pipelines.core.contract.Contract.inputs)."""
        import pandas as pd

        from pipelines.core.privacy import is_personal

        names, numeric, nullable, low, high, allowed = [], [], [], [], [], []
        personal = tuple(is_personal(column) for column in schema.columns.values())
        for name, column in schema.columns.items():
            names.append(str(name))
            is_numeric = bool(pd.api.types.is_numeric_dtype(str(column.dtype)))
            numeric.append(is_numeric)
            nullable.append(bool(column.nullable))
            lo, hi, values = -math.inf, math.inf, None
            for check in column.checks:
                stats = check.statistics or {}
                if "min_value" in stats:
                    lo = max(lo, float(stats["min_value"]))
                if "max_value" in stats:
                    hi = min(hi, float(stats["max_value"]))
                if "allowed_values" in stats:
                    given = frozenset(float(v) if is_numeric else str(v) for v in stats["allowed_values"])
                    values = given if values is None else values & given
            low.append(lo)
            high.append(hi)
            allowed.append(values)
        return cls(tuple(names), tuple(numeric), tuple(nullable), np.array(low), np.array(high), tuple(allowed),
                   personal)  # fmt: skip

    @property
    def withheld(self) -> tuple[str, ...]:
        """The personal input columns: the model sees them, the prediction log never does."""
        return tuple(name for name, personal in zip(self.names, self.personal, strict=False) if personal)

    def loggable(self, rows: list[list[Any]]) -> tuple[tuple[str, ...], list[list[Any]]]:
        """(column names, rows) as the prediction log keeps them: every input but the personal ones, in schema
        order (docs/OPERATIONS.md, Privacy). The rows themselves when nothing is withheld."""
        if not any(self.personal):
            return self.names, rows
        keep = [j for j, personal in enumerate(self.personal) if not personal]
        return tuple(self.names[j] for j in keep), [[row[j] for j in keep] for row in rows]

    @property
    def all_numeric(self) -> bool:
        """Whether every input column is numeric (then the matrix is plain float64)."""
        return all(self.numeric)

    def to_matrix(self, rows: list[list[Any]]) -> np.ndarray:
        """Type-check every value and return the model's input matrix (rows x columns: float64 when every
        column is numeric, else object with NaN for a missing category).

        A missing value is JSON null (or NaN, read as null); a JSON boolean in a text column is its text
        ("True", "False"), as validation coerces it. Raises RequestError (422) naming the row, the column
        and the rule broken, never the value.
        """
        if not rows:
            raise _bad("no rows to score")
        allowed = self.allowed or (None,) * len(self.names)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                kind = type(value)
                if kind is float and value != value:  # NaN: missing, as pandas reads it
                    row[j] = value = None
                    kind = type(None)
                if kind is float or kind is int:
                    if not self.numeric[j]:
                        raise _invalid(f"row {i}: column {shown(self.names[j])} must be a string")
                elif value is None:
                    if not self.nullable[j]:
                        raise _invalid(f"row {i}: column {shown(self.names[j])} must not be null")
                    continue
                elif kind is str or (kind is bool and not self.numeric[j]):
                    if self.numeric[j]:
                        raise _invalid(f"row {i}: column {shown(self.names[j])} must be a number")
                    if kind is bool:
                        row[j] = value = str(value)
                else:  # bool in a numeric column, list, dict: never a valid cell
                    raise _invalid(f"row {i}: column {shown(self.names[j])} has the wrong type ({kind.__name__})")
                domain = allowed[j]
                if domain is not None and value not in domain:
                    raise _invalid(f"row {i}: column {shown(self.names[j])} must be one of {one_of(domain)}")
        if self.all_numeric:
            matrix = values = np.array(rows, dtype=np.float64)  # None (nullable) becomes NaN
        else:
            matrix = np.array(rows, dtype=object)
            numeric = np.array(self.numeric)
            values = np.full(matrix.shape, np.nan)
            values[:, numeric] = matrix[:, numeric].astype(np.float64)
            categories = matrix[:, ~numeric]
            categories[categories == None] = np.nan  # noqa: E711 -- elementwise; the imputers expect NaN
            matrix[:, ~numeric] = categories
        present = ~np.isnan(values)
        bad = present & (~np.isfinite(values) | (values < self.low) | (values > self.high))
        if bad.any():
            i, j = (int(k) for k in np.argwhere(bad)[0])
            return self._raise_bound(i, j, float(values[i, j]))
        return matrix

    def _raise_bound(self, i: int, j: int, value: float) -> np.ndarray:
        if not math.isfinite(value):
            raise _invalid(f"row {i}: column {shown(self.names[j])} must be a finite number")
        raise _invalid(
            f"row {i}: column {shown(self.names[j])} is outside its allowed range [{self.low[j]:g}, {self.high[j]:g}]"
        )


def loads(body: bytes) -> Any:
    """The request body as JSON. Strict JSON first (orjson); then Python's reader, which also takes the
    NaN and Infinity tokens that Python and MLflow clients write for missing and infinite floats: NaN is
    read as null (missing), Infinity stays a float (refused later as not finite), and so does an integer too
    long for a float. Raises RequestError 400."""
    import orjson

    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        parsed = json.loads(
            body,
            parse_constant=lambda token: None if token == "NaN" else float(token),
            parse_int=_integer,
        )
    except RecursionError:
        raise _bad("the body is nested too deeply") from None
    except ValueError:
        raise _bad("the body is not valid JSON") from None
    if _lone_surrogate(parsed):  # orjson refused it for this; Python's reader lets it through
        raise RequestError(400, "BAD_REQUEST", "the body holds a lone UTF-16 surrogate escape (\\ud800-\\udfff "
                                               "without its pair): not Unicode text")  # fmt: skip
    return parsed


def _lone_surrogate(value: Any) -> bool:
    """Whether any text in `value` (a parsed JSON document: its keys too) holds a lone UTF-16 surrogate."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
    return False


def _integer(text: str) -> int | float:
    """A JSON integer: as an int while a float can hold it, else a float (infinite beyond 1.8e308: refused
    later as not finite, never an OverflowError)."""
    return int(text) if len(text.lstrip("-")) < 300 else float(text)


def _check_columns(given: Sequence[Any], input_spec: InputSpec) -> dict[str, int]:
    if not all(isinstance(c, str) for c in given):
        raise _bad("column names must be strings")
    positions = {name: i for i, name in enumerate(given)}
    if len(positions) != len(given):
        raise _bad("column names must be unique")
    missing = [n for n in input_spec.names if n not in positions]
    unknown = [n for n in given if n not in input_spec.names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(
                "missing column(s): " + ", ".join(map(shown, missing[:5])) + (" ..." if len(missing) > 5 else "")
            )
        if unknown:
            parts.append(
                "unknown column(s): "
                + ", ".join(shown(_name(n)) for n in unknown[:5])
                + (" ..." if len(unknown) > 5 else "")
            )
        raise _bad("; ".join(parts))
    return positions


def _from_records(records: Sequence[Any], input_spec: InputSpec) -> list[list[Any]]:
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise _bad(f"row {i} must be an object of column: value")
        if len(record) != len(input_spec.names) or any(name not in record for name in input_spec.names):
            try:
                _check_columns(list(record), input_spec)
            except RequestError as error:
                raise _bad(f"row {i}: {error.message}") from None
        rows.append([record[name] for name in input_spec.names])
    return rows


def _from_split(split: Any, input_spec: InputSpec) -> list[list[Any]]:
    if (
        not isinstance(split, dict)
        or not isinstance(split.get("columns"), list)
        or not isinstance(split.get("data"), list)
    ):
        raise _bad("dataframe_split needs `columns` (a list of names) and `data` (a list of rows)")
    positions = _check_columns(split["columns"], input_spec)
    order = [positions[name] for name in input_spec.names]
    width = len(split["columns"])
    rows = []
    for i, row in enumerate(split["data"]):
        if not isinstance(row, list) or len(row) != width:
            raise _bad(f"row {i} must be a list of {width} values")
        rows.append([row[k] for k in order])
    return rows


def _from_columns(columns: dict[str, Any], input_spec: InputSpec) -> list[list[Any]]:
    _check_columns(list(columns), input_spec)
    lists = [columns[name] for name in input_spec.names]
    if not all(isinstance(values, list) for values in lists):
        raise _bad("each column must be a list of values")
    if len({len(values) for values in lists}) != 1:
        raise _bad("all columns must have the same number of values")
    return [list(row) for row in zip(*lists, strict=True)]


def _from_instances(items: Any, input_spec: InputSpec, key: str) -> list[list[Any]]:
    if isinstance(items, dict):
        return _from_columns(items, input_spec)
    if not isinstance(items, list) or not items:
        raise _bad(f"{key} must be a non-empty list (or an object of columns)")
    if all(isinstance(item, dict) for item in items):
        return _from_records(items, input_spec)
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, list) or len(item) != len(input_spec.names):
            raise _bad(f"{key}[{i}] must be a list of {len(input_spec.names)} values in signature order, or an object")
        rows.append(item)
    return rows


def parse_payload(payload: Any, input_spec: InputSpec) -> list[list[Any]]:
    """Rows in schema column order from any of MLflow's scoring formats."""
    if not isinstance(payload, dict):
        raise _bad("the body must be a JSON object with one of: " + ", ".join(FORMATS))
    present = [key for key in FORMATS if key in payload]
    unknown = [key for key in payload if key not in FORMATS and key != "params"]
    if len(present) != 1:
        raise _bad("the body must have exactly one of: " + ", ".join(FORMATS))
    if unknown:
        raise _bad("unknown top-level field(s): " + ", ".join(shown(_name(k)) for k in unknown[:5]))
    key = present[0]
    data = payload[key]
    if key == "dataframe_split":
        return _from_split(data, input_spec)
    if key == "dataframe_records":
        if not isinstance(data, list):
            raise _bad("dataframe_records must be a list of objects")
        return _from_records(data, input_spec)
    return _from_instances(data, input_spec, key)
