"""Fast paths for the service: fitted estimators compiled to plain NumPy.

scikit-learn validates its input on every call (~100 us per step on one row, far more than the
arithmetic). For a linear model the arithmetic is a matrix product; these functions return it as a
closure, or None for an estimator of another kind. The service checks the result against the
estimator's own output before it uses it. An estimator opts in through `fast_path` in its entry of
pipelines/yours/estimators.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Output = Callable[[np.ndarray], np.ndarray]


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
