"""init's pure parts: task inference, bounds, floors, file edits, and the template record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.core.gate import check
from pipelines.core.params import GateParams
from pipelines.core.params_jobs import FeatureBudgets
from pipelines.core.tasks import task_spec
from pipelines.template import edits, floors, infer, record

NO_BUDGETS = FeatureBudgets(latency_us=None, train_seconds=None, train_mib=None)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1] * 20, "binary"),
        (["no", "yes", "yes"] * 10, "binary"),
        ([0, 1, 2] * 10, "multiclass"),
        (["a", "b", "c", "d"] * 5, "multiclass"),
        (list(np.linspace(0, 1, 40)), "regression"),
        (list(range(100)), "regression"),  # whole numbers, but too many to be labels
    ],
)
def test_the_task_follows_the_target(values: list, task: str) -> None:
    assert infer.infer_task(pd.Series(values, name="y")) == task


def test_a_constant_target_is_refused_by_name() -> None:
    with pytest.raises(infer.InitError, match="'y' has 1 distinct value"):
        infer.infer_task(pd.Series([3] * 10, name="y"))


def test_bounds_are_loose_and_keep_zero_for_non_negative_columns() -> None:
    assert infer._bounds(pd.Series([1.0, 5.0])) == (0.0, 10.0)
    low, high = infer._bounds(pd.Series([-2.0, 3.0]))
    assert low <= -7.0 and high >= 8.0


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_first_models_scores_pass_the_floors_derived_from_them(task: str) -> None:
    """Floors sit below (ceilings above) the first model's scores, on the task's metrics only."""
    scores = {m: (0.8 if m not in ("rmse", "mae", "log_loss") else 12.0) for m in task_spec(task).metrics}
    minimums, regression, production = floors.floors_for(scores, task)
    assert set(minimums) <= set(task_spec(task).metrics) and set(production) <= set(regression)
    assert check(
        scores,
        scores,
        GateParams(
            floors=minimums,
            max_regression=regression,
            regression_rule={},
            baseline_rule="off",
            slice_floors={},
            slice_rule="off",
            max_group_gap={},
            feature_rule="off",
            feature_budgets=NO_BUDGETS,
        ),
    ).passed


def test_environment_names_are_replaced_as_whole_words_only() -> None:
    text = "branches: [staging, production]\nstaging-notes: productionise\n--env staging"
    out = edits.rename_environments(text, ["staging", "production"], ["qa", "live"])
    assert out == "branches: [qa, live]\nstaging-notes: productionise\n--env qa"


def test_the_dvc_remote_is_written_in_dvcs_layout() -> None:
    out = edits.edit_dvc_config("[core]\n    analytics = false\n", "s3://bucket/dvc")
    assert (
        out
        == "[core]\n    analytics = false\n    remote = storage\n['remote \"storage\"']\n    url = s3://bucket/dvc\n"
    )


def test_the_template_record_matches_the_files_init_owns() -> None:
    """Template maintainers: after editing a file init owns, `make template-record` refreshes this."""
    recorded = yaml.safe_load((ROOT / record.RECORD).read_text())
    if recorded["initialised"]:
        pytest.skip("this project was set up by init; the record now guards its own edits")
    assert record.diverged(ROOT, recorded) == [], "run `make template-record`"


def _inferred(frame: pd.DataFrame, target: str, keep: frozenset[str] = frozenset()) -> infer.Inferred:
    return infer.infer_columns(frame, target, infer.infer_task(frame[target]), keep)


def test_identifiers_and_timestamps_are_left_out_of_the_inputs_and_continuous_floats_are_kept() -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "customer_id": np.arange(5000, 5000 + n),  # whole numbers, all distinct, named like an id
        "order": rng.permutation(n) + 1,  # all distinct and consecutive: a row number
        "token": [f"u-{i:05d}-{rng.integers(1e6)}" for i in range(n)],  # text, one value per row
        "signed_up": pd.date_range("2024-01-01", periods=n, freq="h").strftime("%Y-%m-%d %H:%M"),
        "income": rng.normal(50_000, 9_000, n),  # continuous: every value distinct, still a feature
        "visits": rng.integers(0, 900, n),  # whole numbers, many distinct, neither id-named nor consecutive
        "plan": rng.choice(["a", "b"], n),
        "truck_id": rng.choice([f"T{i:03d}" for i in range(140)], n),  # text named like an id, 140 values
        "store_id": rng.choice([f"S{i}" for i in range(12)], n),  # named like an id, but a few categories
        "y": rng.choice(["no", "yes"], n),
    })  # fmt: skip
    inferred = _inferred(frame, "y")
    assert {c.name for c in inferred.features} == {"income", "visits", "plan", "store_id"}
    assert set(inferred.reasons) == {"customer_id", "order", "token", "signed_up", "truck_id"}
    assert inferred.reasons["truck_id"].startswith("an identifier (1")
    assert inferred.timestamps == ["signed_up"] and "timestamp" in inferred.reasons["signed_up"]
    contract = infer.contract_for(inferred, "binary")
    assert set(contract.raw.columns) == set(frame.columns) and "customer_id" not in contract.features
    contract.raw.validate(frame)  # the left-out columns stay in the raw schema: the data still passes it
    # a later batch written with seconds (`to_csv` of a typed frame) still parses: formats may mix across files
    later = frame.assign(signed_up=pd.to_datetime(frame["signed_up"]).astype(str))
    assert contract.raw.validate(pd.concat([frame, later], ignore_index=True))["signed_up"].notna().all()
    kept = _inferred(frame, "y", frozenset({"customer_id"}))
    assert "customer_id" in {c.name for c in kept.features}


def test_column_names_that_cannot_be_told_apart_are_refused_in_one_line() -> None:
    with pytest.raises(infer.InitError, match=r"column name\(s\) used more than once: 'a'"):
        infer.check_names(["a", "b", "a"])
    with pytest.raises(infer.InitError, match=r"column\(s\) 2 \(counting from 1\) have no name"):
        infer.check_names(["a", " ", "c"])


@pytest.mark.parametrize(
    "name", ["class", "2nd value", "área (m²)", "validate", "Config", "columns", "dtypes", "a-b.c", "_private"]
)
def test_unusual_column_names_get_a_valid_schema_attribute_and_keep_their_name(name: str, tmp_path: Path) -> None:
    """The generated schema module imports, and its contract names the real columns (alias) in order."""
    import importlib.util
    import sys

    from pipelines.core.contract import Contract
    from pipelines.template import codegen

    rng = np.random.default_rng(1)
    frame = pd.DataFrame({name: rng.normal(size=60), "other": rng.normal(size=60), "y": rng.choice([0, 1], 60)})
    inferred = _inferred(frame, "y")
    path = tmp_path / "generated_schema.py"
    path.write_text(codegen.render_schema(inferred, "binary", "t.csv", 60))
    module_name = f"generated_schema_{abs(hash(name))}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    try:
        loader.loader.exec_module(module)
        contract = Contract.from_module(module)
    finally:
        del sys.modules[module_name]
    assert contract.features == [name, "other"]
    contract.raw.validate(frame)


def test_missing_value_markers_are_kept_as_values_and_reported() -> None:
    frame = pd.DataFrame({"country": ["NA", "ZA", "None", "BW"], "x": [1.0, 2.0, 3.0, 4.0]})
    assert infer.missing_markers(frame) == {"country": {"NA": 1, "None": 1}}


def test_a_class_too_small_for_a_holdout_is_named_with_its_count_and_the_minimum() -> None:
    from pipelines.core.data import DataError, split

    y = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"], name="label")
    with pytest.raises(infer.InitError, match=r"target 'label': 'c' has 1 row\(s\); each class needs at least 5"):
        infer.check_classes(y, 0.2)
    frame = pd.DataFrame({"x": range(len(y)), "label": y})
    with pytest.raises(DataError, match="'c' has 1 row"):
        split(frame, 0.2, 0, True, "multiclass", "label")


def test_a_time_ordered_split_holds_out_the_newest_rows() -> None:
    from pipelines.core.data import split

    frame = pd.DataFrame({"when": pd.date_range("2024-01-01", periods=100, freq="D")[::-1], "y": [0, 1] * 50})
    train, test = split(frame, 0.2, 0, False, "binary", "y", order_by="when")
    assert len(test) == 20 and test["when"].min() > train["when"].max()


@pytest.mark.example  # edits the template's params.yaml as shipped (its classifier sections)
def test_on_an_imbalanced_target_a_model_that_predicts_only_the_majority_fails_the_floors_init_writes() -> None:
    """2.4% positives: init switches to balanced class weights and keeps floors above the trivial model's scores."""
    from pipelines.adapters.params import estimators
    from pipelines.core.params import parse_params
    from pipelines.template.plan import Options
    from tests.tables import imbalanced

    frame = imbalanced()
    assert floors.imbalance(frame["churned"]) == pytest.approx(0.024)
    inferred = _inferred(frame, "churned")
    contract = infer.contract_for(inferred, "binary")
    setup = edits.Setup("binary", balanced=True)
    zeros = dict.fromkeys(task_spec("binary").gated, 0.0)
    text = edits.edit_params((ROOT / "params.yaml").read_text(), Options(name="churn"), setup, (zeros, zeros, zeros))
    params = parse_params(yaml.safe_load(text), "params.yaml", estimators())
    assert params.train.sections()["logistic_regression"]["class_weight"] == "balanced"
    scores, trivial = floors.first_scores(frame, contract, params)
    minimums, regression, _ = floors.floors_for(scores, "binary", trivial, weighted=True)
    rules = GateParams(
        floors=minimums,
        max_regression=regression,
        regression_rule={},
        baseline_rule="simpler_not_better",
        slice_floors={},
        slice_rule="off",
        max_group_gap={},
        feature_rule="off",
        feature_budgets=NO_BUDGETS,
    )
    assert check(scores, None, rules).passed, "the first model must pass its own floors"
    assert not check(trivial, None, rules).passed, f"the majority-only model passes {minimums}"
    assert minimums["recall"] > 0.0 and minimums["average_precision"] > trivial["average_precision"]
    # weighted probabilities are worse than the priors by design: a log-loss ceiling could not bind, so none
    assert scores["log_loss"] > trivial["log_loss"] and "log_loss" not in minimums and "log_loss" not in regression
    unweighted, _, _ = floors.floors_for(scores, "binary", trivial)
    assert "log_loss" in unweighted  # (which is the ceiling the trivial model passes: 0.68 above 0.11)
    assert unweighted["log_loss"] > trivial["log_loss"]
    behind = floors.without_lead({**scores, "f1": trivial["f1"]}, trivial, floors.gated_metrics("binary", True))
    assert behind == ["f1"]  # every metric with no lead is named, not the primary one only


@pytest.mark.example  # edits the template's params.yaml as shipped (its classifier sections)
def test_on_an_imbalanced_target_every_estimator_that_weighs_classes_gets_balanced_weights() -> None:
    """Walks the registry: a classifier whose scikit-learn estimator takes class_weight must take it from
    params.yaml too, and init's balanced setup sets it on each (a new estimator cannot be missed)."""
    from pipelines.adapters.params import estimators
    from pipelines.core.params import parse_params
    from pipelines.template.plan import Options

    zeros = dict.fromkeys(task_spec("binary").gated, 0.0)
    text = edits.edit_params(
        (ROOT / "params.yaml").read_text(), Options(name="churn"), edits.Setup("binary", balanced=True),
        (zeros, zeros, zeros),
    )  # fmt: skip
    params = parse_params(yaml.safe_load(text), "params.yaml", estimators())
    weighing = []
    for name, entry in estimators().items():
        if "binary" not in entry.tasks:
            continue
        section = params.train.sections()[name]
        built = entry.build(entry.params(**section), "binary", 0)
        if "class_weight" in built.get_params():
            weighing.append(name)
            assert "class_weight" in entry.params.model_fields, f"train.{name} cannot set class_weight"
            assert built.get_params()["class_weight"] == "balanced", f"init left train.{name} unweighted"
    assert {"logistic_regression", "random_forest", "hist_gradient_boosting"} <= set(weighing)


@pytest.mark.example  # edits the template's params.yaml as shipped
def test_comments_init_keeps_stay_true_for_a_regression() -> None:
    from pipelines.template.plan import Options

    zeros = dict.fromkeys(task_spec("regression").gated, 0.0)
    text = edits.edit_params(
        (ROOT / "params.yaml").read_text(), Options(name="r"), edits.Setup("regression"), (zeros, zeros, zeros)
    )
    split_lines = [line for line in text.splitlines() if line.strip().startswith("stratify:")]
    assert split_lines and "class balance" not in split_lines[0] and "no classes" in split_lines[0]
    assert "binary tasks only" in next(line for line in text.splitlines() if line.strip().startswith("threshold:"))


def test_an_s3_compatible_remote_gets_its_endpoint_and_no_credentials() -> None:
    out = edits.edit_dvc_config("", "s3://mlops/dvc", "http://minio:9000")
    assert "url = s3://mlops/dvc" in out and "endpointurl = http://minio:9000" in out
    assert "secret" not in out and "access_key" not in out


def test_init_refuses_infinite_and_too_large_numbers_in_one_line_and_names_almost_numeric_text() -> None:
    """A traceback from the first fit before: now one line naming the columns and a row, never a value."""
    frame = pd.DataFrame({"a": [1.0, np.inf, 2.0], "b": [1, 2, 3], "c": [1e308, 1.0, 2.0]})
    with pytest.raises(infer.InitError, match=r"^infinite or too large numbers .* in 'a' \(1 row\(s\), e\.g\. row 2\), "
                                              r"'c' \(1 row\(s\), e\.g\. row 1\)"):  # fmt: skip
        infer.check_numbers(frame)
    infer.check_numbers(frame.drop(columns=["a", "c"]))  # whole and finite: nothing to say
    text = pd.DataFrame({"x": [str(i) for i in range(98)] + ["oops", "oops"], "plan": ["a", "b"] * 50})
    assert infer.almost_numbers(text) == {"x": (2, 99)}
    mixed = pd.Series(["2024-01-01", "01/02/2024", "2024-03-05 10:00"] * 10)  # formats mixed over time
    assert infer._is_timestamp(mixed)


@pytest.mark.example  # edits the template's params.yaml as shipped
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("binary", ["site", "Radius (mm)"]), ("multiclass", ["cask", "Alcohol (%)"]), ("regression", ["sex", "age"])],
)
def test_init_proposes_slices_the_holdout_can_judge_and_floors_the_first_model_passes(
    kind: str, expected: list[str]
) -> None:
    """Text columns with a few well-filled values, then one number (an age first) at quantile edges; each
    judged slice gets a floor on the primary metric at or below the first model's value there and above the
    trivial model's."""
    from pipelines.adapters.params import estimators
    from pipelines.core import slices
    from pipelines.core.params import parse_params
    from pipelines.template import slicing
    from pipelines.template.plan import Options
    from tests.tables import TABLES, TARGETS

    frame, target = TABLES[kind](), TARGETS[kind]
    inferred = _inferred(frame, target)
    task = infer.infer_task(frame[target])
    contract = infer.contract_for(inferred, task)
    zeros = dict.fromkeys(task_spec(task).gated, 0.0)
    text = edits.edit_params((ROOT / "params.yaml").read_text(), Options(name=kind), edits.Setup(task),
                             (zeros, zeros, zeros))  # fmt: skip
    params = parse_params(yaml.safe_load(text), "params.yaml", estimators())
    assert params.evaluate.slices == [] and params.gate.slice_floors == {}  # none proposed: none written
    fit = floors.first_fit(frame, contract, params)
    specs = slicing.propose(fit, inferred, params.evaluate.slice_min_rows)
    assert [s.column for s in specs] == expected
    assert specs[-1].edges and all(float(f"{e:.3g}") == e for e in specs[-1].edges)
    proposed, lines = slicing.slice_floors(fit, contract, params, specs)
    assert proposed and len(lines) == len(slices.slices(fit.test, specs))
    primary = task_spec(task).primary
    for name, rules in proposed.items():
        mask = next(s.mask for s in slices.slices(fit.test, specs) if s.name == name)
        first, trivial = floors.scores_of(fit, contract, params.evaluate.threshold, mask)
        assert trivial[primary] < rules[primary] <= first[primary], (name, rules, first[primary], trivial[primary])
