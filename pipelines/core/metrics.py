"""The metrics: ONE table, the only place a metric is defined.

Each entry (`MetricSpec`) names a metric, the tasks it is reported for, its direction, whether it is
measured in the target's units, and ONE count-weighted function. That function scores a matrix of row
weights at once (B x n, one row per weighting), so the same definition gives:

- the point estimate (one row of unit weights: `score`, what metrics.json holds);
- the bootstrap's resamples (multinomial counts: pipelines.core.intervals);
- a stratified sample's estimate of the whole holdout (row weights: pipelines.core.evaluate.recorded_weights).

At unit weights every function equals scikit-learn's metric of the same name (scikit-learn is the
oracle in tests/unit/test_metrics.py, including the edge cases: a class absent, constant targets).

Adding a metric: one `MetricSpec` in METRICS below (tasks report their metrics in table order); gating
it: a rule under `gate:` in params.yaml.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

EPSILON = np.finfo(np.float64).eps  # probabilities are clipped to [eps, 1 - eps] for log loss, as sklearn does


@dataclass(frozen=True)
class Scored:
    """n holdout rows in the form every metric reads (built once per model by `scored`).

    `y`: the n true values; `output`: pipelines.core.metrics.model_output's (n predictions, or n x k class
    probabilities in `classes` order). For labels: `truth` and `predicted` are class positions (0..k-1), the
    prediction being the threshold on the positive class for binary and the argmax otherwise."""

    task: str
    y: np.ndarray
    output: np.ndarray
    truth: np.ndarray
    predicted: np.ndarray


Weighted = Callable[[Scored, np.ndarray], np.ndarray]
"""(rows, w: B x n row weights) -> B metric values."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric: `name` (as in metrics.json and gate rules), the `tasks` that report it, `lower_is_better`,
    `target_units` (an error in the target's own units, so `init` scales its tolerance), `label` as people read
    it, and `weighted`, its count-weighted definition."""

    name: str
    tasks: frozenset[str]
    lower_is_better: bool
    target_units: bool
    label: str
    weighted: Weighted


def model_output(model: Any, x: Any, task: str) -> np.ndarray:
    """Class probabilities (rows x classes, in `model.classes_` order) or, for regression, predictions."""
    return np.asarray(model.predict(x) if task == "regression" else model.predict_proba(x))


def predicted_labels(output: np.ndarray, classes: np.ndarray, task: str, threshold: float) -> np.ndarray:
    """Labels from probabilities: the threshold on the positive (larger) label for binary, else the argmax."""
    if task == "binary":
        return np.where(output[:, 1] >= threshold, classes[1], classes[0])
    return classes[output.argmax(axis=1)]


def scored(task: str, y: Any, output: Any, classes: Any = None, threshold: float = 0.5) -> Scored:
    """The rows `weighted` functions read; ValueError naming a true label that is not one of `classes`."""
    y, output = np.asarray(y), np.asarray(output)
    if task == "regression":
        return Scored(task, y.astype(float), output.astype(float), y[:0].astype(int), y[:0].astype(int))
    labels = np.asarray(classes).tolist()
    index = {label: k for k, label in enumerate(labels)}
    unknown = sorted({str(v) for v in y.tolist() if v not in index})
    if unknown:
        raise ValueError(f"true label(s) {', '.join(unknown[:5])} are not among the model's classes {labels}")
    truth = np.array([index[v] for v in y.tolist()], dtype=int)
    proba = output.astype(float)
    predicted = (proba[:, 1] >= threshold).astype(int) if task == "binary" else proba.argmax(axis=1)
    return Scored(task, y, proba, truth, predicted)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def _confusion(r: Scored, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted true positives, false positives and false negatives of class position `k` (B each)."""
    is_k, said_k = (r.truth == k).astype(float), (r.predicted == k).astype(float)
    return w @ (is_k * said_k), w @ ((1 - is_k) * said_k), w @ (is_k * (1 - said_k))


def _auc(positive: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC per row of weights `w` (B x n): P(score of a positive > a negative's), ties half."""
    pos, neg = _tied_runs(positive, score, w, descending=False)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg))


def _tied_runs(positive: np.ndarray, score: np.ndarray, w: np.ndarray, descending: bool) -> tuple[Any, Any]:
    """Per run of tied scores, in score order: the positive and the negative weight (B x runs each)."""
    order = np.argsort(-score if descending else score, kind="mergesort")
    ordered_score = score[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered_score[1:] != ordered_score[:-1]]))
    ordered = w[:, order]
    pos = ordered * positive[order]
    neg = ordered - pos
    if len(starts) == len(score):  # no ties (the usual case for probabilities): every run is one row
        return pos, neg
    return np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)


def roc_auc(r: Scored, w: np.ndarray) -> np.ndarray:
    """Area under the ROC curve of the positive class (Hanley & McNeil 1982); NaN with one class only."""
    return _auc((r.truth == 1).astype(float), r.output[:, 1], w)


def average_precision(r: Scored, w: np.ndarray) -> np.ndarray:
    """Step sum of precision over recall increments (scikit-learn's definition, not the trapezoid); 0 with no
    positives."""
    pos, neg = _tied_runs((r.truth == 1).astype(float), r.output[:, 1], w, descending=True)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
    return _ratio((pos * precision).sum(axis=1), pos.sum(axis=1))  # no positives: 0, as scikit-learn


def f1(r: Scored, w: np.ndarray) -> np.ndarray:
    tp, fp, fn = _confusion(r, w, 1)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def precision(r: Scored, w: np.ndarray) -> np.ndarray:
    tp, fp, _ = _confusion(r, w, 1)
    return _ratio(tp, tp + fp)


def recall(r: Scored, w: np.ndarray) -> np.ndarray:
    tp, _, fn = _confusion(r, w, 1)
    return _ratio(tp, tp + fn)


def accuracy(r: Scored, w: np.ndarray) -> np.ndarray:
    return np.asarray((w @ (r.predicted == r.truth).astype(float)) / w.sum(axis=1))


def balanced_accuracy(r: Scored, w: np.ndarray) -> np.ndarray:
    """Mean recall over the classes present (weight > 0), as scikit-learn ignores absent ones."""
    recalls, present = [], []
    for k in range(r.output.shape[1]):
        tp, _, fn = _confusion(r, w, k)
        recalls.append(_ratio(tp, tp + fn))
        present.append((tp + fn) > 0)
    return np.asarray(np.sum(np.array(recalls) * present, axis=0) / np.maximum(np.sum(present, axis=0), 1))


def f1_macro(r: Scored, w: np.ndarray) -> np.ndarray:
    """Unweighted mean of every class's F1 (an absent class counts 0, scikit-learn's zero_division=0)."""
    f1s = []
    for k in range(r.output.shape[1]):
        tp, fp, fn = _confusion(r, w, k)
        f1s.append(_ratio(2 * tp, 2 * tp + fp + fn))
    return np.asarray(np.mean(f1s, axis=0))


def roc_auc_ovr(r: Scored, w: np.ndarray) -> np.ndarray:
    """Mean one-vs-rest ROC AUC over the classes; NaN when a class is absent."""
    return np.asarray(np.mean([_auc((r.truth == k).astype(float), r.output[:, k], w)
                               for k in range(r.output.shape[1])], axis=0))  # fmt: skip


def log_loss(r: Scored, w: np.ndarray) -> np.ndarray:
    """Mean negative log-likelihood of the true label, probabilities clipped to [eps, 1 - eps]."""
    total = w.sum(axis=1)
    if r.task == "binary":
        positive = (r.truth == 1).astype(float)
        clipped = np.clip(r.output[:, 1], EPSILON, 1 - EPSILON)
        loss = -(positive * np.log(clipped) + (1 - positive) * np.log(1 - clipped))
        return np.asarray((w @ loss) / total)
    normalised = np.clip(r.output / r.output.sum(axis=1, keepdims=True), EPSILON, 1 - EPSILON)
    return np.asarray((w @ -np.log(normalised[np.arange(len(r.truth)), r.truth])) / total)


def _squared(r: Scored, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sums of squared errors and of squared deviations from the weighted mean (B each)."""
    mean = (w @ r.y) / w.sum(axis=1)
    return w @ (r.y - r.output) ** 2, (w * (r.y[None, :] - mean[:, None]) ** 2).sum(axis=1)


def r2(r: Scored, w: np.ndarray) -> np.ndarray:
    """Coefficient of determination; a constant target gives 1 for exact predictions, else 0 (scikit-learn's
    force_finite); NaN below two rows."""
    if len(r.y) < 2:
        return np.full(len(w), np.nan)
    sse, sst = _squared(r, w)
    return np.where(sst > 0, 1 - _ratio(sse, sst), np.where(sse > 0, 0.0, 1.0))


def rmse(r: Scored, w: np.ndarray) -> np.ndarray:
    return np.asarray(np.sqrt(_squared(r, w)[0] / w.sum(axis=1)))


def mae(r: Scored, w: np.ndarray) -> np.ndarray:
    return np.asarray((w @ np.abs(r.y - r.output)) / w.sum(axis=1))


_B, _M, _R = frozenset({"binary"}), frozenset({"multiclass"}), frozenset({"regression"})
METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("roc_auc", _B, False, False, "ROC AUC", roc_auc),
    MetricSpec("average_precision", _B, False, False, "average precision", average_precision),
    MetricSpec("f1", _B, False, False, "F1", f1),
    MetricSpec("precision", _B, False, False, "precision", precision),
    MetricSpec("recall", _B, False, False, "recall", recall),
    MetricSpec("accuracy", _B | _M, False, False, "accuracy", accuracy),
    MetricSpec("balanced_accuracy", _M, False, False, "balanced accuracy", balanced_accuracy),
    MetricSpec("f1_macro", _M, False, False, "macro F1", f1_macro),
    MetricSpec("roc_auc_ovr", _M, False, False, "one-vs-rest ROC AUC", roc_auc_ovr),
    MetricSpec("log_loss", _B | _M, True, False, "log loss", log_loss),
    MetricSpec("r2", _R, False, False, "R²", r2),
    MetricSpec("rmse", _R, True, True, "RMSE", rmse),
    MetricSpec("mae", _R, True, True, "MAE", mae),
)
BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
LOWER_IS_BETTER = frozenset(m.name for m in METRICS if m.lower_is_better)
IN_TARGET_UNITS = frozenset(m.name for m in METRICS if m.target_units)


def for_task(task: str) -> tuple[str, ...]:
    """The metrics `task` reports, in table order."""
    return tuple(m.name for m in METRICS if task in m.tasks)


def known(name: str) -> str:
    """`name` when a metric is called that; ValueError naming the metrics there are (params.yaml's gate keys)."""
    if name not in BY_NAME:
        raise ValueError(f"{name!r} is not a metric; one of: {', '.join(NAMES)} (pipelines/core/metrics.py)")
    return name


def weighted(rows: Scored, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of rows.task, in table order, for each row of weights `w` (B x n)."""
    return {name: BY_NAME[name].weighted(rows, w) for name in for_task(rows.task)}


def score(y: Any, output: Any, *, task: str, classes: Any = None, threshold: float = 0.5) -> dict[str, float]:
    """Every metric of `task` from n true values and `model_output` (n predictions or n x k probabilities), at unit
    weights, rounded to 6 decimals; `threshold` is the positive-class probability at or above which a binary row
    is positive. ValueError when a true label is not one of `classes`."""
    rows = scored(task, y, output, classes, threshold)
    return {k: round(float(v[0]), 6) for k, v in weighted(rows, np.ones((1, len(rows.y)))).items()}
