"""Helpers the tests (and benchmarks) share: plain functions and constants, no fixtures (those stay in
conftest.py files)."""

from __future__ import annotations

import numpy as np

from pipelines.core.params import IntervalParams


def bootstrap(resamples: int, level: float, seed: int, max_rows: int = 10**12) -> IntervalParams:
    """evaluate.intervals settings for a test: the percentile bootstrap, no cell cap."""
    return IntervalParams(
        method="percentile", resamples=resamples, level=level, seed=seed, max_cells=10**12, max_rows=max_rows
    )


def synthetic_holdout(
    task: str, n: int, seed: int, ties: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(y, model output, classes) for `n` holdout rows of `task`: a label model that is right more often than
    not (three classes for multiclass, every class present), or predictions with unit-variance noise; with
    `ties`, probabilities rounded to 0.1."""
    rng = np.random.default_rng(seed)
    if task == "regression":
        y = rng.normal(10, 3, n)
        return y, y + rng.normal(0, 2, n), None
    k = 2 if task == "binary" else 3
    classes = np.array(["a", "b", "c"][:k])
    y = classes[rng.integers(0, k, n)]
    y[:k] = classes  # every class present
    logits = rng.normal(size=(n, k)) + 1.5 * (y[:, None] == classes[None, :])
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if ties:
        proba = np.round(proba, 1)
        proba[:, -1] = 1 - proba[:, :-1].sum(axis=1)
        proba = np.clip(proba, 0, 1)
    return y, proba, classes
