"""A column tagged personal, writer by writer, without a pipeline run: its values never reach the validation report,
the profile, the model's input example, the drift reference, the prediction log's rows, a slice name or the pull
request's data section; only counts and shares do (docs/OPERATIONS.md, Privacy). The end-to-end walk over every
file a project writes is tests/integration/test_init.py::test_no_raw_personal_value_leaves_the_data_and_the_model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from deploy.payload import InputSpec
from pipelines.core import privacy
from pipelines.core.contract import Contract, ContractError
from pipelines.core.data import DataChange, profile
from pipelines.core.drift import monitored, reference_profile
from pipelines.core.params import ParamsError, SliceSpec
from pipelines.core.reports import _data_section
from pipelines.core.slices import MAX_PERSONAL_VALUES, check_personal
from pipelines.core.validation import DataValidationError, validate

PERSONAL, INTERNAL = {"privacy": "personal"}, {"privacy": "internal"}
INCOME = [123456.789012 + i * 1.000001 for i in range(40)]  # nine significant digits and more: unmistakable


def _schema() -> pa.DataFrameSchema:
    return pa.DataFrameSchema({
        "income": pa.Column(float, pa.Check.le(200000.0), nullable=True, metadata=PERSONAL),
        "postcode": pa.Column(str, metadata=PERSONAL),
        "plan": pa.Column(str, pa.Check.isin(["basic", "pro"]), metadata=INTERNAL),
    }, strict=True, coerce=True)  # fmt: skip


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "income": INCOME,
        "postcode": [f"PII-{i:04d}" for i in range(40)],  # one row each: no group can stand in for them
        "plan": ["basic", "pro"] * 20,
    })  # fmt: skip


def _leaks(text: str) -> list[str]:
    return [v for v in [*map(repr, INCOME), *(f"{x:.6g}" for x in INCOME), "PII-"] if v in text]


def test_the_validation_report_withholds_a_personal_columns_values_and_keeps_its_rows() -> None:
    frame = _frame()
    frame.loc[3, "income"] = 987654.321098  # above the bound: one person's value in a failure case
    frame.loc[5, "plan"] = "gold"
    with pytest.raises(DataValidationError) as failed:
        validate(frame, _schema())
    report = failed.value.report
    income = next(c for c in report.checks if c["column"] == "income")
    assert income["rows"] == [3] and income["values"] == [privacy.WITHHELD]
    assert next(c for c in report.checks if c["column"] == "plan")["values"] == ["gold"]  # not personal: shown
    assert "987654" not in str(report.to_dict()) + report.summary()


def test_the_profile_of_a_personal_column_is_its_missing_rate_only() -> None:
    frame = _frame()
    frame.loc[0, "income"] = np.nan
    found = profile(frame, ["income", "postcode"])
    assert found["income"] == {"privacy": "personal", "missing_rate": 0.025}
    assert found["postcode"] == {"privacy": "personal", "missing_rate": 0.0}
    assert "top" in found["plan"] and _leaks(str(found)) == []


def test_the_input_example_stands_in_aggregates_the_contract_accepts_for_personal_columns() -> None:
    schema, frame = _schema(), _frame()
    example = privacy.masked_example(frame.head(5), frame, schema)
    assert _leaks(example.to_json()) == []
    assert set(example["income"]) == {float(f"{np.median(INCOME):.2g}")} and example["income"].dtype == float
    assert set(example["postcode"]) == {privacy.PLACEHOLDER}  # no value is held by MIN_GROUP_ROWS rows
    assert example["plan"].tolist() == frame["plan"].head(5).tolist()  # internal: as it was
    spec = InputSpec.from_schema(schema)
    spec.to_matrix(example.astype(object).values.tolist())  # the service (and the smoke test) accept it
    groups = pd.Series(["north"] * 12 + ["south"] * 3)
    assert privacy.placeholder(groups, pa.Column(str, metadata=PERSONAL)) == "north"  # a group, not a person
    assert privacy.placeholder(pd.Series(["a", "b"]), pa.Column(str, pa.Check.isin(["b", "a"]))) == "a"
    assert privacy.placeholder(pd.Series([900, 1000, 1100]), pa.Column(int, pa.Check.le(950))) == 950
    assert privacy.placeholder(pd.Series([np.nan]), pa.Column(float, nullable=True)) is None


def test_the_drift_reference_leaves_personal_inputs_out_and_the_monitor_names_them() -> None:
    frame = _frame()
    reference = reference_profile(frame, ["income"], ["postcode", "plan"], 10, 5, ["income", "postcode"])
    assert set(reference["features"]) == {"plan"}
    assert reference["not_monitored"] == {"income": "personal", "postcode": "personal"}
    assert _leaks(str(reference)) == []
    before = reference_profile(frame, ["income"], ["plan"], 10, 5)  # written before income was tagged
    assert "not_monitored" not in before  # the example's reference.json keeps its bytes
    kept, skipped = monitored(before, ["income"])
    assert set(kept["features"]) == {"plan"} and skipped == {"income": "personal"}


def test_the_prediction_log_keeps_every_input_but_the_personal_ones() -> None:
    spec = InputSpec.from_schema(_schema())
    assert spec.withheld == ("income", "postcode")
    rows = [[INCOME[0], "PII-0001", "basic"]]
    assert spec.loggable(rows) == (("plan",), [["basic"]])
    plain = InputSpec.from_schema(pa.DataFrameSchema({"plan": pa.Column(str, metadata=INTERNAL)}))
    assert plain.loggable(rows) == (("plan",), rows)  # nothing withheld: the rows as they came


def test_a_slice_per_value_of_a_personal_column_with_many_values_is_refused() -> None:
    frame = pd.DataFrame({"age": np.arange(40) % (MAX_PERSONAL_VALUES + 1), "sex": ["f", "m"] * 20})
    check_personal([SliceSpec(column="sex"), SliceSpec(column="age", edges=[5.0])], frame, ["age", "sex"])
    with pytest.raises(ParamsError, match=r"evaluate.sensitive: 'age' is personal and has 11 distinct values"):
        check_personal([SliceSpec(column="age")], frame, ["age"], "evaluate.sensitive")
    check_personal([SliceSpec(column="age")], frame, [])  # not personal: MAX_VALUES still applies elsewhere


def test_a_personal_target_is_refused() -> None:
    columns = {"x": pa.Column(float, metadata=INTERNAL)}
    with pytest.raises(ContractError, match="TARGET = 'salary' is tagged personal"):
        Contract(pa.DataFrameSchema({**columns, "salary": pa.Column(float, metadata=PERSONAL)}),
                 pa.DataFrameSchema(columns), "salary", "regression")  # fmt: skip


def test_the_pull_request_names_personal_columns_and_shows_no_distribution_of_them() -> None:
    was = profile(_frame(), ["income", "postcode"])
    changed = _frame().assign(income=lambda f: f["income"] * 2)
    section = _data_section(DataChange(rows_before=40, rows_after=40, valid=True, profile_before=was,
                                       profile_after=profile(changed, ["income", "postcode"])))  # fmt: skip
    assert "not profiled beyond their missing rate: `income`, `postcode`" in section
    assert "| `income`" not in section and _leaks(section) == []


def test_init_lists_no_values_of_a_personal_text_column_when_a_value_is_rare() -> None:
    from pipelines.template.infer import infer_columns

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "x": rng.normal(size=120), "zip": rng.choice(["10115", "10117", "99999"], 120, p=[0.5, 0.48, 0.02]),
        "sex": ["female", "male"] * 60, "plan": rng.choice(["basic", "pro"], 120), "y": rng.integers(0, 2, 120),
    })  # fmt: skip
    columns = {c.name: c for c in (lambda i: [*i.features, *i.others])(infer_columns(frame, "y", "binary"))}
    assert columns["zip"].privacy == "personal" and columns["zip"].categories is None  # 99999: two people
    assert columns["sex"].privacy == "personal" and columns["sex"].categories == ["female", "male"]
    assert columns["plan"].privacy == "internal" and columns["plan"].categories == ["basic", "pro"]
