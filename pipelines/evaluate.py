"""Evaluation: metrics, curves and feature importance of a fitted model on the holdout set."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import METRICS, EvaluateParams
from pipelines.schema import FEATURES, TARGET


@dataclass(frozen=True)
class Evaluation:
    """Everything `evaluate` produces, as data; writing it to files is the CLI's job."""

    metrics: dict[str, float]
    roc: pd.DataFrame  # fpr, tpr, threshold
    precision_recall: pd.DataFrame  # recall, precision, threshold
    calibration: pd.DataFrame  # mean_predicted, fraction_positive
    confusion: pd.DataFrame  # actual, predicted, count
    importance: pd.DataFrame  # feature, importance, std (drop in roc_auc when shuffled)


def _thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep at most `points` evenly spaced rows (first and last included) so plot files stay small."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def score(y: np.ndarray, proba: np.ndarray, threshold: float) -> dict[str, float]:
    """Every metric in config.METRICS from labels and positive-class probabilities."""
    from sklearn import metrics as m

    predicted = (proba >= threshold).astype(int)
    scores = {
        "roc_auc": m.roc_auc_score(y, proba) if len(set(y)) > 1 else float("nan"),
        "average_precision": m.average_precision_score(y, proba),
        "f1": m.f1_score(y, predicted, zero_division=0),
        "precision": m.precision_score(y, predicted, zero_division=0),
        "recall": m.recall_score(y, predicted, zero_division=0),
        "accuracy": m.accuracy_score(y, predicted),
        "log_loss": m.log_loss(y, proba, labels=[0, 1]),
    }
    assert tuple(scores) == METRICS, "score must report exactly config.METRICS"
    return {k: round(float(v), 6) for k, v in scores.items()}


def evaluate(model: Any, test: pd.DataFrame, params: EvaluateParams) -> Evaluation:
    """Score `model` on `test` (features and target) with the settings in `params`."""
    from sklearn import metrics as m
    from sklearn.calibration import calibration_curve
    from sklearn.inspection import permutation_importance

    x, y = test[FEATURES], test[TARGET].to_numpy()
    proba = model.predict_proba(x)[:, 1]
    predicted = (proba >= params.threshold).astype(int)
    scores = score(y, proba, params.threshold)
    fpr, tpr, roc_thresholds = m.roc_curve(y, proba)
    precision, recall, pr_thresholds = m.precision_recall_curve(y, proba)
    fraction, mean_predicted = calibration_curve(y, proba, n_bins=params.calibration_bins)
    labels = [0, 1]
    matrix = m.confusion_matrix(y, predicted, labels=labels)
    importance = permutation_importance(
        model,
        x,
        y,
        scoring="roc_auc",
        n_repeats=params.permutation_repeats,
        max_samples=min(params.permutation_max_samples, len(x)),
        random_state=params.seed,
        n_jobs=1,
    )
    return Evaluation(
        metrics=scores,
        roc=_thin(
            pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(roc_thresholds, 1.0)}),
            params.curve_points,
        ),
        precision_recall=_thin(
            # the last (precision=1, recall=0) point has no threshold
            pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.append(pr_thresholds, 1.0)}),
            params.curve_points,
        ),
        calibration=pd.DataFrame({"mean_predicted": mean_predicted, "fraction_positive": fraction}),
        confusion=pd.DataFrame(
            [
                {"actual": str(a), "predicted": str(p), "count": int(matrix[i, j])}
                for i, a in enumerate(labels)
                for j, p in enumerate(labels)
            ]
        ),
        importance=pd.DataFrame(
            {"feature": FEATURES, "importance": importance.importances_mean, "std": importance.importances_std}
        )
        .sort_values(["importance", "feature"], ascending=[False, True])
        .reset_index(drop=True),
    )
