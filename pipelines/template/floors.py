"""Gate floors that fit the task: a margin below what the first model reaches on the user's data.

The margins (named below) are deliberately generous: they let seed-level noise pass and stop a
clearly worse model. Review them once you know what good enough means for your problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from pipelines.core.contract import Contract
from pipelines.core.tasks import IN_TARGET_UNITS, spec
from pipelines.template.infer import _outward

SCORE_MARGIN = 0.05  # floors of scores (AUC, F1, R²...): this much below the first model
SCORE_REGRESSION = 0.03  # the largest allowed worsening of a score against the base branch
LOG_LOSS_FACTOR, LOG_LOSS_MARGIN = 1.25, 0.05  # ceiling of log loss: 25% above the first model, plus 0.05
LOG_LOSS_REGRESSION = 0.05
ERROR_FACTOR = 1.10  # ceiling of an error in the target's units (RMSE, MAE): 10% above the first model
ERROR_REGRESSION = 0.05  # ...and its allowed worsening: 5% of the first model's value
PRODUCTION_SHARE = 1 / 3  # production's tolerance on the task's primary metric: a third of the regression rule


def _round(value: float, up: bool, digits: int = 2) -> float:
    factor = 10**digits
    return float((math.ceil if up else math.floor)(round(value * factor, 9)) / factor)


def floors_for(scores: Mapping[str, float], task: str) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """(floors, max_regression, production max_regression) from the first model's holdout scores.

    Floors sit a margin below what the first model reaches (ceilings above, for errors), so a
    clearly worse model fails while seed-level noise does not.
    """
    floors: dict[str, float] = {}
    regression: dict[str, float] = {}
    for metric in spec(task).gated:
        value = float(scores[metric])
        if metric in IN_TARGET_UNITS:
            floors[metric] = float(f"{_outward(value * ERROR_FACTOR, up=True):.6g}")
            regression[metric] = float(f"{_outward(max(value * ERROR_REGRESSION, 1e-9), up=True):.3g}")
        elif metric == "log_loss":
            floors[metric] = _round(value * LOG_LOSS_FACTOR + LOG_LOSS_MARGIN, up=True)
            regression[metric] = LOG_LOSS_REGRESSION
        else:
            floors[metric] = max(0.0, _round(value - SCORE_MARGIN, up=False))
            regression[metric] = SCORE_REGRESSION
    primary = spec(task).primary
    production = {primary: float(f"{regression[primary] * PRODUCTION_SHARE:.3g}")}
    return floors, regression, production


def first_scores(frame: pd.DataFrame, contract: Contract, params: Any) -> dict[str, float]:
    """The holdout scores the default pipeline will reach on this data with these params: the same
    split (seed, size, stratification), preprocessing and estimator as `make run`."""
    from pipelines.adapters.params import estimators
    from pipelines.core.data import split
    from pipelines.core.evaluate import model_output, score
    from pipelines.core.train import build_pipeline
    from pipelines.yours.features import build_preprocessor

    validated = contract.raw.validate(frame, lazy=True)
    train, test = split(
        validated, params.split.test_size, params.split.seed, params.split.stratify, contract.task, contract.target
    )
    model = build_pipeline(contract, params.train, estimators(), build_preprocessor)
    model.fit(train[contract.features], train[contract.target])
    output = model_output(model, test[contract.features], contract.task)
    return score(
        test[contract.target].to_numpy(),
        output,
        task=contract.task,
        classes=getattr(model, "classes_", None),
        threshold=params.evaluate.threshold,
    )
