"""Outcomes go through one rule at every entry point: `/feedback`, `feedback import` and ingest accept what
`validate` accepts for the target (pandera's coercion to its type, never changing a value) and refuse the
rest with one line naming the allowed values and the type (issue 31, item 1)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pytest

from deploy.feedback import make_ids, parse_feedback
from deploy.payload import RequestError
from pipelines.adapters import files
from pipelines.core import outcomes
from pipelines.core.contract import Contract
from pipelines.core.outcomes import from_table as outcome_pairs
from pipelines.core.validation import DataValidationError, validate
from pipelines.errors import PipelineError

MODEL = "ab" * 32
INPUTS = {"x": pa.Column(float, nullable=False)}


def _contract(target: pa.Column, task: str) -> Contract:
    return Contract(pa.DataFrameSchema({**INPUTS, "y": target}, coerce=True), pa.DataFrameSchema(INPUTS), "y", task)


BINARY = _contract(pa.Column(int, pa.Check.isin([0, 1]), nullable=False), "binary")
GRADES = _contract(pa.Column(int, pa.Check.isin(list(range(7))), nullable=False), "multiclass")
LABELS = _contract(pa.Column(str, pa.Check.isin(["no", "yes"]), nullable=False), "binary")
AMOUNT = _contract(pa.Column(float, pa.Check.in_range(0, 100), nullable=False), "regression")
RULES = {
    "binary": "one of 0, 1 (integers)",
    "grades": "one of 0, 1, 2, 3, 4, 5, 6 (integers)",
    "labels": 'one of "no", "yes" (text)',
    "amount": "a number in [0, 100]",
}
CONTRACTS = {"binary": BINARY, "grades": GRADES, "labels": LABELS, "amount": AMOUNT}
REFUSED = None
# (contract, the outcome as sent or stored, what every entry point makes of it: a value, or REFUSED)
TABLE: list[tuple[str, Any, Any]] = [
    ("binary", 1, 1),
    ("binary", 1.0, 1),  # a table that stores its classes as floats
    ("binary", 0.0, 0),
    ("binary", "1", 1),
    ("binary", True, REFUSED),  # a boolean is not a class of an integer target (coercion would make it 1)
    ("amount", True, REFUSED),
    ("binary", 1.5, REFUSED),  # coercion would make it 1
    ("binary", 2, REFUSED),
    ("binary", float("nan"), REFUSED),
    ("binary", None, REFUSED),
    ("binary", "1.0", REFUSED),
    ("grades", 6.0, 6),
    ("grades", 7.0, REFUSED),
    ("labels", "yes", "yes"),
    ("labels", "maybe", REFUSED),
    ("labels", None, REFUSED),
    ("amount", 42, 42.0),
    ("amount", "3.5", 3.5),
    ("amount", 1e300, REFUSED),
    ("amount", -1.0, REFUSED),
    ("amount", float("nan"), REFUSED),
]


def _classes(name: str) -> list[Any] | None:
    return {"binary": [0, 1], "grades": list(range(7)), "labels": ["no", "yes"]}.get(name)


@pytest.mark.parametrize(("name", "given", "expected"), TABLE)
def test_every_entry_point_accepts_and_refuses_the_same_outcomes(
    name: str, given: Any, expected: Any, tmp_path: Path
) -> None:
    contract, rule = CONTRACTS[name], RULES[name]
    assert outcomes.rule_text(contract) == rule
    # the shared function
    if expected is REFUSED:
        with pytest.raises(outcomes.OutcomeError, match="^(not|no outcome).*" + _escaped(rule)):
            outcomes.coerce(contract, ["", given][1:])
    else:
        (value,) = outcomes.coerce(contract, [given])
        assert value == expected and type(value) is type(expected)
    # /feedback, as the service parses it (the JSON body's value as sent)
    (prediction,) = make_ids(MODEL, 1)
    field = "value" if _classes(name) is None else "label"
    body = [{"id": prediction, field: given}]
    if expected is REFUSED:
        with pytest.raises(RequestError, match=r"feedback\[0\]: ") as info:
            parse_feedback(body, _classes(name), [MODEL], 10, 90, contract=contract)
        assert info.value.status == 422 and (rule in info.value.message or "finite" in info.value.message)
    else:
        (item,) = parse_feedback(body, _classes(name), [MODEL], 10, 90, contract=contract)
        assert item[field] == expected and type(item[field]) is type(expected)
    # feedback import, from a CSV file as a warehouse export writes it
    path = tmp_path / "outcomes.csv"
    pd.DataFrame({"id": [prediction], "y": [given]}).to_csv(path, index=False)
    frame = files.read_table(path, [""])
    read = 1 if given == "1.0" else expected  # a CSV has no types: the text 1.0 in it is the number 1.0
    if read is REFUSED:
        with pytest.raises(PipelineError, match=r"file:x: (1 row\(s\), e\.g\. row\(s\) 1|the outcomes) in y: ") as why:
            outcome_pairs(frame, "id", "y", None, time.time(), 90, contract, "file:x")
        assert rule in str(why.value) and "\n" not in str(why.value)
    else:
        ((_, value, _),) = outcome_pairs(frame, "id", "y", None, time.time(), 90, contract, "file:x")
        assert value == read and type(value) is type(read)
    # ingest: a labelled row with this outcome
    raw = pd.DataFrame({"x": [1.0], "y": pd.Series([given], dtype=object)})
    if expected is REFUSED:
        with pytest.raises(DataValidationError):
            validate(raw, contract.raw)
    else:
        checked, _ = validate(raw, contract.raw)
        assert checked["y"].iloc[0] == expected


def _escaped(rule: str) -> str:
    import re

    return re.escape(rule)


def test_validate_refuses_a_fraction_in_an_integer_column_instead_of_truncating_it() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1.0, 0.5, 0.0]})
    with pytest.raises(DataValidationError) as info:
        validate(frame, BINARY.raw)
    (check,) = info.value.report.checks
    assert (check["column"], check["check"], check["rows"], check["values"]) == ("y", "whole number", [1], [0.5])
    assert info.value.failed_rows == [1]
