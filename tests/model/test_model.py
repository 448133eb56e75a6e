"""Model behaviour on the project's own data: every offered estimator beats the trivial model, outputs are
finite for any schema-valid input, invariant to row order, and move the right way."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from pipelines.core.metrics import LOWER_IS_BETTER, model_output, score
from pipelines.core.tasks import task_spec
from pipelines.core.train import fit as fit_with
from pipelines.yours.features import build_preprocessor
from tests.helpers.project import CONTRACT, ESTIMATORS, FEATURES, PARAMS

TARGET, TASK = CONTRACT.target, CONTRACT.task
PRIMARY = task_spec(TASK).primary
warnings.filterwarnings("ignore", module="pandera")


def fit(train: pd.DataFrame, params: object):  # type: ignore[no-untyped-def]
    return fit_with(train, CONTRACT, params, ESTIMATORS, build_preprocessor)  # type: ignore[arg-type]


def _primary(model: object, test: pd.DataFrame) -> float:
    output = model_output(model, test[FEATURES], TASK)
    y = test[TARGET].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scores = score(y, output, task=TASK, classes=getattr(model, "classes_", None),
                       threshold=PARAMS.evaluate.threshold)  # fmt: skip
    return scores[PRIMARY]


def test_the_configured_estimator_trains_without_warnings(project_split) -> None:  # type: ignore[no-untyped-def]
    _, notes = fit(project_split[0], PARAMS.train)
    assert notes == [], f"training with params.yaml raised warnings: {notes}"


OFFERED = sorted(name for name, entry in ESTIMATORS.items() if TASK in entry.tasks)


@pytest.mark.parametrize("estimator", OFFERED)
def test_every_offered_estimator_beats_the_trivial_model_on_the_primary_metric(estimator: str, project_split) -> None:  # type: ignore[no-untyped-def]
    """The trivial model predicts the class priors (or the training mean): what a model must beat to mean anything."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    train, test = project_split
    params = PARAMS.train.model_copy(update={"estimator": estimator})
    if estimator not in params.sections():  # a registered estimator without a params.yaml section: defaults
        params = params.model_copy(update={estimator: {}})
    trained, _ = fit(train, params)
    trivial = DummyRegressor() if TASK == "regression" else DummyClassifier(strategy="prior")
    trivial.fit(train[FEATURES], train[TARGET])
    ours, baseline = _primary(trained, test), _primary(trivial, test)
    assert (ours < baseline) if PRIMARY in LOWER_IS_BETTER else (ours > baseline), (PRIMARY, ours, baseline)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(frame=CONTRACT.inputs.strategy(size=6))
def test_any_schema_valid_input_gives_finite_outputs(project_model, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
    """Text columns as the pipeline and the service hand them over: objects, NaN where missing (pandera's
    generator makes Arrow strings with pd.NA, which no stage produces)."""
    text = CONTRACT.categorical
    frame[text] = frame[text].astype(object).where(frame[text].notna(), np.nan)
    output = model_output(project_model, frame[FEATURES], TASK)
    assert np.isfinite(output).all()
    if TASK != "regression":
        assert ((output >= 0) & (output <= 1)).all()
        np.testing.assert_allclose(output.sum(axis=1), 1.0)


def test_outputs_do_not_depend_on_row_order(project_model, project_split) -> None:  # type: ignore[no-untyped-def]
    x = project_split[1][FEATURES]
    shuffled = x.sample(frac=1.0, random_state=0)
    forward = pd.DataFrame(model_output(project_model, x, TASK), index=x.index)
    backward = pd.DataFrame(model_output(project_model, shuffled, TASK), index=shuffled.index)
    pd.testing.assert_frame_equal(forward.sort_index(), backward.sort_index(), check_exact=False, rtol=1e-12)


def test_the_model_moves_the_right_way_on_its_training_rows(project_model, project_split) -> None:  # type: ignore[no-untyped-def]
    """Direction: rows of each class get that class's probability higher, on average, than rows of the other
    classes do; for a regressor, predictions rise with the true value (positive Spearman correlation)."""
    train = project_split[0]
    output = model_output(project_model, train[FEATURES], TASK)
    if TASK == "regression":
        from scipy.stats import spearmanr

        assert spearmanr(output, train[TARGET]).statistic > 0
        return
    y = train[TARGET].to_numpy()
    for k, label in enumerate(project_model.classes_):
        assert output[y == label, k].mean() > output[y != label, k].mean(), label
