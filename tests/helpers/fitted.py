"""Models fit on the tests' tables (tests/tables.py) for the tests of slices and inclusion: a linear model and a
constant one (the training prior or mean), and their outputs on a holdout that keeps every raw column."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.metrics import model_output
from tests import tables
from tests.helpers.project import PARAMS

INTERVALS = PARAMS.evaluate.intervals.model_copy(update={"resamples": 400})


def fit_table(kind: str, target: str) -> tuple[str, Any, Any, pd.DataFrame, np.ndarray]:
    """A linear model and a constant one (the training prior or mean) fit on 60 % of the table's numeric
    columns; the other 40 % with every raw column, and its true values."""
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = tables.TABLES[kind]().dropna(subset=[target]).reset_index(drop=True)
    task = "regression" if kind == "regression" else kind
    train, test = train_test_split(frame, test_size=0.4, random_state=0)
    features = [c for c in frame.select_dtypes("number").columns if c not in (target, "record_id")]
    learner = Ridge() if task == "regression" else LogisticRegression(max_iter=2000)
    constant = DummyRegressor() if task == "regression" else DummyClassifier(strategy="prior")
    good = make_pipeline(SimpleImputer(), StandardScaler(), learner).fit(train[features], train[target])
    prior = constant.fit(train[features], train[target])
    y = test[target].to_numpy()
    return task, model_output(good, test[features], task), model_output(prior, test[features], task), test, y
