"""Gate floors that fit the task: a margin below what the first model reaches on the user's data.

The margins (named below) are deliberately generous: they let seed-level noise pass and stop a
clearly worse model. Review them once you know what good enough means for your problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.metrics import IN_TARGET_UNITS, LOWER_IS_BETTER
from pipelines.core.tasks import task_spec
from pipelines.template.infer import _outward

SCORE_MARGIN = 0.05  # floors of scores (AUC, F1, R²...): this much below the first model
SCORE_REGRESSION = 0.03  # the largest allowed worsening of a score against the base branch
LOG_LOSS_FACTOR, LOG_LOSS_MARGIN = 1.25, 0.05  # ceiling of log loss: 25% above the first model, plus 0.05
LOG_LOSS_REGRESSION = 0.05
ERROR_FACTOR = 1.10  # ceiling of an error in the target's units (RMSE, MAE): 10% above the first model
ERROR_REGRESSION = 0.05  # ...and its allowed worsening: 5% of the first model's value
PRODUCTION_SHARE = 1 / 3  # production's tolerance on the task's primary metric: a third of the regression rule
LEAD_SHARE = 0.5  # a floor keeps at least half of the first model's lead over the trivial model
IMBALANCE_SHARE = 0.10  # a binary target whose smaller class is below this share is imbalanced


def rounded(value: float, up: bool, digits: int = 2) -> float:
    """`value` rounded up (or down) at `digits` decimals."""
    factor = 10**digits
    return float((math.ceil if up else math.floor)(round(value * factor, 9)) / factor)


def keep_lead(value: float, limit: float, trivial: float | None, lower_is_better: bool) -> float:
    """`limit` moved towards `value` where it would let the trivial model (score `trivial`) pass: the floor
    (ceiling) keeps LEAD_SHARE of the first model's lead over the trivial model, and `value` itself passes."""
    if trivial is None or not math.isfinite(trivial):
        return limit
    lead = (trivial - value) if lower_is_better else (value - trivial)
    if lead <= 0:  # no better than the trivial model: nothing to keep (init warns)
        return limit
    kept = value + lead * LEAD_SHARE if lower_is_better else value - lead * LEAD_SHARE
    if lower_is_better:
        return min(limit, float(f"{_outward(kept, up=True):.6g}"))
    return max(limit, rounded(kept, up=False, digits=3))


UNGATED_WHEN_WEIGHTED = {
    "log_loss": "balanced class weights make the probabilities, and so log loss, worse than the class priors' "
    "by design (they are not calibrated to the real class shares), so no log-loss ceiling can both pass the "
    "model and fail the trivial one"
}


def gated_metrics(task: str, weighted: bool) -> list[str]:
    """The metrics init gates: the task's, less UNGATED_WHEN_WEIGHTED under class weighting."""
    return [m for m in task_spec(task).gated if not (weighted and m in UNGATED_WHEN_WEIGHTED)]


def without_lead(scores: Mapping[str, float], trivial_scores: Mapping[str, float], metrics: list[str]) -> list[str]:
    """The metrics on which the first model is no better than the trivial model, in `metrics` order."""
    return [m for m in metrics if math.isfinite(trivial_scores.get(m, math.nan)) and (
        scores[m] >= trivial_scores[m] if m in LOWER_IS_BETTER else scores[m] <= trivial_scores[m])]  # fmt: skip


def floors_for(
    scores: Mapping[str, float], task: str, trivial_scores: Mapping[str, float] | None = None, weighted: bool = False
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(floors, max_regression, production max_regression) from the first model's holdout scores.

    Floors sit a margin below what the first model reaches (ceilings above, for errors), so a
    clearly worse model fails while seed-level noise does not; and, given the `trivial_scores` of the
    trivial model (class priors, or the mean), never where that model would pass: each keeps at least
    LEAD_SHARE of the first model's lead over it (on imbalanced data, recall >= 0.0 guards nothing).
    With class weighting (`weighted`), the metrics of UNGATED_WHEN_WEIGHTED get no floor and no regression rule.
    """
    floors: dict[str, float] = {}
    regression: dict[str, float] = {}
    for metric in gated_metrics(task, weighted):
        value = float(scores[metric])
        trivial = None if trivial_scores is None else trivial_scores.get(metric)
        if metric in IN_TARGET_UNITS:
            limit = float(f"{_outward(value * ERROR_FACTOR, up=True):.6g}")
            regression[metric] = float(f"{_outward(max(value * ERROR_REGRESSION, 1e-9), up=True):.3g}")
        elif metric == "log_loss":
            limit = rounded(value * LOG_LOSS_FACTOR + LOG_LOSS_MARGIN, up=True)
            regression[metric] = LOG_LOSS_REGRESSION
        else:
            limit = max(0.0, rounded(value - SCORE_MARGIN, up=False))
            regression[metric] = SCORE_REGRESSION
        floors[metric] = keep_lead(value, limit, trivial, metric in LOWER_IS_BETTER)
    primary = task_spec(task).primary
    production = {primary: float(f"{regression[primary] * PRODUCTION_SHARE:.3g}")}
    return floors, regression, production


def imbalance(y: pd.Series) -> float | None:
    """The smaller class's share of a binary label when it is below IMBALANCE_SHARE, else None."""
    shares = y.value_counts(normalize=True)
    return float(shares.min()) if len(shares) == 2 and shares.min() < IMBALANCE_SHARE else None


class FirstFit(NamedTuple):
    """The first model and the trivial model fit on the training split `make run` will make, and their outputs
    (pipelines.core.metrics.model_output) on its holdout `test` (rows x raw columns)."""

    test: pd.DataFrame
    outputs: tuple[np.ndarray, np.ndarray]  # the first model's, the trivial model's
    classes: tuple[Any, Any]  # each model's classes_ (None for a regressor)


def first_fit(frame: pd.DataFrame, contract: Contract, params: Any) -> FirstFit:
    """Fit the model the default pipeline will fit on this data with these params (the same split,
    preprocessing and estimator as `make run`), and the trivial model (class priors for a classifier, the
    training mean for a regressor: scikit-learn's Dummy estimators), on the same training rows."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    from pipelines.adapters.params import estimators
    from pipelines.core.data import split
    from pipelines.core.metrics import model_output
    from pipelines.core.train import build_pipeline
    from pipelines.yours.features import build_preprocessor

    validated = contract.raw.validate(frame, lazy=True)
    s = params.split
    train, test = split(validated, s.test_size, s.seed, s.stratify, contract.task, contract.target, s.order_by)
    trivial = DummyRegressor() if contract.task == "regression" else DummyClassifier(strategy="prior")
    models = (build_pipeline(contract, params.train, estimators(), build_preprocessor), trivial)
    for model in models:
        model.fit(train[contract.features], train[contract.target])
    outputs = tuple(model_output(m, test[contract.features], contract.task) for m in models)
    classes = (getattr(models[0], "classes_", None), getattr(models[1], "classes_", None))
    return FirstFit(test, (outputs[0], outputs[1]), classes)


def first_scores(frame: pd.DataFrame, contract: Contract, params: Any) -> tuple[dict[str, float], dict[str, float]]:
    """The holdout scores of `first_fit`'s two models: the first model's, and the trivial model's on the same
    rows."""
    return scores_of(first_fit(frame, contract, params), contract, params.evaluate.threshold)


def scores_of(
    fit: FirstFit, contract: Contract, threshold: float, mask: np.ndarray | None = None
) -> tuple[dict[str, float], dict[str, float]]:
    """The task's metrics of `fit`'s two models on its holdout, or on the rows `mask` selects."""
    import warnings

    from pipelines.core.metrics import score

    rows = slice(None) if mask is None else mask
    y = fit.test[contract.target].to_numpy()[rows]
    with warnings.catch_warnings():  # the trivial model predicts one class: precision is 0 by definition
        warnings.simplefilter("ignore")
        found = [score(y, out[rows], task=contract.task, classes=classes, threshold=threshold)
                 for out, classes in zip(fit.outputs, fit.classes, strict=True)]  # fmt: skip
    return found[0], found[1]
