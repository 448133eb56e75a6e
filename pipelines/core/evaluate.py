"""Evaluation: metrics, curves and feature importance of a fitted model on the holdout set.

What is measured follows the contract's task (pipelines.core.tasks): ranking and threshold metrics
for binary labels, macro-averaged ones for several labels, errors for numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.intervals import intervals, resamples_used
from pipelines.core.metrics import model_output, score
from pipelines.core.params import EvaluateParams, IntervalParams
from pipelines.core.plots import Holdout, frames


@dataclass(frozen=True)
class Evaluation:
    """Everything `evaluate` produces, as data; pipelines.jobs.stages.evaluate writes it to files."""

    task: str
    metrics: dict[str, float]
    plots: dict[str, pd.DataFrame]  # one frame per plot of the task (pipelines.core.plots)
    intervals: dict[str, dict[str, float]] = field(default_factory=dict)  # per metric {"low", "high"}
    rows: int = 0  # holdout rows scored
    benefit: dict[str, Any] = field(default_factory=dict)  # pipelines.core.benefit.benefit's document

    def intervals_document(self, settings: IntervalParams) -> dict[str, Any]:
        """reports/intervals.json: the method, the resamples drawn, the level, the holdout rows, and per metric its
        value, low and high."""
        return {
            "method": settings.method,
            "resamples": resamples_used(settings, self.rows),
            "rows": self.rows,
            "level": settings.level,
            "seed": settings.seed,
            "metrics": {m: {"value": self.metrics[m], **self.intervals.get(m, {})} for m in self.metrics},
        }

    @property
    def importance(self) -> pd.DataFrame:
        """feature, importance, std: the drop in the task's primary metric when a feature is shuffled."""
        return self.plots["importance"]


def recorded_positions(y: np.ndarray, rows: int, task: str) -> np.ndarray:
    """Which holdout rows to record (positions, ascending): all of them when there are at most `rows`; else `rows`
    of them, stratified by class for a label, evenly spaced within each class. Each class gets an equal share,
    a class with fewer rows all of its rows and the rest going to the others (so a 2 % minority keeps every
    row, and a paired difference on the recorded rows sees it). Deterministic: the holdout split is."""
    n = len(y)
    if n <= rows:
        return np.arange(n)
    strata = (
        np.zeros(n, dtype=int) if task == "regression" else np.unique(np.asarray(y).astype(str), return_inverse=True)[1]
    )
    sizes = np.bincount(strata)
    taken = np.zeros(len(sizes), dtype=int)
    left: int = rows
    while left > 0 and (taken < sizes).any():  # water-filling: equal shares, capped at each class's size
        open_ = np.flatnonzero(taken < sizes)
        share = max(1, left // len(open_))
        for c in open_:
            add = min(share, int(sizes[c] - taken[c]), left)
            taken[c] += add
            left -= add
    picked = []
    for stratum, k in enumerate(taken):
        where = np.flatnonzero(strata == stratum)
        picked.append(where[np.unique(np.linspace(0, len(where) - 1, k).round().astype(int))] if k else where[:0])
    return np.sort(np.concatenate(picked))


def recorded_weights(y_holdout: np.ndarray, positions: np.ndarray, task: str) -> np.ndarray:
    """Per recorded row, how many holdout rows it stands for (the holdout's rows of its class over the recorded
    rows of its class): weighted by these, a metric on the recorded rows estimates the whole holdout's (the
    Horvitz-Thompson estimator for a stratified sample; Cochran 1977, Sampling Techniques, ch. 5)."""
    strata = np.zeros(len(y_holdout), dtype=int) if task == "regression" else np.unique(
        np.asarray(y_holdout).astype(str), return_inverse=True)[1]  # fmt: skip
    holdout, recorded = np.bincount(strata), np.bincount(strata[positions], minlength=strata.max() + 1)
    return (holdout / np.maximum(recorded, 1))[strata[positions]].astype(float)


def recorded_predictions(model: Any, test: pd.DataFrame, rows: int, contract: Contract) -> pd.DataFrame:
    """The model's outputs on the holdout rows `recorded_positions` picks (all when there are at most `rows`).

    How a model is recognised by its numbers rather than its bytes (pipelines.core.reproduce), and what a pull
    request's paired comparison runs on: one row per recorded holdout row, `row` (its position in `test`)
    then one column per class with its probability, or `prediction` for regression.
    """
    positions = recorded_positions(test[contract.target].to_numpy(), rows, contract.task)
    output = model_output(model, test[contract.features].iloc[positions], contract.task).reshape(len(positions), -1)
    columns = ["prediction"] if contract.task == "regression" else [str(c) for c in model.classes_]
    frame = pd.DataFrame(output, columns=columns)
    frame.insert(0, "row", positions)
    return frame


def evaluate(model: Any, test: pd.DataFrame, params: EvaluateParams, contract: Contract) -> Evaluation:
    """Score `model` on `test` (features and target) with the settings in `params`: the task's metrics, their
    intervals, the plots' data, and each input's benefit (pipelines.core.benefit; its permutation importance is
    the importance plot), on at most `params.permutation_max_samples` holdout rows (a seeded sample)."""
    from pipelines.core.benefit import benefit, importance_frame

    task, features = contract.task, contract.features
    x, y = test[features], test[contract.target].to_numpy()
    output = model_output(model, x, task)
    classes = None if task == "regression" else np.asarray(model.classes_)
    scores = score(y, output, task=task, classes=classes, threshold=params.threshold)
    bootstrap = intervals(task, y, output, classes, params.threshold, params.intervals)
    plots = frames(task, Holdout(task, y, output, classes, params))
    rows = np.arange(len(x))
    if len(x) > params.permutation_max_samples:
        rows = np.sort(np.random.default_rng(params.seed).choice(len(x), params.permutation_max_samples, replace=False))
    doc = benefit(
        lambda frame: model_output(model, frame, task), x.iloc[rows], y[rows], task, classes, params.threshold,
        params.permutation_repeats, params.seed, params.intervals, params.benefit_margin,
    )  # fmt: skip
    plots["importance"] = importance_frame(doc)
    return Evaluation(task=task, metrics=scores, plots=plots, intervals=bootstrap, rows=len(y), benefit=doc)
