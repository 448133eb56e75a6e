"""Slices (pipelines.core.slices) and the gate's rules on them (pipelines.core.gate.slice_rules): the model's
quality on each slice, with intervals; floors per slice; no slice worse than the base beyond its paired,
Bonferroni-corrected interval. On a binary, a multiclass and a regression table of the tests' table maker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipelines.core import slices
from pipelines.core.gate import slice_rules
from pipelines.core.params import GateParams, ParamsError, SliceSpec
from pipelines.core.tasks import task_spec
from tests.helpers.fitted import INTERVALS, fit_table

NO_BUDGETS = {"latency_us": None, "train_seconds": None, "train_mib": None}

# the table, its target, the column sliced, and the slice a deliberately bad model gets wrong
CASES = {
    "binary": ("diagnosis", SliceSpec(column="site"), "site=NA"),  # "NA" is Namibia: a value, not a missing one
    "multiclass": ("cultivar", SliceSpec(column="region"), None),
    "regression": ("progression", SliceSpec(column="age", edges=[42, 55]), "age>=55"),
}


def _gate(floors: dict[str, dict[str, float]] | None = None, rule: str = "no_worse", **regression: float) -> Any:
    rules = {"floors": {}, "max_regression": regression, "regression_rule": {}, "baseline_rule": "off"}
    return GateParams.model_validate({**rules, "slice_floors": floors or {}, "slice_rule": rule, "max_group_gap": {},
                                "feature_rule": "off", "feature_budgets": NO_BUDGETS})  # fmt: skip


def test_bins_values_and_missing_values_each_make_a_named_slice() -> None:
    frame = pd.DataFrame({"age": [20, 35, np.nan, 60, 45], "site": ["NA", "DE", None, "NA", "FR"]})
    found = slices.slices(frame, [SliceSpec(column="age", edges=[30, 45.5]), SliceSpec(column="site")])
    names = {s.name: s.mask.tolist() for s in found}
    assert list(names) == ["age<30", "30<=age<45.5", "age>=45.5", "age=missing",
                           "site=DE", "site=FR", "site=NA", "site=missing"]  # fmt: skip
    assert names["30<=age<45.5"] == [False, True, False, False, True]  # 45 is below 45.5; 30 would be in
    assert names["site=NA"] == [True, False, False, True, False] and names["site=missing"][2]
    assert slices.bin_names("x", [1.0]) == ["x<1", "x>=1"]
    # a bin without rows is left out rather than reported empty
    assert [s.name for s in slices.slices(frame, [SliceSpec(column="age", edges=[100])])] == ["age<100", "age=missing"]


def test_a_column_with_too_many_values_edges_on_text_and_an_unknown_column_are_refused_by_name() -> None:
    many = pd.DataFrame({"id": range(slices.MAX_VALUES + 1)})
    with pytest.raises(ParamsError, match=r"'id' has 21 distinct values.*give it edges"):
        slices.slices(many, [SliceSpec(column="id")])
    raw = {"site": SimpleNamespace(dtype="str"), "age": SimpleNamespace(dtype="float64")}
    with pytest.raises(ParamsError, match=r"'site' has edges but is not numeric.*'region' is not a column"):
        slices.check_columns([SliceSpec(column="site", edges=[1]), SliceSpec(column="region")], raw)
    slices.check_columns([SliceSpec(column="age", edges=[1, 2]), SliceSpec(column="site")], raw)
    with pytest.raises(ValueError, match="must increase strictly"):
        SliceSpec(column="age", edges=[3, 3])


def test_a_small_slice_or_one_missing_a_class_is_reported_with_the_reason_and_not_judged() -> None:
    y = np.array(["a"] * 40 + ["b"] * 40)
    classes = np.array(["a", "b"])
    small, one_class, both = np.arange(80) < 5, np.arange(80) < 40, np.arange(80) >= 20
    assert slices.why_not_judged(y, small, 30, classes) == "too small to judge: 5 rows, evaluate.slice_min_rows is 30"
    assert slices.why_not_judged(y, one_class, 30, classes) == "not judged: no row of class b in it"
    assert slices.why_not_judged(y, both, 30, classes) is None
    assert slices.why_not_judged(np.zeros(80), small, 3, None) is None  # a number has no classes to miss
    assert slices.bonferroni(0.95, 5) == pytest.approx(0.99) and slices.bonferroni(0.9, 0) == 0.9


@pytest.mark.parametrize("kind", list(CASES))
def test_a_model_bad_on_one_slice_fails_on_that_slice_alone_and_the_same_model_passes(kind: str) -> None:
    task, good, prior, test, y = fit_table(kind, CASES[kind][0])
    _, spec, bad_slice = CASES[kind]
    primary = task_spec(task).primary
    classes = None if task == "regression" else np.array(sorted(set(y)))
    found = slices.slices(test, [spec])
    judged = [s for s in found if slices.why_not_judged(y, s.mask, 30, classes) is None]
    assert len(judged) >= 2, [(s.name, int(s.mask.sum())) for s in found]
    bad_slice = bad_slice or judged[0].name
    mask = next(s.mask for s in found if s.name == bad_slice)
    # the bad model: the good one's outputs, except on one slice, where it says the constant it learnt
    bad = np.where(mask[:, None], prior, good) if good.ndim == 2 else np.where(mask, prior, good)

    doc = slices.document(task, y, good, classes, found, 0.5, INTERVALS, 30)
    assert [e["slice"] for e in doc["slices"]] == [s.name for s in found]
    entry = next(e for e in doc["slices"] if e["slice"] == bad_slice)
    assert entry["judged"] and entry["intervals"][primary]["low"] <= entry["metrics"][primary]
    same = slices.paired_slices(task, y, good, good, classes, found, 0.5, INTERVALS, 30, primary)
    assert all(d["difference"] == 0.0 for d in same.values() if "difference" in d)
    assert [d["level"] for d in same.values() if "level" in d] == [
        pytest.approx(1 - 0.05 / len(judged), abs=1e-6)
    ] * len(judged)
    held = slice_rules(doc, same, "paired", _gate(), primary)
    assert held and all(r.passed for r in held), [r.reason for r in held if not r.passed]

    worse = slices.paired_slices(task, y, bad, good, classes, found, 0.5, INTERVALS, 30, primary)
    rules = slice_rules(slices.document(task, y, bad, classes, found, 0.5, INTERVALS, 30), worse, "paired",
                        _gate(), primary)  # fmt: skip
    failed = [r for r in rules if not r.passed]
    assert [(r.kind, r.scope) for r in failed] == [("slice regression", bad_slice)], [r.reason for r in rules]
    assert failed[0].reason.startswith(f"slice {bad_slice}: {primary} is worse than the base's beyond its paired")

    # a floor on the slice, set just under the good model's value, passes it and fails the bad one
    floor = {bad_slice: {primary: round(entry["metrics"][primary] - 0.05, 4)}}
    assert all(r.passed for r in slice_rules(doc, None, "unpaired", _gate(floor), primary))
    bad_doc = slices.document(task, y, bad, classes, found, 0.5, INTERVALS, 30)
    floored = [r for r in slice_rules(bad_doc, None, "unpaired: the data changed", _gate(floor), primary)]
    assert [(r.kind, r.scope, r.passed) for r in floored] == [
        ("slice floor", bad_slice, False), ("not compared", "every slice", True)]  # fmt: skip
    assert "unpaired: the data changed" in floored[1].reason


def test_a_floor_on_a_slice_too_small_or_unknown_is_not_compared_and_off_judges_no_regression() -> None:
    doc = {"level": 0.95, "min_rows": 30, "slices": [
        {"column": "site", "slice": "site=DE", "rows": 12, "judged": False, "metrics": {}, "intervals": {},
         "reason": "too small to judge: 12 rows, evaluate.slice_min_rows is 30"},
        {"column": "site", "slice": "site=FR", "rows": 80, "judged": True, "reason": None,
         "metrics": {"roc_auc": 0.91, "log_loss": None}, "intervals": {}}]}  # fmt: skip
    floors = {"site=DE": {"roc_auc": 0.9}, "site=XX": {"roc_auc": 0.9}, "site=FR": {"roc_auc": 0.95}}
    paired = {"site=FR": {"difference": -0.2, "low": -0.3, "high": -0.1, "level": 0.95, "rows": 80}}
    rules = slice_rules(doc, paired, "paired", _gate(floors, "off"), "roc_auc")
    assert [(r.kind, r.scope, r.passed) for r in rules] == [
        ("not compared", "site=DE", True),
        ("not compared", "site=XX", True),
        ("slice floor", "site=FR", False),
    ]
    assert "too small to judge: 12 rows" in rules[0].reason and "evaluate reported no such slice" in rules[1].reason
    assert rules[2].reason == "slice site=FR: roc_auc = 0.9100 is below the floor 0.9500"
    # max_regression on the primary metric widens what no_worse tolerates
    assert not slice_rules(doc, paired, "paired", _gate(), "roc_auc")[-1].passed
    assert slice_rules(doc, paired, "paired", _gate(roc_auc=0.15), "roc_auc")[-1].passed
    assert slice_rules(None, None, "no base", _gate(), "roc_auc") == []


def test_a_rule_that_could_never_judge_is_refused_by_name_and_a_sensitive_spec_is_named_as_such() -> None:
    """A typo in a slice name or a sensitive column would otherwise turn the rule off silently."""
    specs = [SliceSpec(column="age", edges=[34, 47]), SliceSpec(column="region")]
    slices.check_rules(specs, [SliceSpec(column="sex")], {"age<34": {}, "34<=age<47": {}, "age=missing": {},
                                                          "region=North": {}}, {"sex": {}})  # fmt: skip
    with pytest.raises(ParamsError, match=r"'age<35' is not a slice evaluate.slices makes.*'gendr' is not a column of "
                       r"evaluate.sensitive \(sex\)"):  # fmt: skip
        slices.check_rules(specs, [SliceSpec(column="sex")], {"age<35": {}}, {"gendr": {}})
    with pytest.raises(ParamsError, match=r"'sex=f' is not a slice"):
        slices.check_rules(specs, [], {"sex=f": {}}, {})
    raw = {"gender": SimpleNamespace(dtype="str")}
    with pytest.raises(ParamsError, match=r"^evaluate.sensitive: 'gender' is named twice; 'gender' has edges"):
        slices.check_columns(
            [SliceSpec(column="gender", edges=[1]), SliceSpec(column="gender")], raw, "evaluate.sensitive"
        )
    with pytest.raises(ParamsError, match=r"^evaluate.sensitive: 'id' has 21 distinct values"):
        slices.slices(pd.DataFrame({"id": range(21)}), [SliceSpec(column="id")], "evaluate.sensitive")
