"""The data contract: valid data passes, and every kind of breakage is reported where it is."""

from __future__ import annotations

import warnings

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from pipelines.core.data import default_csv, default_dataset
from pipelines.core.validation import DataValidationError
from pipelines.core.validation import validate as validate_against
from pipelines.yours.schema import RawData
from tests.conftest import CONTRACT, FEATURES

TARGET = CONTRACT.target


def validate(frame: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    return validate_against(frame, CONTRACT.raw)


# asserts columns and numbers of the bundled breast-cancer example
pytestmark = pytest.mark.example

warnings.filterwarnings("ignore", module="pandera")
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _failures(frame: pd.DataFrame) -> set[tuple[str, object]]:
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    return {(case["column"], case["row"]) for case in info.value.report.cases}


def test_the_default_dataset_satisfies_the_schema() -> None:
    validated, report = validate(default_dataset())
    assert report.valid and report.rows == 569
    assert list(validated.columns) == [*FEATURES, TARGET]


def test_the_default_dataset_bytes_are_stable() -> None:
    """Bootstrapping twice writes identical bytes, so the committed data.dvc hash always matches."""
    assert default_csv() == default_csv()


@SETTINGS
@given(RawData.strategy(size=5))
def test_data_generated_from_the_schema_passes_it(frame: pd.DataFrame) -> None:
    validate(frame)


CORRUPTIONS = {
    "negative": -1.0,
    "too large": 1e9,
    "infinite": np.inf,
    "missing": np.nan,
    "text": "n/a",
}


@SETTINGS
@given(
    frame=RawData.strategy(size=8),
    row=st.integers(0, 7),
    column=st.sampled_from(FEATURES),
    kind=st.sampled_from(sorted(CORRUPTIONS)),
)
def test_a_single_corrupted_cell_is_reported_at_its_column_and_row(
    frame: pd.DataFrame, row: int, column: str, kind: str
) -> None:
    frame = frame.astype({column: object})
    frame.loc[row, column] = CORRUPTIONS[kind]
    assert (column, row) in _failures(frame)


def test_validation_is_lazy_every_failure_in_every_column_is_listed() -> None:
    frame = default_dataset().astype({"mean_area": object})
    frame.loc[0, "mean_radius"] = -3.0
    frame.loc[5, "mean_area"] = "big"
    frame.loc[7, "worst_symmetry"] = np.nan
    frame.loc[9, TARGET] = 7
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    report = info.value.report
    found = {(c["column"], c["row"]) for c in report.cases}
    assert {("mean_radius", 0), ("mean_area", 5), ("worst_symmetry", 7), (TARGET, 9)} <= found
    assert {c["column"] for c in report.checks} >= {"mean_radius", "mean_area", "worst_symmetry", TARGET}
    summary = report.summary()
    for column in ("mean_radius", "mean_area", "worst_symmetry", TARGET):
        assert column in summary
    assert report.to_dict()["valid"] is False


def test_a_missing_and_an_extra_column_are_named() -> None:
    frame = default_dataset().drop(columns=["mean_radius"]).assign(patient_name="x")
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    text = str(info.value.report.to_dict())
    assert "mean_radius" in text and "patient_name" in text


def test_an_empty_file_is_rejected() -> None:
    with pytest.raises(DataValidationError, match="at least one row"):
        validate(default_dataset().head(0))


def test_a_huge_number_of_failures_is_capped_in_the_file_but_counted_in_full() -> None:
    frame = default_dataset()
    frame["mean_radius"] = -1.0
    with pytest.raises(DataValidationError) as info:
        validate(pd.concat([frame] * 3, ignore_index=True))
    report = info.value.report.to_dict()
    (check,) = [c for c in report["failed_checks"] if c["column"] == "mean_radius"]
    assert check["count"] == 3 * 569
    assert len(report["failure_cases"]) <= 1000 and report["failure_cases_truncated"]
