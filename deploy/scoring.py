"""Turning model input into probabilities, fast and safely: a verified model with a fast path.

`Bundle`: a verified model with a fast path that feeds NumPy arrays through the fitted transformers (no
DataFrame), checked at load time to give exactly the slow path's answer. The request side (JSON, formats,
the input contract) is deploy/payload.py.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from deploy.payload import InputSpec, loads
from pipelines.core.estimators import FastPath
from pipelines.core.names import shown


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


def _compile_estimator(estimator: Any, fast_paths: Sequence[FastPath]) -> Callable[[np.ndarray], np.ndarray]:
    """The estimator's output (class probabilities, or predictions for a regressor) as NumPy: the first of
    `fast_paths` (the project's registry, pipelines/yours/estimators.py) that knows it, else its own method."""
    from sklearn.base import is_regressor

    for fast_path in fast_paths:
        compiled = fast_path(estimator)
        if compiled is not None:
            return compiled
    return estimator.predict if is_regressor(estimator) else estimator.predict_proba


class _FastPath:
    """The model's output on a NumPy matrix through the fitted ColumnTransformer's parts, by position."""

    def __init__(
        self, pipeline: Any, names: Sequence[str], numeric: Sequence[bool] | None, fast_paths: Sequence[FastPath]
    ):
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
        self.estimator = _compile_estimator(estimator, fast_paths)

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


def build_bundle(
    model: Any, spec: InputSpec, release: Mapping[str, str], probe: list[list[Any]], fast_paths: Sequence[FastPath] = ()
) -> Bundle:
    """Wrap a fitted pipeline; enable the fast path only if it matches the DataFrame path on `probe`
    (`fast_paths`: ModelStore.fast_paths, for the estimator; without them the estimator's own method)."""
    classes = getattr(model, "classes_", None)
    bundle = Bundle(
        model=model, classes=None if classes is None else np.asarray(classes), release=dict(release), spec=spec
    )
    try:
        fast = _FastPath(model, spec.names, spec.numeric, fast_paths)
        matrix = spec.to_matrix([list(row) for row in probe])
        if np.allclose(fast(matrix), bundle.slow_output(matrix), rtol=0, atol=1e-9, equal_nan=True):
            bundle.fast = fast
    except Exception:  # a probe that fails disables the fast path, never the model
        pass  # a pipeline of another shape, or a probe the fast path cannot take: the DataFrame path works
    return bundle


@dataclass(frozen=True)
class ModelStore:
    """What the service needs from the project to load a model, handed in by whoever starts it
    (pipelines.jobs.serve.model_store): `verify(directory, manifest)` raises unless the files match their
    hashes; `load(directory)` returns the fitted pipeline (no pickle); `fast_paths` compile known estimators."""

    verify: Callable[[Path, dict[str, Any]], Any]
    load: Callable[[Path], Any]
    fast_paths: Sequence[FastPath] = ()


def load_bundle(
    model_dir: Path, manifest: Mapping[str, Any], release: Mapping[str, str], spec: InputSpec, store: ModelStore
) -> Bundle:
    """Verify the model directory against its manifest, load it through the store, wrap it; ValueError when the
    model takes other input columns than `spec`."""
    store.verify(model_dir, dict(manifest))
    model = store.load(model_dir)
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
    return build_bundle(model, spec, release, probe, store.fast_paths)
