"""Every input earns its place and pays its way (ML Test Score, data 2 and 3): a pure-noise input is flagged and a
real one is not, on a binary, a multiclass and a regression table; the gate fails a change that adds a flagged
input, and an input over a cost budget whose benefit is not significant, naming both figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.core.benefit import benefit
from pipelines.core.gate import feature_rules
from pipelines.core.metrics import model_output
from pipelines.core.params_jobs import FeatureBudgets, FeatureCostParams
from tests import tables
from tests.helpers.fitted import INTERVALS
from tests.helpers.project import PARAMS

KINDS = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}
MARGIN = 0.01  # in the primary metric's units (roc_auc, f1_macro, r2)


def _noisy(kind: str) -> tuple[str, pd.DataFrame, pd.DataFrame, str, str]:
    """The table's numeric inputs plus `noise` (independent of everything); the strongest input by |correlation|."""
    target = tables.TARGETS[kind]
    frame = tables.TABLES[kind]().dropna(subset=[target]).reset_index(drop=True)
    numbers = [c for c in frame.select_dtypes("number").columns if c not in (target, "record_id")]
    frame = frame[[*numbers, target]].copy()
    frame["noise"] = np.random.default_rng(7).normal(size=len(frame))
    codes = frame[target] if kind == "regression" else pd.Series(pd.factorize(frame[target])[0])
    real = max(numbers, key=lambda c: abs(np.corrcoef(frame[c].fillna(frame[c].mean()), codes)[0, 1]))
    half = len(frame) // 2
    return target, frame.iloc[:half], frame.iloc[half:], real, "noise"


def _fit(kind: str, train: pd.DataFrame, target: str):  # type: ignore[no-untyped-def]
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    learner = Ridge() if kind == "regression" else LogisticRegression(max_iter=2000)
    return make_pipeline(SimpleImputer(), StandardScaler(), learner).fit(train.drop(columns=target), train[target])


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_pure_noise_input_is_flagged_and_a_real_one_is_not(kind: str) -> None:
    target, train, test, real, noise = _noisy(kind)
    model = _fit(kind, train, target)
    classes = None if kind == "regression" else model.classes_
    doc = benefit(lambda x: model_output(model, x, kind), test.drop(columns=target), test[target].to_numpy(), kind,
                  classes, 0.5, 5, 0, INTERVALS, MARGIN)  # fmt: skip
    found = {e["feature"]: e for e in doc["features"]}
    assert found[noise]["flagged"], found[noise]
    assert not found[real]["flagged"] and found[real]["low"] > 0, found[real]
    assert doc["metric"] == {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "r2"}[kind]


def test_an_input_the_model_ignores_has_zero_benefit_and_a_zero_width_interval() -> None:
    """Built to break a sign or pairing error: the model never reads `ignored`, so every resample's difference is 0."""
    target, train, test, real, _ = _noisy("binary")
    model = _fit("binary", train[[real, target]], target)
    x = test[[real]].assign(ignored=np.arange(len(test)))
    doc = benefit(lambda f: model_output(model, f[[real]], "binary"), x, test[target].to_numpy(), "binary",
                  model.classes_, 0.5, 3, 0, INTERVALS, 0.0)  # fmt: skip
    ignored = doc["features"][1]
    assert (ignored["benefit"], ignored["low"], ignored["high"], ignored["flagged"]) == (0.0, 0.0, 0.0, True)


def _gate(rule: str = "new_features", **budgets: float | None) -> object:
    limits = {"latency_us": None, "train_seconds": None, "train_mib": None, **budgets}
    return PARAMS.gate.model_copy(update={"feature_rule": rule, "feature_budgets": FeatureBudgets(**limits)})


DOC = {
    "metric": "roc_auc", "margin": 0.01, "level": 0.95, "repeats": 5, "rows": 100,
    "features": [
        {"feature": "a", "benefit": 0.2, "std": 0.01, "low": 0.1, "high": 0.3, "flagged": False},
        {"feature": "noise", "benefit": 0.0, "std": 0.001, "low": -0.004, "high": 0.003, "flagged": True},
    ],
}  # fmt: skip


def test_the_gate_fails_a_change_that_adds_an_input_whose_removal_does_not_hurt() -> None:
    failed = [r for r in feature_rules(DOC, ["a"], None, _gate()) if not r.passed]  # type: ignore[arg-type]
    assert [(r.kind, r.scope) for r in failed] == [("feature benefit", "noise")]
    assert "noise is a new input whose removal does not hurt" in failed[0].reason and "+0.0030" in failed[0].reason
    # the same input already on the base, or the rule off: nothing fails
    assert all(r.passed for r in feature_rules(DOC, ["a", "noise"], None, _gate()))  # type: ignore[arg-type]
    assert feature_rules(DOC, ["a"], None, _gate("off")) == []  # type: ignore[arg-type]
    # no base features.json: said, not passed silently
    (unjudged,) = feature_rules(DOC, None, None, _gate())  # type: ignore[arg-type]
    assert unjudged.kind == "not compared" and "on the base" in unjudged.reason


def test_an_input_over_budget_fails_only_when_its_benefit_is_not_significant_and_both_figures_are_named() -> None:
    cost = {"features": [{"feature": "a", "latency_us": 80.0, "train_seconds": 0.1, "train_mib": 1.0},
                         {"feature": "noise", "latency_us": 75.5, "train_seconds": 0.1, "train_mib": 1.0}]}  # fmt: skip
    rules = feature_rules(DOC, ["a", "noise"], cost, _gate("off", latency_us=50.0, train_mib=10.0))  # type: ignore[arg-type]
    over = [r for r in rules if r.metric == "latency_us"]
    assert [(r.scope, r.passed) for r in over] == [("a", True), ("noise", False)]
    assert "noise adds 75.5 µs to scoring one row (gate.feature_budgets.latency_us: 50)" in over[1].reason
    assert "benefit is not significant: roc_auc +0.0000 [-0.0040, +0.0030]" in over[1].reason
    within = [r for r in rules if r.metric == "train_mib"]
    assert [(r.passed, r.value) for r in within] == [(True, 1.0)]
    # budgets set and nothing measured: one "not compared" line naming the command
    (missing,) = feature_rules(DOC, ["a", "noise"], None, _gate("off", latency_us=50.0))  # type: ignore[arg-type]
    assert missing.kind == "not compared" and "feature-cost" in missing.reason


def _train_params(kind: str):  # type: ignore[no-untyped-def]
    """The project's train params with the task's linear model (its section added when the project lacks it)."""
    name, section = ("ridge", {"alpha": 1.0}) if kind == "regression" else (
        "logistic_regression", {"C": 1.0, "max_iter": 1000, "class_weight": None})  # fmt: skip
    train = PARAMS.train.model_copy(update={"estimator": name})
    return train if name in train.sections() else train.model_copy(update={name: section})


@pytest.mark.parametrize("kind", list(KINDS))
def test_feature_cost_measures_what_each_input_adds_through_the_compiled_path(kind: str) -> None:
    """A text input with many categories (a wide one-hot) adds more to the fit's memory than a number does."""
    import pandera.pandas as pa

    from pipelines.adapters.params import estimators
    from pipelines.core.contract import Contract
    from pipelines.core.feature_cost import measure
    from pipelines.yours.features import build_preprocessor

    target, train, _, real, _ = _noisy(kind)
    frame = train[[real, target]].dropna().copy()
    frame["code"] = np.random.default_rng(0).choice([f"c{i}" for i in range(150)], len(frame))

    def contract_of(columns: list[str]) -> Contract:
        inputs = {c: pa.Column(str if c == "code" else float) for c in columns}
        label = pa.Column(float if kind == "regression" else frame[target].dtype.type)
        return Contract(pa.DataFrameSchema({**inputs, target: label}), pa.DataFrameSchema(inputs), target, kind)

    settings = FeatureCostParams(rows=150, rounds=3, calls=20, seed=0)
    doc = measure(frame, contract_of([real, "code"]), _train_params(kind), estimators(), build_preprocessor, settings)
    assert [e["feature"] for e in doc["features"]] == [real, "code"] and doc["rows"] == 150
    assert set(doc["full"]) == set(doc["features"][0]) - {"feature"} == {"latency_us", "train_seconds", "train_mib"}
    assert doc["full"]["latency_us"] > 0 and doc["features"][1]["train_mib"] > doc["features"][0]["train_mib"]
    with pytest.raises(ValueError, match="at least two model inputs"):  # built to break it: nothing left to drop
        measure(frame, contract_of([real]), _train_params(kind), estimators(), build_preprocessor, settings)
