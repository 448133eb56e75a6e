"""The simpler model beside the candidate (pipelines.core.baseline) and the gate's rule on it
(pipelines.core.gate.baseline_rule), on a binary, a multiclass and a regression table of the tests' table maker."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.core import baseline
from pipelines.core.gate import baseline_rule
from pipelines.core.metrics import model_output
from pipelines.core.params import ParamsError, TrainParams
from pipelines.core.tasks import task_spec
from tests import tables
from tests.helpers.project import ESTIMATORS, PARAMS

TARGETS = {"binary": ("binary", "diagnosis"), "multiclass": ("multiclass", "cultivar"),
           "regression": ("regression", "progression")}  # fmt: skip
INTERVALS = PARAMS.evaluate.intervals.model_copy(update={"resamples": 400})
LINEAR = {"binary": "logistic_regression", "multiclass": "logistic_regression", "regression": "ridge"}


def _fit(kind: str, estimator: Any) -> tuple[Any, pd.DataFrame, np.ndarray]:
    """`estimator` after imputation and scaling, fit on 70 % of the table's numeric columns; the other 30 %."""
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    _, target = TARGETS[kind]
    frame = tables.TABLES[kind]().dropna(subset=[target])
    x = frame.drop(columns=[target]).select_dtypes("number").drop(columns=["record_id"], errors="ignore")
    x_train, x_test, y_train, y_test = train_test_split(x, frame[target].to_numpy(), test_size=0.3, random_state=0)
    return make_pipeline(SimpleImputer(), StandardScaler(), estimator).fit(x_train, y_train), x_test, y_test


def _linear(task: str) -> Any:
    name = LINEAR[task]
    options = ESTIMATORS[name].params.model_validate(
        {"alpha": 1.0} if name == "ridge" else {"C": 1.0, "max_iter": 2000}
    )
    return ESTIMATORS[name].build(options, task, 0)


def _constant(task: str) -> Any:
    from sklearn.dummy import DummyClassifier, DummyRegressor

    return DummyRegressor() if task == "regression" else DummyClassifier(strategy="prior")


def _document(task: str, candidate: Any, simpler: Any, x: pd.DataFrame, y: np.ndarray) -> dict[str, Any]:
    classes = None if task == "regression" else simpler.classes_
    return baseline.document(LINEAR[task], task, y, model_output(candidate, x, task), model_output(simpler, x, task),
                             classes, 0.5, INTERVALS)  # fmt: skip


@pytest.mark.parametrize("kind", list(TARGETS))
def test_a_model_that_learnt_nothing_fails_against_the_simpler_model_and_one_as_good_passes(kind: str) -> None:
    task, _ = TARGETS[kind]
    primary = task_spec(task).primary
    simpler, x, y = _fit(kind, _linear(task))
    constant, _, _ = _fit(kind, _constant(task))
    worse = baseline_rule(_document(task, constant, simpler, x, y), "simpler_not_better", primary)
    assert worse is not None and not worse.passed and worse.kind == "baseline"
    assert worse.reason.startswith(f"a simpler model does better: {primary}: candidate - {LINEAR[task]} = -")
    same = _document(task, simpler, simpler, x, y)
    assert same["difference"][primary] == {"difference": 0.0, "low": 0.0, "high": 0.0}
    held = baseline_rule(same, "simpler_not_better", primary)
    assert held is not None and held.passed, held
    # the stricter rule asks the candidate to be better beyond the interval: the same model is not
    strict = baseline_rule(same, "beat_baseline", primary)
    assert strict is not None and not strict.passed and "does not beat" in strict.reason


def test_a_model_better_beyond_the_interval_beats_the_baseline() -> None:
    """A target the linear model cannot follow (a ring): boosted trees are better beyond the interval."""
    from sklearn.model_selection import train_test_split

    rng = np.random.default_rng(5)
    x = pd.DataFrame(rng.normal(size=(1200, 2)), columns=["a", "b"])
    y = np.where(np.hypot(x["a"], x["b"]) < 1.1, "in", "out")
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.4, random_state=0)
    boosted = ESTIMATORS["hist_gradient_boosting"]
    trees = boosted.build(boosted.params.model_validate({"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 15,
                                                         "l2_regularization": 0.0}), "binary", 0)  # fmt: skip
    candidate, simpler = trees.fit(x_train, y_train), _linear("binary").fit(x_train, y_train)
    rule = baseline_rule(_document("binary", candidate, simpler, x_test, y_test), "beat_baseline", "roc_auc")
    assert rule is not None and rule.passed, rule


def test_off_judges_nothing_and_a_skipped_baseline_is_shown_not_passed_silently() -> None:
    doc = {"estimator": "logistic_regression", "skipped": baseline.skip_reason("logistic_regression",
                                                                               "logistic_regression")}  # fmt: skip
    assert baseline_rule(doc, "off", "roc_auc") is None
    shown = baseline_rule(doc, "simpler_not_better", "roc_auc")
    assert shown is not None and shown.kind == "not compared" and "the candidate is the baseline's own" in shown.reason
    assert baseline.skip_reason(None, "random_forest") == "evaluate.baseline is null: no simpler model is compared"
    assert baseline.skip_reason("logistic_regression", "random_forest") is None


def test_the_baseline_takes_the_candidates_class_weighting_and_its_own_hyper_parameters() -> None:
    """On a train section of its own (any project: a regression fork has no logistic_regression section)."""
    train = TrainParams.model_validate({
        "estimator": "random_forest", "seed": 1, "reference_bins": 10, "reference_discrete_max": 20,
        "random_forest": {"n_estimators": 10, "min_samples_leaf": 1, "class_weight": "balanced_subsample"},
        "logistic_regression": {"C": 0.3, "max_iter": 500},
    })  # fmt: skip
    options = baseline.baseline_params(train, ESTIMATORS, "logistic_regression", "binary")
    assert options.estimator == "logistic_regression"
    section = options.sections()["logistic_regression"]
    assert section["class_weight"] == "balanced"  # a forest's per-tree weighting, for a linear model
    assert section["C"] == 0.3 and section["max_iter"] == 500
    with pytest.raises(
        ParamsError, match=r"evaluate\.baseline is 'logistic_regression', which cannot learn a regression"
    ):
        baseline.baseline_params(train, ESTIMATORS, "logistic_regression", "regression")


@pytest.mark.parametrize("task", ["binary", "regression"])
def test_a_target_with_one_value_is_refused_at_the_split_in_one_line(task: str) -> None:
    """Nothing to learn (and a constant number would score r2 = 1): `split` refuses before train or evaluate,
    so no one-class model replaces the last good one and no baseline fit dies with a traceback."""
    from pipelines.core.data import DataError, split

    frame = pd.DataFrame({"x": np.arange(40.0), "y": ["mid"] * 40 if task == "binary" else [100.0] * 40})
    with pytest.raises(DataError, match=r"the target 'y' holds only '(mid|100\.0)' in every row: nothing to learn"):
        split(frame, 0.25, 0, False, task, "y")
