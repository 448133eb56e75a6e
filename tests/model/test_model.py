"""Model behaviour: converges, never predicts NaN, invariant to row order, moves the right way."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from pipelines.core.data import default_dataset, split
from pipelines.core.train import fit as fit_with
from pipelines.yours.features import build_preprocessor
from pipelines.yours.schema import Features
from tests.conftest import CONTRACT, ESTIMATORS, FEATURES, PARAMS

TARGET = CONTRACT.target


def fit(train: pd.DataFrame, params: object):  # type: ignore[no-untyped-def]
    return fit_with(train, CONTRACT, params, ESTIMATORS, build_preprocessor)  # type: ignore[arg-type]


# asserts columns and numbers of the bundled breast-cancer example
pytestmark = pytest.mark.example

warnings.filterwarnings("ignore", module="pandera")


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, pd.DataFrame]:
    s = PARAMS.split
    return split(default_dataset(), s.test_size, s.seed, s.stratify, CONTRACT.task, CONTRACT.target)


@pytest.fixture(scope="module")
def model(data: tuple[pd.DataFrame, pd.DataFrame]):  # type: ignore[no-untyped-def]
    trained, notes = fit(data[0], PARAMS.train)
    assert notes == [], f"training with params.yaml raised warnings: {notes}"
    return trained


@pytest.mark.parametrize("estimator", ["logistic_regression", "random_forest", "hist_gradient_boosting"])
def test_every_offered_estimator_trains_without_warnings_and_beats_chance(
    estimator: str, data: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    from sklearn.metrics import roc_auc_score

    params = PARAMS.train.model_copy(update={"estimator": estimator})
    trained, notes = fit(data[0], params)
    assert notes == []
    proba = trained.predict_proba(data[1][FEATURES])[:, 1]
    assert roc_auc_score(data[1][TARGET], proba) > 0.9


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(frame=Features.strategy(size=6))
def test_any_schema_valid_input_gives_finite_probabilities(model, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    proba = model.predict_proba(frame[FEATURES])
    assert np.isfinite(proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_predictions_do_not_depend_on_row_order(model, data) -> None:  # type: ignore[no-untyped-def]
    x = data[1][FEATURES]
    shuffled = x.sample(frac=1.0, random_state=0)
    forward = pd.Series(model.predict_proba(x)[:, 1], index=x.index)
    backward = pd.Series(model.predict_proba(shuffled)[:, 1], index=shuffled.index)
    pd.testing.assert_series_equal(forward.sort_index(), backward.sort_index())


def test_a_typical_malignant_profile_scores_higher_than_a_typical_benign_one(model, data) -> None:  # type: ignore[no-untyped-def]
    """Direction: the median malignant case is predicted malignant, the median benign case benign."""
    train = data[0]
    medians = train.groupby(TARGET)[FEATURES].median()
    proba = model.predict_proba(medians.loc[[0, 1]])[:, 1]
    assert proba[0] < 0.5 < proba[1]
