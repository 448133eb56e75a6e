"""The metric table (pipelines/core/metrics.py): every metric equals scikit-learn's at unit weights, on
ordinary holdouts and on the edge cases live data produces (a class absent, one class only, a constant
target); integer weights equal repeated rows; a task reports exactly the table's metrics for it."""

from __future__ import annotations

from typing import Any

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings
from sklearn import metrics as m

from pipelines.core import metrics
from pipelines.core.metrics import score, scored, weighted
from pipelines.core.params_jobs import FeatureBudgets
from pipelines.core.tasks import TASKS, task_spec
from tests.helpers import synthetic_holdout

NO_BUDGETS = FeatureBudgets(latency_us=None, train_seconds=None, train_mib=None)


def sklearn_scores(y: np.ndarray, output: np.ndarray, task: str, classes: Any, threshold: float) -> dict[str, float]:
    """The oracle: scikit-learn's metric of each name, NaN where scikit-learn refuses (one class, a class absent)."""

    def guarded(f: Any) -> float:
        try:
            return float(f())
        except ValueError:
            return float("nan")

    if task == "regression":
        return {"r2": guarded(lambda: m.r2_score(y, output)) if len(y) > 1 else float("nan"),
                "rmse": m.root_mean_squared_error(y, output), "mae": m.mean_absolute_error(y, output)}  # fmt: skip
    labels = np.asarray(classes)
    if task == "binary":
        positive, proba = (y == labels[1]).astype(int), output[:, 1]
        hits = (proba >= threshold).astype(int)
        return {
            "roc_auc": guarded(lambda: m.roc_auc_score(positive, proba)),
            "average_precision": guarded(lambda: m.average_precision_score(positive, proba)),
            "f1": m.f1_score(positive, hits, zero_division=0),
            "precision": m.precision_score(positive, hits, zero_division=0),
            "recall": m.recall_score(positive, hits, zero_division=0),
            "accuracy": m.accuracy_score(positive, hits),
            "log_loss": m.log_loss(positive, proba, labels=[0, 1]),
        }
    predicted = labels[output.argmax(axis=1)]
    return {
        "accuracy": m.accuracy_score(y, predicted),
        "balanced_accuracy": m.balanced_accuracy_score(y, predicted),
        "f1_macro": m.f1_score(y, predicted, average="macro", labels=labels, zero_division=0),
        "roc_auc_ovr": guarded(lambda: m.roc_auc_score(y, output, multi_class="ovr", labels=labels)),
        "log_loss": m.log_loss(y, output, labels=labels),
    }


def _agree(found: dict[str, float], expected: dict[str, float]) -> None:
    assert list(found) == list(expected)
    for name, value in expected.items():
        if np.isnan(value):
            assert np.isnan(found[name]), (name, found[name])
        else:
            assert found[name] == pytest.approx(value, abs=1e-6), name


@settings(max_examples=60, deadline=None)
@given(task=st.sampled_from(TASKS), n=st.integers(8, 200), seed=st.integers(0, 10_000), ties=st.booleans(),
       threshold=st.sampled_from([0.3, 0.5, 0.7]))  # fmt: skip
def test_at_unit_weights_every_metric_equals_scikit_learns(
    task: str, n: int, seed: int, ties: bool, threshold: float
) -> None:
    y, output, classes = synthetic_holdout(task, n, seed, ties)
    _agree(score(y, output, task=task, classes=classes, threshold=threshold),
           sklearn_scores(y, output, task, classes, threshold))  # fmt: skip


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
@pytest.mark.parametrize(
    "case",
    ["binary, no positives", "binary, all positives", "multiclass, a class absent", "regression, constant target",
     "regression, constant target exactly predicted", "regression, one row"],
)  # fmt: skip
def test_edge_cases_of_live_data_agree_with_scikit_learn(case: str) -> None:
    task = case.split(",")[0]
    y, output, classes = synthetic_holdout(task, 40, 3)
    if case == "binary, no positives":
        y = np.full(40, "a")
    elif case == "binary, all positives":
        y = np.full(40, "b")
    elif case == "multiclass, a class absent":
        y = np.where(y == "c", "a", y)
    elif case == "regression, constant target":
        y = np.full(40, 5.0)
    elif case == "regression, constant target exactly predicted":
        y, output = np.full(40, 5.0), np.full(40, 5.0)
    else:
        y, output = y[:1], output[:1]
    _agree(score(y, output, task=task, classes=classes, threshold=0.5),
           sklearn_scores(y, output, task, classes, 0.5))  # fmt: skip


def test_integer_weights_equal_repeating_the_rows() -> None:
    for task in TASKS:
        y, output, classes = synthetic_holdout(task, 60, 1, ties=True)
        w = np.random.default_rng(2).integers(0, 4, 60)
        repeated = score(np.repeat(y, w), np.repeat(output, w, axis=0), task=task, classes=classes)
        found = weighted(scored(task, y, output, classes, 0.5), w[None, :].astype(float))
        assert {k: round(float(v[0]), 6) for k, v in found.items()} == pytest.approx(repeated, abs=2e-6), task


def test_each_task_reports_the_table_s_metrics_and_names_are_unique() -> None:
    names = [entry.name for entry in metrics.METRICS]
    assert len(names) == len(set(names))
    for task in TASKS:
        assert task_spec(task).metrics == tuple(e.name for e in metrics.METRICS if task in e.tasks)
        assert set(task_spec(task).headline) <= set(task_spec(task).metrics)
        assert set(task_spec(task).gated) <= set(task_spec(task).metrics)
    assert {"log_loss", "rmse", "mae"} == metrics.LOWER_IS_BETTER


def test_a_true_label_outside_the_model_s_classes_is_named() -> None:
    y, output, classes = synthetic_holdout("multiclass", 20, 0)
    y = y.astype(object)
    y[4] = "zebra"
    with pytest.raises(ValueError, match="zebra"):
        score(y, output, task="multiclass", classes=classes)


def test_a_metric_added_to_the_table_is_reported_and_can_be_gated(monkeypatch: pytest.MonkeyPatch) -> None:
    """The files-per-change claim for a metric: one entry in the table, then `evaluate` reports it and params.yaml
    may gate on it (docs/ARCHITECTURE.md, 'Where a change goes')."""
    from pipelines.core.gate import check
    from pipelines.core.params import GateParams

    entry = metrics.MetricSpec("specificity", frozenset({"binary"}), False, False, "specificity",
                               lambda r, w: metrics._ratio(*_true_negatives(r, w)))  # fmt: skip
    monkeypatch.setattr(metrics, "METRICS", (*metrics.METRICS, entry))
    monkeypatch.setattr(metrics, "BY_NAME", {**metrics.BY_NAME, "specificity": entry})
    y, output, classes = synthetic_holdout("binary", 80, 5)
    found = score(y, output, task="binary", classes=classes)
    assert "specificity" in task_spec("binary").metrics
    negative = y == classes[0]
    assert found["specificity"] == pytest.approx(float(np.mean(output[negative, 1] < 0.5)), abs=1e-6)
    gate = GateParams(
        floors={"specificity": 0.99},
        max_regression={},
        regression_rule={},
        baseline_rule="simpler_not_better",
        slice_floors={},
        slice_rule="off",
        max_group_gap={},
        feature_rule="off",
        feature_budgets=NO_BUDGETS,
    )
    verdict = check(found, None, gate)
    assert [rule.metric for rule in verdict.failures] == ["specificity"], verdict


def _true_negatives(r: metrics.Scored, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    negative, said_negative = (r.truth == 0).astype(float), (r.predicted == 0).astype(float)
    return w @ (negative * said_negative), w @ negative
