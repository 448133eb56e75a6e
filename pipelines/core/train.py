"""Training: a scikit-learn Pipeline (the project's preprocessing + the chosen estimator).

What estimators exist is the project's choice: pipelines/yours/estimators.py lists them as
`Estimator` entries (pipelines.core.estimators). This module only assembles and fits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import pandas as pd

from pipelines.core.estimators import Estimator, FastPath, unknown_estimator
from pipelines.core.params import ParamsError, TrainParams

__all__ = ["Estimator", "FastPath", "build_pipeline", "estimator_for", "fit"]  # Estimator: forks import it from here

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from pipelines.core.contract import Contract


def estimator_for(params: TrainParams, task: str, estimators: Mapping[str, Estimator]) -> Estimator:
    """The estimator entry `train.estimator` names; ParamsError when there is none or it cannot learn `task`."""
    entry = estimators.get(params.estimator)
    if entry is None:
        raise ParamsError(unknown_estimator(params.estimator, estimators))
    if task not in entry.tasks:
        fits = [name for name, e in estimators.items() if task in e.tasks]
        raise ParamsError(
            f"train.estimator: {params.estimator} cannot learn a {task} task; use one of: {', '.join(fits)}"
        )
    return entry


def build_pipeline(
    contract: Contract,
    params: TrainParams,
    estimators: Mapping[str, Estimator],
    preprocessor: Callable[[list[str], list[str]], ColumnTransformer],
) -> Pipeline:
    """Preprocessing for the contract's columns followed by the configured estimator (unfitted)."""
    from sklearn.pipeline import Pipeline

    entry = estimator_for(params, contract.task, estimators)
    estimator = entry.build(params.options(estimators), contract.task, params.seed)
    return Pipeline([("preprocess", preprocessor(contract.numeric, contract.categorical)), ("estimator", estimator)])


def fit(
    train: pd.DataFrame,
    contract: Contract,
    params: TrainParams,
    estimators: Mapping[str, Estimator],
    preprocessor: Callable[[list[str], list[str]], ColumnTransformer],
) -> tuple[Pipeline, list[str]]:
    """Fit the pipeline on the training frame (features and target); return it and the warnings it raised."""
    model = build_pipeline(contract, params, estimators, preprocessor)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train[contract.features], train[contract.target])
    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return model, notes
