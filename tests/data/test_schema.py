"""The data contract, on the project's own data and schema: valid data passes, and every kind of breakage
is reported at its column and row (corruptions follow each column's declared type, bounds and categories)."""

from __future__ import annotations

import math
import warnings

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings

from deploy.payload import InputSpec
from pipelines.core.data import default_csv
from pipelines.core.validation import DataValidationError
from pipelines.core.validation import validate as validate_against
from tests.helpers.project import CONTRACT, FEATURES

TARGET = CONTRACT.target
SPEC = InputSpec.from_schema(CONTRACT.inputs)

warnings.filterwarnings("ignore", module="pandera")
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def validate(frame: pd.DataFrame) -> tuple[pd.DataFrame, object]:
    return validate_against(frame, CONTRACT.raw)


def _failures(frame: pd.DataFrame) -> set[tuple[str, object]]:
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    return {(str(case["column"]), case["row"]) for case in info.value.report.cases}


def corruptions(column: str) -> dict[str, object]:
    """Values the contract forbids in `column`, from what it declares (bounds, categories, nullability)."""
    j = SPEC.names.index(column)
    bad: dict[str, object] = {}
    if SPEC.numeric[j]:
        bad["text"] = "n/a"
        if math.isfinite(SPEC.low[j]):
            bad["below its bound"] = SPEC.low[j] - max(1.0, abs(SPEC.low[j]))
        if math.isfinite(SPEC.high[j]):
            bad["above its bound"] = SPEC.high[j] + max(1.0, abs(SPEC.high[j]))
            bad["infinite"] = np.inf
    elif SPEC.allowed and SPEC.allowed[j] is not None:
        bad["unknown category"] = "\u2603 not a category"
    if not SPEC.nullable[j]:
        bad["missing"] = None
    return bad


CASES = [(column, kind) for column in FEATURES for kind in corruptions(column)]


def test_every_column_of_the_contract_has_something_it_refuses() -> None:
    """Otherwise the property below tests nothing for that column: say so rather than pass quietly."""
    assert CASES, "the contract forbids nothing in any input column"


def test_the_projects_data_satisfies_its_contract(project_frame: pd.DataFrame) -> None:
    validated, report = validate(project_frame)
    assert report.valid and report.rows == len(project_frame) > 0
    assert set(FEATURES) | {TARGET} <= set(validated.columns)


def test_the_default_dataset_bytes_are_stable() -> None:
    """Bootstrapping twice writes identical bytes, so the committed data.dvc hash always matches."""
    assert default_csv() == default_csv()


@SETTINGS
@given(start=st.integers(0, 10_000), row=st.integers(0, 7), case=st.sampled_from(CASES or [("", "")]))
def test_a_single_corrupted_cell_is_reported_at_its_column_and_row(
    project_frame: pd.DataFrame, start: int, row: int, case: tuple[str, str]
) -> None:
    column, kind = case
    if not column:
        return
    frame = project_frame.iloc[[(start + i) % len(project_frame) for i in range(8)]].reset_index(drop=True)
    frame = frame.astype({column: object})
    frame.loc[row, column] = corruptions(column)[kind]
    assert (column, row) in _failures(frame)


@SETTINGS
@given(frame=CONTRACT.inputs.strategy(size=6))
def test_rows_generated_from_the_input_schema_are_accepted_by_the_service_exactly_when_validate_accepts_them(
    frame: pd.DataFrame,
) -> None:
    """The service's input check (deploy/payload.InputSpec) and pandera agree on generated rows."""
    from deploy.payload import RequestError

    plain = frame.astype(object).where(frame.notna(), None)  # as a client sends JSON: null where missing
    rows = [[v.item() if hasattr(v, "item") else v for v in r] for r in plain.values.tolist()]
    try:
        validate_against(frame, CONTRACT.inputs)
        pandera_ok = True
    except DataValidationError:
        pandera_ok = False
    try:
        SPEC.to_matrix(rows)
        service_ok = True
    except RequestError:
        service_ok = False
    assert service_ok == pandera_ok


def test_validation_is_lazy_every_failure_in_every_column_is_listed(project_frame: pd.DataFrame) -> None:
    chosen = list({column: (column, kind) for column, kind in reversed(CASES)}.values())[:4]  # 4 columns
    frame = project_frame.head(20).reset_index(drop=True).astype({c: object for c, _ in chosen})
    for row, (column, kind) in enumerate(chosen):
        frame.loc[row * 3, column] = corruptions(column)[kind]
    frame.loc[19, TARGET] = None
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    report = info.value.report
    found = {(str(c["column"]), c["row"]) for c in report.cases}
    expected = {(column, row * 3) for row, (column, _) in enumerate(chosen)} | {(TARGET, 19)}
    assert expected <= found
    summary = report.summary()
    assert all(str(column) in summary for column, _ in expected)
    assert report.to_dict()["valid"] is False


def test_a_missing_and_an_extra_column_are_named(project_frame: pd.DataFrame) -> None:
    dropped = FEATURES[0]
    frame = project_frame.drop(columns=[dropped]).assign(**{"an unexpected column": "x"})
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    text = str(info.value.report.to_dict())
    assert dropped in text and "an unexpected column" in text


def test_an_empty_file_is_rejected(project_frame: pd.DataFrame) -> None:
    with pytest.raises(DataValidationError, match="at least one row"):
        validate(project_frame.head(0))


def test_a_huge_number_of_failures_is_capped_in_the_file_but_counted_in_full(project_frame: pd.DataFrame) -> None:
    column, kind = CASES[0]
    frame = pd.concat([project_frame] * 3, ignore_index=True).astype({column: object})
    frame[column] = [corruptions(column)[kind]] * len(frame)
    with pytest.raises(DataValidationError) as info:
        validate(frame)
    report = info.value.report.to_dict()
    counts = [c["count"] for c in report["failed_checks"] if str(c["column"]) == column]
    assert sum(counts) >= len(frame)
    assert len(report["failure_cases"]) <= 1000 and report["failure_cases_truncated"]


def test_every_model_input_has_an_approved_source_and_none_is_denied() -> None:
    """The contract's meta-level rules hold on the project's own schema (ML Test Score, data 4)."""
    assert CONTRACT.input_violations() == []


def test_an_input_on_the_deny_list_or_without_an_approved_source_is_named_with_the_reason() -> None:
    """Built to break: patient_id made an input while DENIED lists it, and an input from an unlisted source."""
    import pandera.pandas as pa

    from pipelines.core.contract import Contract, ContractError

    source = {"source": next(iter(CONTRACT.sources))} if CONTRACT.sources else {}
    inputs = {
        "patient_id": pa.Column(int, metadata={**source, "privacy": "personal"}),
        "scraped": pa.Column(float, metadata={"source": "a web scrape", "privacy": "internal"}),
        "plain": pa.Column(float, metadata={"privacy": "internal"}),
    }
    target = pa.Column(int, metadata={"privacy": "internal"})
    contract = Contract(
        pa.DataFrameSchema({**inputs, "y": target}), pa.DataFrameSchema(inputs), "y", "binary",
        sources=dict(CONTRACT.sources), denied={"patient_id": "identifier: unique per patient"},
    )  # fmt: skip
    found = contract.input_violations()
    assert found[0] == "patient_id is on the deny-list (DENIED): identifier: unique per patient"
    assert "scraped: source 'a web scrape' is not an approved source" in found[1]
    assert found[2].startswith("plain declares no upstream source")
    with pytest.raises(ContractError, match="patient_id is on the deny-list"):
        contract.check_inputs()


def test_every_raw_column_carries_a_privacy_tag() -> None:
    """A column without one is refused when the schema is read; the project's has one on each."""
    from pipelines.core.contract import PRIVACY

    assert all((c.metadata or {}).get("privacy") in PRIVACY for c in CONTRACT.raw.columns.values())
