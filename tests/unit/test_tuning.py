"""The hyper-parameter search (pipelines.core.tuning) on a binary, a multiclass and a regression table of the
tests' table maker, with the search spaces pipelines/yours/estimators.py declares: a deliberately poor committed
value is beaten beyond the folds' spread, and a good one is kept."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from pipelines.core import tuning
from pipelines.core.estimators import Choice, FloatRange, IntRange
from pipelines.yours.estimators import ESTIMATORS
from tests import tables

CASES = {  # target, an estimator, the committed values: a deliberately poor one and a good one
    # (on this table a logistic regression's C barely moves roc_auc: 0.988 at 1e-4, 0.993 at 10, within the folds'
    # spread, so tune rightly proposes nothing; a forest whose leaves need 200 rows cannot rank at all)
    "binary": (
        "diagnosis",
        "random_forest",
        {"n_estimators": 50, "max_depth": None, "min_samples_leaf": 200},
        {"n_estimators": 50, "max_depth": None, "min_samples_leaf": 1},
    ),
    "multiclass": ("cultivar", "logistic_regression", {"C": 1e-4}, {"C": 1.0}),
    "regression": ("progression", "ridge", {"alpha": 1e5}, {"alpha": 1.0}),
}


def _objective(kind: str) -> tuple[Any, str]:
    """values -> 5 fold scores of the estimator on the table's numeric columns, as `tune` scores a trial."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    target, name, _, _ = CASES[kind]
    frame = tables.TABLES[kind]().dropna(subset=[target])
    x = frame.drop(columns=[target]).select_dtypes("number").drop(columns=["record_id"], errors="ignore")
    y = frame[target]
    regression = kind == "regression"
    folds = (KFold if regression else StratifiedKFold)(n_splits=5, shuffle=True, random_state=0)
    metric = "r2" if regression else ("roc_auc" if kind == "binary" else "f1_macro")

    def objective(values: dict[str, Any]) -> list[float]:
        if name == "random_forest":
            model = RandomForestClassifier(random_state=0, n_jobs=1, **values)
        else:
            model = Ridge(**values) if regression else LogisticRegression(max_iter=2000, **values)
        pipeline = make_pipeline(SimpleImputer(), StandardScaler(), model)
        return list(cross_val_score(pipeline, x, y, cv=folds, scoring=metric))

    return objective, metric


@pytest.mark.parametrize("kind", list(CASES))
def test_a_poor_committed_value_is_beaten_beyond_the_spread_and_a_good_one_is_kept(kind: str) -> None:
    _, name, poor, good = CASES[kind]
    space = ESTIMATORS[name].space
    objective, metric = _objective(kind)
    trials = tuning.search(objective, space, poor, trials=8, timeout_seconds=120, seed=3)
    assert trials[0].values == poor and len(trials) == 8  # trial 0: the committed values
    beaten = tuning.decide(metric, trials)
    assert beaten.adopt and beaten.best.number != 0 and beaten.improvement > beaten.spread, beaten.reason
    doc = tuning.document(beaten, trials, name, 5, 3)
    assert doc["proposed"] == tuning.rounded(beaten.best.values)
    assert "beats the committed values" in tuning.markdown(doc)
    kept = tuning.decide(metric, tuning.search(objective, space, good, trials=8, timeout_seconds=120, seed=3))
    assert not kept.adopt and "within the fold spread of the best found" in kept.reason, kept.reason


def test_the_search_is_seeded_and_values_the_estimator_refuses_are_pruned() -> None:
    space = {"a": FloatRange(0.1, 10.0, log=True), "b": IntRange(1, 5), "c": Choice((None, "x"))}

    def objective(values: dict[str, Any]) -> list[float]:
        if values["b"] == 5:
            raise ValueError("refused")
        return [-abs(np.log(values["a"])) - values["b"] + (c := 0.1 * (values["c"] is None)), c]

    first = tuning.search(objective, space, {"a": 1.0, "b": 1, "c": None}, trials=15, timeout_seconds=60, seed=1)
    again = tuning.search(objective, space, {"a": 1.0, "b": 1, "c": None}, trials=15, timeout_seconds=60, seed=1)
    assert [t.values for t in first] == [t.values for t in again]  # seeded: the same trials
    assert all(t.values["b"] != 5 for t in first) and len(first) <= 15
    assert tuning.rounded({"a": 0.123456, "b": 3, "c": None}) == {"a": 0.123, "b": 3, "c": None}
    with pytest.raises(ValueError, match="could not be scored"):
        tuning.decide("r2", [tuning.Trial(0, {}, [])])


def test_every_estimator_declares_a_space_of_options_its_params_model_has() -> None:
    for name, entry in ESTIMATORS.items():
        assert entry.space, f"{name} declares no search space"
        assert set(entry.space) <= set(entry.params.model_fields), name
