"""Turning a request into model input, and model input into probabilities, fast and safely.

- `InputSpec`: the model's input contract, derived from the contract's input schema (names,
  numeric or not, nullable, bounds), checked in plain Python/NumPy so one row costs microseconds.
- `parse_payload`: MLflow's four scoring formats to rows in schema order; errors name the field.
- `Bundle`: a verified model with a fast path that feeds NumPy arrays through the fitted
  transformers (no DataFrame), checked at load time to give exactly the slow path's answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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

    @classmethod
    def from_schema(cls, schema: Any) -> InputSpec:
        """Read names, kinds, nullability, ge/le (or gt/lt) bounds and `isin` categories from a pandera
        DataFrameSchema (pipelines.core.contract.Contract.inputs)."""
        import pandas as pd

        names, numeric, nullable, low, high, allowed = [], [], [], [], [], []
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
        return cls(tuple(names), tuple(numeric), tuple(nullable), np.array(low), np.array(high), tuple(allowed))

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
        return json.loads(
            body,
            parse_constant=lambda token: None if token == "NaN" else float(token),
            parse_int=_integer,
        )
    except RecursionError:
        raise _bad("the body is nested too deeply") from None
    except ValueError:
        raise _bad("the body is not valid JSON") from None


def _integer(text: str) -> int | float:
    """A JSON integer: as an int while a float can hold it, else a float (infinite beyond 1.8e308: refused
    later as not finite, never an OverflowError)."""
    return int(text) if len(text.lstrip("-")) < 300 else float(text)


def _check_columns(given: Sequence[Any], spec: InputSpec) -> dict[str, int]:
    if not all(isinstance(c, str) for c in given):
        raise _bad("column names must be strings")
    positions = {name: i for i, name in enumerate(given)}
    if len(positions) != len(given):
        raise _bad("column names must be unique")
    missing = [n for n in spec.names if n not in positions]
    unknown = [n for n in given if n not in spec.names]
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


def _from_records(records: Sequence[Any], spec: InputSpec) -> list[list[Any]]:
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise _bad(f"row {i} must be an object of column: value")
        if len(record) != len(spec.names) or any(name not in record for name in spec.names):
            try:
                _check_columns(list(record), spec)
            except RequestError as error:
                raise _bad(f"row {i}: {error.message}") from None
        rows.append([record[name] for name in spec.names])
    return rows


def _from_split(split: Any, spec: InputSpec) -> list[list[Any]]:
    if (
        not isinstance(split, dict)
        or not isinstance(split.get("columns"), list)
        or not isinstance(split.get("data"), list)
    ):
        raise _bad("dataframe_split needs `columns` (a list of names) and `data` (a list of rows)")
    positions = _check_columns(split["columns"], spec)
    order = [positions[name] for name in spec.names]
    width = len(split["columns"])
    rows = []
    for i, row in enumerate(split["data"]):
        if not isinstance(row, list) or len(row) != width:
            raise _bad(f"row {i} must be a list of {width} values")
        rows.append([row[k] for k in order])
    return rows


def _from_columns(columns: dict[str, Any], spec: InputSpec) -> list[list[Any]]:
    _check_columns(list(columns), spec)
    lists = [columns[name] for name in spec.names]
    if not all(isinstance(values, list) for values in lists):
        raise _bad("each column must be a list of values")
    if len({len(values) for values in lists}) != 1:
        raise _bad("all columns must have the same number of values")
    return [list(row) for row in zip(*lists, strict=True)]


def _from_instances(items: Any, spec: InputSpec, key: str) -> list[list[Any]]:
    if isinstance(items, dict):
        return _from_columns(items, spec)
    if not isinstance(items, list) or not items:
        raise _bad(f"{key} must be a non-empty list (or an object of columns)")
    if all(isinstance(item, dict) for item in items):
        return _from_records(items, spec)
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, list) or len(item) != len(spec.names):
            raise _bad(f"{key}[{i}] must be a list of {len(spec.names)} values in signature order, or an object")
        rows.append(item)
    return rows


def parse_payload(payload: Any, spec: InputSpec) -> list[list[Any]]:
    """Rows in schema column order from any of MLflow's scoring formats."""
    if not isinstance(payload, dict):
        raise _bad("the body must be a JSON object with one of: " + ", ".join(FORMATS))
    present = [key for key in FORMATS if key in payload]
    unknown = [key for key in payload if key not in FORMATS and key != "params"]
    if len(present) != 1:
        raise _bad("the body must have exactly one of: " + ", ".join(FORMATS))
    if unknown:
        raise _bad("unknown top-level field(s): " + ", ".join(_name(k) for k in unknown[:5]))
    key = present[0]
    data = payload[key]
    if key == "dataframe_split":
        return _from_split(data, spec)
    if key == "dataframe_records":
        if not isinstance(data, list):
            raise _bad("dataframe_records must be a list of objects")
        return _from_records(data, spec)
    return _from_instances(data, spec, key)


def _compile_transformer(step: Any) -> Callable[[np.ndarray], np.ndarray]:
    """A fitted transformer as plain NumPy when it is one we know, else its own `transform`.

    scikit-learn's per-call input validation costs ~100 us per step on a single row, far more
    than the arithmetic; the compiled forms skip it. `build_bundle` checks the result.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if isinstance(step, Pipeline):
        parts = [_compile_transformer(s) for _, s in step.steps if s not in (None, "passthrough")]

        def chain(x: np.ndarray) -> np.ndarray:
            for part in parts:
                x = part(x)
            return x

        return chain
    if isinstance(step, SimpleImputer) and not step.add_indicator and step.statistics_.dtype.kind == "f":
        fill = step.statistics_
        if isinstance(step.missing_values, float) and math.isnan(step.missing_values) and not np.isnan(fill).any():
            return lambda x: np.where(np.isnan(x), fill, x)
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else 0.0
        scale = step.scale_ if step.with_std else 1.0
        return lambda x: (x - mean) / scale
    return step.transform


def _compile_estimator(estimator: Any) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator's output (class probabilities, or predictions for a regressor) as NumPy: the first
    registered fast path that knows it (pipelines/yours/estimators.py), else its own method."""
    from sklearn.base import is_regressor

    from pipelines.adapters.params import estimators

    for entry in estimators().values():
        compiled = entry.fast_path(estimator) if entry.fast_path is not None else None
        if compiled is not None:
            return compiled
    return estimator.predict if is_regressor(estimator) else estimator.predict_proba


class _FastPath:
    """The model's output on a NumPy matrix through the fitted ColumnTransformer's parts, by position."""

    def __init__(self, pipeline: Any, names: Sequence[str], numeric: Sequence[bool] | None = None):
        preprocess, estimator = pipeline.steps[0][1], pipeline.steps[-1][1]
        index = {name: i for i, name in enumerate(names)}
        kinds = list(numeric) if numeric is not None else [True] * len(names)
        self.parts = []
        for name, fitted, columns in preprocess.transformers_:
            if name == "remainder" or fitted == "drop" or not len(columns):
                continue
            positions = np.array([index[c] for c in columns])
            # a numeric part of a mixed (object) matrix is cast to float64, as the DataFrame path's dtypes are
            as_float = all(kinds[k] for k in positions)
            self.parts.append((_compile_transformer(fitted), positions, as_float))
        self.identity = len(self.parts) == 1 and list(self.parts[0][1]) == list(range(len(names))) and all(kinds)
        self.estimator = _compile_estimator(estimator)

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        if self.identity:  # one transformer over every column in order: no gather, no stack
            features = self.parts[0][0](matrix)
        else:
            parts = [
                transform(matrix[:, cols].astype(np.float64) if as_float else matrix[:, cols])
                for transform, cols, as_float in self.parts
            ]
            features = parts[0] if len(parts) == 1 else np.hstack(parts)
        return np.asarray(self.estimator(np.asarray(features, dtype=np.float64)))


@dataclass
class Bundle:
    """A loaded, verified model and what /version reports about it."""

    model: Any
    classes: np.ndarray | None  # None for a regressor
    release: dict[str, str]
    spec: InputSpec
    fast: _FastPath | None = None

    def output(self, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities (rows x classes) for a classifier, predicted values for a regressor."""
        if self.fast is not None:
            return self.fast(matrix)
        return self.slow_output(matrix)

    def slow_output(self, matrix: np.ndarray) -> np.ndarray:
        """The reference path: the whole pipeline on a DataFrame, as MLflow's pyfunc would run it."""
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=list(self.spec.names))
        if self.classes is None:
            return np.asarray(self.model.predict(frame), dtype=np.float64)
        return np.asarray(self.model.predict_proba(frame))


def build_bundle(model: Any, spec: InputSpec, release: Mapping[str, str], probe: list[list[Any]]) -> Bundle:
    """Wrap a fitted pipeline; enable the fast path only if it matches the DataFrame path on `probe`."""
    classes = getattr(model, "classes_", None)
    bundle = Bundle(
        model=model, classes=None if classes is None else np.asarray(classes), release=dict(release), spec=spec
    )
    try:
        fast = _FastPath(model, spec.names, spec.numeric)
        matrix = spec.to_matrix([list(row) for row in probe])
        if np.allclose(fast(matrix), bundle.slow_output(matrix), rtol=0, atol=1e-9, equal_nan=True):
            bundle.fast = fast
    except Exception:  # a probe that fails disables the fast path, never the model
        pass  # a pipeline of another shape, or a probe the fast path cannot take: the DataFrame path works
    return bundle


def load_bundle(model_dir: Path, manifest: Mapping[str, Any], release: Mapping[str, str], spec: InputSpec) -> Bundle:
    """Verify the model directory against its manifest, load it through the allow-list, wrap it."""
    from pipelines.adapters import modelio

    modelio.verify(model_dir, dict(manifest))
    model = modelio.load(model_dir)
    example = loads((model_dir / "input_example.json").read_bytes())
    columns, data = example["columns"], example["data"]
    if sorted(columns) != sorted(spec.names):
        missing, extra = sorted(set(spec.names) - set(columns)), sorted(set(columns) - set(spec.names))
        raise ValueError(
            "the model was trained on other input columns than the contract's"
            + (f"; it lacks {', '.join(map(shown, missing[:5]))}" if missing else "")
            + (f"; it also takes {', '.join(map(shown, extra[:5]))}" if extra else "")
        )
    probe = [[row[columns.index(name)] for name in spec.names] for row in data]
    return build_bundle(model, spec, release, probe)
