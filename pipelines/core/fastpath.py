"""The service's fast path: a fitted pipeline compiled to plain NumPy (the one place for it).

scikit-learn validates its input on every call (~100 us per step on one row, far more than the
arithmetic). `CompiledPipeline` feeds a NumPy matrix through the fitted ColumnTransformer's parts by
column position (SimpleImputer and StandardScaler as NumPy expressions) and the estimator's fast path.
For a linear model the arithmetic is a matrix product: `linear_classifier` and `linear_regressor`
return it as a closure, or None for an estimator of another kind; an estimator opts in through
`fast_path` in its entry of pipelines/yours/estimators.py. The service checks the result against the
pipeline's own output before it uses it (deploy.scoring.build_bundle).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Output = Callable[[np.ndarray], np.ndarray]
Compiler = Callable[[Any], Output | None]  # an estimator fast path: its Output, or None for another kind


def linear_classifier(estimator: Any) -> Output | None:
    """Class probabilities of a fitted LogisticRegression: rows x classes, in `classes_` order.

    Binary: the logistic function of x.w + b; several classes: the softmax of x.W + b.
    """
    from sklearn.linear_model import LogisticRegression

    if not isinstance(estimator, LogisticRegression):
        return None
    coef, intercept = estimator.coef_.T, estimator.intercept_
    if len(estimator.classes_) == 2:

        def binary(x: np.ndarray) -> np.ndarray:
            p = 1.0 / (1.0 + np.exp(-(x @ coef + intercept)[:, 0]))
            return np.column_stack([1.0 - p, p])

        return binary

    def softmax(x: np.ndarray) -> np.ndarray:
        z = x @ coef + intercept
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    return softmax


def linear_regressor(estimator: Any) -> Output | None:
    """Predicted values (one per row) of a fitted single-output linear regressor (Ridge): x.w + b."""
    from sklearn.linear_model import Ridge

    if not isinstance(estimator, Ridge) or np.ndim(estimator.coef_) != 1:
        return None
    weights, bias = estimator.coef_, estimator.intercept_
    return lambda x: np.asarray(x @ weights + bias)


def compile_transformer(step: Any) -> Output:
    """A fitted transformer as plain NumPy when it is one we know, else its own `transform`.

    scikit-learn's per-call input validation costs ~100 us per step on a single row, far more
    than the arithmetic; the compiled forms skip it. The service checks the result (deploy.scoring.build_bundle).
    """
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if isinstance(step, Pipeline):
        parts = [compile_transformer(s) for _, s in step.steps if s not in (None, "passthrough")]

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


def compile_estimator(estimator: Any, fast_paths: Sequence[Compiler]) -> Output:
    """The estimator's output (class probabilities, or predictions for a regressor) as NumPy: the first of
    `fast_paths` (the project's estimator list, pipelines/yours/estimators.py) that knows it, else its own method."""
    from sklearn.base import is_regressor

    for fast_path in fast_paths:
        compiled = fast_path(estimator)
        if compiled is not None:
            return compiled
    return estimator.predict if is_regressor(estimator) else estimator.predict_proba


class CompiledPipeline:
    """A fitted Pipeline(preprocess=ColumnTransformer, estimator) as NumPy: its output on a matrix whose columns are
    `names` (`numeric` says which hold numbers), through the transformer's parts by position and the estimator's
    first matching `fast_paths` entry."""

    def __init__(
        self,
        pipeline: Any,
        names: Sequence[str],
        numeric: Sequence[bool] | None,
        fast_paths: Sequence[Compiler],
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
            self.parts.append((compile_transformer(fitted), positions, as_float))
        self.identity = len(self.parts) == 1 and list(self.parts[0][1]) == list(range(len(names))) and all(kinds)
        self.estimator = compile_estimator(estimator, fast_paths)

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
