"""Training: a scikit-learn Pipeline (preprocessing + estimator) built from params.yaml."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from pipelines.config import ParamsError, TrainParams
from pipelines.features import build_preprocessor
from pipelines.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET, TASK


def build_estimator(params: TrainParams, task: str = TASK) -> Any:
    """The estimator named by `train.estimator` for `task`, configured from its own section."""
    params.check_task(task)
    # unset (None) options fall back to scikit-learn's own defaults, which are None for every one of them
    hyper = {k: v for k, v in params.estimator_params().model_dump().items() if v is not None}
    regression = task == "regression"
    if regression and "class_weight" in hyper:
        raise ParamsError(f"train.{params.estimator}.class_weight applies to classifiers only; the task is regression")
    if params.estimator == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(random_state=params.seed, **hyper)
    if params.estimator == "ridge":
        from sklearn.linear_model import Ridge

        return Ridge(random_state=params.seed, **hyper)
    if params.estimator == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        # n_jobs=1: DVC stages and the CI runner have two cores; parallelism is not worth the noise
        forest = RandomForestRegressor if regression else RandomForestClassifier
        return forest(random_state=params.seed, n_jobs=1, **hyper)
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    boosting = HistGradientBoostingRegressor if regression else HistGradientBoostingClassifier
    return boosting(random_state=params.seed, **hyper)


def build_pipeline(
    params: TrainParams,
    task: str = TASK,
    numeric: list[str] = NUMERIC_FEATURES,
    categorical: list[str] = CATEGORICAL_FEATURES,
) -> Pipeline:
    """Preprocessing for the schema's columns (or the ones given) followed by the configured estimator."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(numeric, categorical)),
            ("estimator", build_estimator(params, task)),
        ]
    )


def fit(train: pd.DataFrame, params: TrainParams) -> tuple[Pipeline, list[str]]:
    """Fit the pipeline on the training frame; return it and any warnings the fit raised."""
    model = build_pipeline(params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(train[FEATURES], train[TARGET])
    notes = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    return model, notes
