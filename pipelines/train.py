"""Training: a scikit-learn Pipeline (preprocessing + estimator) built from params.yaml."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from pipelines.config import TrainParams
from pipelines.features import build_preprocessor
from pipelines.schema import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, TARGET


def build_estimator(params: TrainParams) -> Any:
    """The estimator named by `train.estimator`, configured from its own section."""
    hyper = params.estimator_params().model_dump()
    if params.estimator == "logistic_regression":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(random_state=params.seed, **hyper)
    if params.estimator == "random_forest":
        from sklearn.ensemble import RandomForestClassifier

        # n_jobs=1: DVC stages and the CI runner have two cores; parallelism is not worth the noise
        return RandomForestClassifier(random_state=params.seed, n_jobs=1, **hyper)
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(random_state=params.seed, **hyper)


def build_pipeline(params: TrainParams) -> Pipeline:
    """Preprocessing for the schema's columns followed by the configured estimator."""
    return Pipeline(
        [
            ("preprocess", build_preprocessor(NUMERIC_FEATURES, CATEGORICAL_FEATURES)),
            ("estimator", build_estimator(params)),
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
