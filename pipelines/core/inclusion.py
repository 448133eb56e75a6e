"""Inclusion: does the model treat groups of people alike? "The model is tested for considerations of
inclusion" (Breck et al. 2017, The ML Test Score, model test 7). Pure: frames and model outputs in, a document
out (reports/inclusion.json).

`evaluate.sensitive` names raw columns (as `evaluate.slices` does: a value per group, or bins of a number at
`edges`, missing values a group of their own). Per column, the groups' rates and the gaps between them, the
largest minus the smallest over the judged groups (fairlearn's `method="between_groups"`):

- a label: `demographic_parity_difference`, the gap in selection rate P(predicted = c | group), and
  `equalized_odds_difference`, the larger of the gaps in true positive rate P(predicted = c | y = c, group) and
  false positive rate P(predicted = c | y != c, group) (Hardt, Price & Srebro 2016, "Equality of Opportunity in
  Supervised Learning"). Binary: c is the positive class. Multiclass: each class one-vs-rest, the largest gap
  over the classes.
- a number: `mae_difference`, the gap in mean absolute error.

The point values are fairlearn's (fairlearn.metrics; MetricFrame for the per-group table). Their
percentile-bootstrap intervals use the same definitions count-weighted, for all resamples at once (fairlearn
computes one resample per call, about 60 ms each: a minute per column at 1,000 resamples), on resamples drawn
within each group and label, so every judged group keeps its size and classes; `gaps` checks that both agree.
A group is judged as a slice is (pipelines.core.slices.why_not_judged): enough rows, every class present.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.intervals import bootstrap_counts, percentile_bounds
from pipelines.core.metrics import predicted_labels
from pipelines.core.params import IntervalParams
from pipelines.core.slices import Slice, why_not_judged


def _positives(task: str, classes: Any) -> list[Any]:
    """The classes judged one-vs-rest: the positive (larger) one for binary, each for multiclass."""
    return [classes[1]] if task == "binary" else list(classes)


def _fairlearn_gaps(
    task: str, y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, classes: Any
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """fairlearn's gaps, and for multiclass each class's (one-vs-rest; the gaps are the largest of them)."""
    from fairlearn.metrics import MetricFrame, demographic_parity_difference, equalized_odds_difference
    from sklearn.metrics import mean_absolute_error

    if task == "regression":
        frame = MetricFrame(metrics=mean_absolute_error, y_true=y, y_pred=predicted, sensitive_features=groups)
        return {"mae_difference": float(frame.difference())}, {}
    per_class = {}
    for c in _positives(task, classes):
        truth, said = (y == c).astype(int), (predicted == c).astype(int)
        per_class[str(c)] = {
            "demographic_parity_difference": float(
                demographic_parity_difference(truth, said, sensitive_features=groups)
            ),
            "equalized_odds_difference": float(equalized_odds_difference(truth, said, sensitive_features=groups)),
        }
    overall = {k: max(v[k] for v in per_class.values()) for k in next(iter(per_class.values()))}
    return overall, per_class if task == "multiclass" else {}


def _rates(task: str, y: np.ndarray, predicted: np.ndarray, groups: np.ndarray, classes: Any) -> pd.DataFrame:
    """Per group (rows, in sorted order) fairlearn's MetricFrame of the rates the gaps compare (binary: the
    positive class's; multiclass: per class, columns `<rate> <class>`; regression: mean_absolute_error)."""
    from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
    from sklearn.metrics import mean_absolute_error

    if task == "regression":
        return MetricFrame(metrics={"mean_absolute_error": mean_absolute_error}, y_true=y, y_pred=predicted,
                           sensitive_features=groups).by_group  # fmt: skip
    parts = []
    for c in _positives(task, classes):
        named = {"selection_rate": selection_rate, "true_positive_rate": true_positive_rate,
                 "false_positive_rate": false_positive_rate}  # fmt: skip
        frame = MetricFrame(metrics=named, y_true=(y == c).astype(int), y_pred=(predicted == c).astype(int),
                            sensitive_features=groups).by_group  # fmt: skip
        parts.append(frame if task == "binary" else frame.add_suffix(f" {c}"))
    return pd.concat(parts, axis=1)


def _weighted_gaps(task: str, y: np.ndarray, predicted: np.ndarray, masks: Sequence[np.ndarray], classes: Any,
                   w: np.ndarray) -> dict[str, np.ndarray]:  # fmt: skip
    """The gaps for each row of weights `w` (B x n): per group a weighted rate, then the largest minus the
    smallest over the groups `masks` (n booleans each)."""

    def rate(hit: np.ndarray, among: np.ndarray) -> np.ndarray:  # B x groups: weighted share of `hit` in `among`
        return np.stack([(w[:, m & among] @ hit[m & among]) / w[:, m & among].sum(axis=1) for m in masks], axis=1)

    def spread(values: np.ndarray) -> np.ndarray:
        return values.max(axis=1) - values.min(axis=1)

    everyone = np.ones(len(y), dtype=bool)
    if task == "regression":
        return {"mae_difference": spread(rate(np.abs(y - predicted).astype(float), everyone))}
    parity, odds = [], []
    for c in _positives(task, classes):
        truth, said = y == c, (predicted == c).astype(float)
        parity.append(spread(rate(said, everyone)))
        odds.append(np.maximum(spread(rate(said, truth)), spread(rate(said, ~truth))))
    return {"demographic_parity_difference": np.max(parity, axis=0), "equalized_odds_difference": np.max(odds, axis=0)}


def gaps(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    classes: Any,
    found: Sequence[Slice],
    threshold: float,
    settings: IntervalParams,
    min_rows: int,
) -> dict[str, Any]:
    """One sensitive column's groups `found` (its slices): per group rows, judged (else why not) and rates; per
    gap of the task (pipelines.core.tasks group_gaps) over the judged groups {"value", "low", "high"}, or a
    "reason" when fewer than two are judged; for multiclass, "per_class": each class's gaps one-vs-rest. y: n
    true values; output: as model_output. RuntimeError if the bootstrap's definition disagrees with fairlearn's
    at unit weights (a bug, not bad data)."""
    y = np.asarray(y) if task == "regression" else np.asarray([str(v) for v in y])
    classes = None if classes is None else np.asarray([str(c) for c in classes])
    predicted = output if task == "regression" else predicted_labels(output, classes, task, threshold)
    reasons = [why_not_judged(y, g.mask, min_rows, classes) for g in found]
    judged = [g for g, r in zip(found, reasons, strict=True) if r is None]
    names = np.full(len(y), "", dtype=object)
    for g in found:
        names[g.mask] = g.name
    rows = np.any([g.mask for g in judged], axis=0) if judged else np.zeros(len(y), dtype=bool)
    with warnings.catch_warnings():  # a group nobody is predicted positive in: a rate of 0, as defined
        warnings.simplefilter("ignore")
        table = _rates(task, y, predicted, names, classes) if len(found) else pd.DataFrame()
        groups = [{"group": g.name, "rows": int(g.mask.sum()), "judged": r is None, "reason": r,
                   "rates": {k: round(float(v), 6) for k, v in table.loc[g.name].items()}}
                  for g, r in zip(found, reasons, strict=True)]  # fmt: skip
        if len(judged) < 2:
            return {"groups": groups, "gaps": {}, "reason": f"{len(judged)} group(s) judged: no gap to measure"}
        point, per_class = _fairlearn_gaps(task, y[rows], predicted[rows], names[rows], classes)
    masks = [g.mask[rows] for g in judged]
    own = _weighted_gaps(task, y[rows], predicted[rows], masks, classes, np.ones((1, int(rows.sum()))))
    if any(abs(float(own[k][0]) - point[k]) > 1e-9 for k in point):
        raise RuntimeError(f"inclusion gaps disagree with fairlearn's: {own} vs {point}")
    strata = names[rows].astype(str)
    if task != "regression":  # within each group and label: every judged group keeps its size and classes
        strata = np.char.add(np.char.add(strata, "|"), y[rows].astype(str))
    counts = bootstrap_counts(strata, settings.resamples, np.random.default_rng(settings.seed))
    drawn = _weighted_gaps(task, y[rows], predicted[rows], masks, classes, counts)
    out = {}
    for name, value in point.items():
        low, high = percentile_bounds(drawn[name], settings.level)
        out[name] = {"value": round(value, 6), "low": round(low, 6), "high": round(high, 6)}
    shown = {c: {k: round(v, 6) for k, v in found.items()} for c, found in per_class.items()}
    return {"groups": groups, "gaps": out, "reason": None, **({"per_class": shown} if shown else {})}


def document(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    classes: Any,
    by_column: dict[str, list[Slice]],
    threshold: float,
    settings: IntervalParams,
    min_rows: int,
) -> dict[str, Any]:
    """reports/inclusion.json: the level, min_rows, and per sensitive column (`by_column`: its groups) `gaps`."""
    columns = [{"column": column, **gaps(task, y, output, classes, found, threshold, settings, min_rows)}
               for column, found in by_column.items()]  # fmt: skip
    return {"level": settings.level, "min_rows": min_rows, "columns": columns}
