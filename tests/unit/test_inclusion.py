"""Inclusion (pipelines.core.inclusion) and the gate's rule on it (pipelines.core.gate.group_gap_rules): the gaps
between groups agree with fairlearn's, a model built to treat one group worse fails its limit and the same
model without that passes, on a binary, a multiclass and a regression table of the tests' table maker."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.core import inclusion, slices
from pipelines.core.gate import group_gap_rules
from pipelines.core.params import SliceSpec
from pipelines.core.tasks import task_spec
from tests.helpers.fitted import INTERVALS, fit_table

SENSITIVE = {"binary": SliceSpec(column="site"), "multiclass": SliceSpec(column="region"),
             "regression": SliceSpec(column="sex")}  # fmt: skip
TARGETS = {"binary": "diagnosis", "multiclass": "cultivar", "regression": "progression"}
GAP = {"binary": "equalized_odds_difference", "multiclass": "equalized_odds_difference", "regression": "mae_difference"}


def _document(task: str, y: np.ndarray, output: np.ndarray, test: pd.DataFrame, spec: SliceSpec) -> dict[str, Any]:
    classes = None if task == "regression" else np.array(sorted(set(map(str, y))))
    return inclusion.document(task, y, output, classes, {spec.column: slices.slices(test, [spec])}, 0.5, INTERVALS, 30)


@pytest.mark.parametrize("kind", list(SENSITIVE))
def test_a_model_that_treats_one_group_worse_fails_its_limit_and_the_same_model_without_that_passes(kind: str) -> None:
    task, good, prior, test, y = fit_table(kind, TARGETS[kind])
    spec, gap = SENSITIVE[kind], GAP[kind]
    fair = _document(task, y, good, test, spec)
    (entry,) = fair["columns"]
    assert set(entry["gaps"]) == set(task_spec(task).group_gaps) and entry["reason"] is None
    if task == "multiclass":  # reported per class one-vs-rest, gated on the largest
        assert set(entry["per_class"]) == set(map(str, y))
        for gap, found in entry["gaps"].items():
            assert found["value"] == max(v[gap] for v in entry["per_class"].values())
    judged = [g for g in entry["groups"] if g["judged"]]
    assert len(judged) >= 2 and all(g["rows"] >= 30 for g in judged)
    for found in entry["gaps"].values():
        assert found["low"] <= found["high"] and found["value"] >= 0
    # the unfair model: the same outputs, except for the first judged group, who get the constant it learnt (a
    # number: the good prediction off by the target's standard deviation, a model blind to that group's level)
    worse = next(s.mask for s in slices.slices(test, [spec]) if s.name == judged[0]["group"])
    off = good + np.std(y) if task == "regression" else prior
    unfair_output = np.where(worse[:, None], off, good) if good.ndim == 2 else np.where(worse, off, good)
    unfair = _document(task, y, unfair_output, test, spec)
    before, after = entry["gaps"][gap], unfair["columns"][0]["gaps"][gap]
    assert after["low"] > before["high"], (before, after)  # worse beyond both intervals
    limit = {spec.column: {gap: round(before["high"], 2) + 0.01}}
    (passed,) = group_gap_rules(fair, limit)
    (failed,) = group_gap_rules(unfair, limit)
    assert passed.passed and passed.kind == "group gap" and passed.scope == spec.column
    assert not failed.passed and failed.reason.startswith(f"{spec.column}: {gap} between its groups = ")
    assert failed.comparison == "<="


def test_the_gaps_are_fairleans_and_the_rates_its_metric_frame() -> None:
    """A hand-made binary case: group a's selection rate 3/4, b's 1/4; TPR 1 vs 1/2, FPR 1/2 vs 0."""
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    y = np.array(["1", "1", "0", "0"] * 10 + ["1", "1", "0", "0"] * 10)
    said = np.array([1, 1, 1, 0] * 10 + [1, 0, 0, 0] * 10)
    output = np.stack([1 - said, said], axis=1).astype(float)
    frame = pd.DataFrame({"g": ["a"] * 40 + ["b"] * 40})
    groups = {"g": slices.slices(frame, [SliceSpec(column="g")])}
    doc = inclusion.document("binary", y, output, np.array(["0", "1"]), groups, 0.5, INTERVALS, 30)
    gaps = doc["columns"][0]["gaps"]
    truth, names = (y == "1").astype(int), frame["g"].to_numpy()
    assert gaps["demographic_parity_difference"]["value"] == pytest.approx(0.5)
    assert gaps["demographic_parity_difference"]["value"] == pytest.approx(
        demographic_parity_difference(truth, said, sensitive_features=names)
    )
    assert gaps["equalized_odds_difference"]["value"] == pytest.approx(0.5)
    assert gaps["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(truth, said, sensitive_features=names))  # fmt: skip
    rates = {g["group"]: g["rates"] for g in doc["columns"][0]["groups"]}
    assert rates["g=a"] == {"selection_rate": 0.75, "true_positive_rate": 1.0, "false_positive_rate": 0.5}
    assert rates["g=b"] == {"selection_rate": 0.25, "true_positive_rate": 0.5, "false_positive_rate": 0.0}


def test_a_group_too_small_is_shown_not_judged_and_one_judged_group_has_no_gap_to_judge() -> None:
    y = np.array(["0", "1"] * 30)
    output = np.tile([[0.8, 0.2], [0.3, 0.7]], (30, 1))
    frame = pd.DataFrame({"g": ["a"] * 50 + ["b"] * 10})
    groups = {"g": slices.slices(frame, [SliceSpec(column="g")])}
    doc = inclusion.document("binary", y, output, np.array(["0", "1"]), groups, 0.5, INTERVALS, 30)
    (entry,) = doc["columns"]
    assert entry["gaps"] == {} and entry["reason"] == "1 group(s) judged: no gap to measure"
    assert [g["judged"] for g in entry["groups"]] == [True, False]
    assert entry["groups"][1]["reason"] == "too small to judge: 10 rows, evaluate.slice_min_rows is 30"
    (rule,) = group_gap_rules(doc, {"g": {"equalized_odds_difference": 0.1}})
    assert rule.kind == "not compared" and rule.passed and "1 group(s) judged" in rule.reason
    (absent,) = group_gap_rules(doc, {"sex": {"equalized_odds_difference": 0.1}})
    assert absent.kind == "not compared" and absent.reason == "sex: not in evaluate.sensitive"
