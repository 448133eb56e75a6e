"""Training: a scikit-learn Pipeline (the project's preprocessing + the chosen estimator).

What estimators exist is the project's choice: pipelines/yours/estimators.py lists them as
`Estimator` entries (its params model, how to build it, the tasks it fits, the types its saved
form needs, an optional fast path for the service). This module only assembles and fits.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel

from pipelines.core.params import ParamsError, TrainParams

if TYPE_CHECKING:
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    from pipelines.core.contract import Contract

FastPath = Callable[[Any], Callable[[np.ndarray], np.ndarray] | None]
"""Given a fitted estimator: its output (class probabilities, or values) on a float matrix as plain
NumPy, or None when the estimator is not of the kind the function knows."""


@dataclass(frozen=True)
class Estimator:
    """One entry of the project's estimator registry (pipelines/yours/estimators.py).

    `params` validates its section of params.yaml (`train.<name>`); `build(options, task, seed)`
    returns an unfitted scikit-learn estimator for `task` from those options; `tasks` are the tasks
    it can learn; `trusted_types` are the types beyond skops' defaults its saved form holds (the
    model loader's allow-list is the union of every entry's); `fast_path` optionally compiles the
    fitted estimator for the service (checked against the slow path at load time).
    """

    params: type[BaseModel]
    build: Callable[[Any, str, int], Any]
    tasks: frozenset[str]
    trusted_types: tuple[str, ...] = ()
    fast_path: FastPath | None = field(default=None, compare=False)


def check_task(params: TrainParams, task: str, estimators: Mapping[str, Estimator]) -> Estimator:
    """The registry entry `train.estimator` names; ParamsError when it cannot learn `task`."""
    entry = estimators.get(params.estimator)
    if entry is None:
        raise ParamsError(
            f"train.estimator: {params.estimator!r} is not in pipelines/yours/estimators.py; "
            f"one of: {', '.join(estimators)}"
        )
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

    entry = check_task(params, contract.task, estimators)
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
