"""The feedback path's edges: outcomes checked with the target's rule, imports that fail with one line, a
feedback log that never deletes, drift that counts each request once, metrics JSON can hold."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from deploy.feedback import make_ids, parse_feedback
from deploy.jsonlines import JsonLinesLog
from deploy.payload import RequestError, loads
from pipelines.adapters import sources
from pipelines.core import ids
from pipelines.core.contract import Contract
from pipelines.core.feedback import Joined, performance
from pipelines.core.outcomes import from_table as outcome_pairs
from pipelines.errors import PipelineError
from pipelines.jobs.feedback import _read_outcomes
from tests.helpers import bootstrap
from tests.helpers.service import log_settings

MODEL = "cd" * 32
INPUTS = {"x": pa.Column(float, nullable=False)}


def _contract(target: pa.Column, task: str) -> Contract:
    return Contract(pa.DataFrameSchema({**INPUTS, "y": target}, coerce=True), pa.DataFrameSchema(INPUTS), "y", task)


LABELS = _contract(pa.Column(str, pa.Check.isin(["no", "yes"]), nullable=False), "binary")
VALUES = _contract(pa.Column(float, pa.Check.in_range(0, 100), nullable=False), "regression")


def test_a_value_is_checked_with_the_targets_rule_and_an_overlong_integer_is_not_finite() -> None:
    (good,) = make_ids(MODEL, 1)
    assert parse_feedback([{"id": good, "value": 42}], None, [MODEL], 10, 90, contract=VALUES)[0]["value"] == 42
    with pytest.raises(RequestError, match=r"feedback\[0\]: value is not a number in \[0, 100\]"):
        parse_feedback([{"id": good, "value": 1e300}], None, [MODEL], 10, 90, contract=VALUES)
    (huge,) = loads(b"[" + b"9" * 400 + b"]")
    with pytest.raises(RequestError, match=r"value is not a number in \[0, 100\]"):
        parse_feedback([{"id": good, "value": huge}], None, [MODEL], 10, 90, contract=VALUES)
    with pytest.raises(RequestError, match="value must be a finite number"):
        parse_feedback([{"id": good, "value": huge}], None, [MODEL], 10, 90)
    assert not ids.well_formed(good + "\n")
    assert "37 lowercase hex" in str(ids.problem(good + "\n", [MODEL], 90, time.time()))


def _frame(labels: list, **extra: list) -> pd.DataFrame:
    return pd.DataFrame({"id": make_ids(MODEL, len(labels)), "y": labels, **extra})


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["yes", "secret-label", "no"], r'1 row\(s\), e.g. row\(s\) 2 in y: not one of "no", "yes" \(text\)'),
        (
            ["yes", None, "no"],
            r'1 row\(s\), e.g. row\(s\) 2 in y: no outcome \(the target y takes one of "no", "yes" \(text\)\)',
        ),
    ],
)
def test_an_import_that_breaks_the_rule_fails_with_one_line_naming_rows_not_values(labels: list, message: str) -> None:
    with pytest.raises(PipelineError, match=message) as info:
        outcome_pairs(_frame(labels), "id", "y", None, time.time(), 90, LABELS, "file:x.csv")
    assert "secret-label" not in str(info.value) and "\n" not in str(info.value)


def test_an_import_refuses_malformed_and_expired_ids_and_unreadable_times() -> None:
    now = time.time()
    malformed = _frame(["yes", "no"])
    malformed.loc[1, "id"] = malformed.loc[1, "id"][:-1] + "z"
    with pytest.raises(PipelineError, match=r"1 row\(s\), e.g. row\(s\) 2 are not prediction ids"):
        outcome_pairs(malformed, "id", "y", None, now, 90, LABELS, "s")
    old = _frame(["yes"])
    old["id"] = make_ids(MODEL, 1, now_ms=int((now - 100 * 86400) * 1000))
    with pytest.raises(PipelineError, match="older than 90 days"):
        outcome_pairs(old, "id", "y", None, now, 90, LABELS, "s")
    with pytest.raises(PipelineError, match="no readable time in known_at"):
        outcome_pairs(_frame(["yes"], known_at=["yesterday-ish"]), "id", "y", "known_at", now, 90, LABELS, "s")
    with pytest.raises(PipelineError, match="no column"):
        outcome_pairs(_frame(["yes"]), "id", "label", None, now, 90, LABELS, "s")


def test_an_import_keeps_the_latest_outcome_per_id_and_the_last_row_on_a_tie() -> None:
    first, second = make_ids(MODEL, 2)
    t0 = time.time()

    def iso(seconds: float) -> str:
        return pd.Timestamp(seconds, unit="s", tz="UTC").isoformat()

    frame = pd.DataFrame({
        "id": [first, first, second, second],
        "y": ["no", "yes", "yes", "no"],
        "known_at": [iso(t0 + 60), iso(t0 + 30), iso(t0 + 120), iso(t0 + 120)],
    })  # fmt: skip
    pairs = {i: (y, ts) for i, y, ts in outcome_pairs(frame, "id", "y", "known_at", t0 + 1000, 90, LABELS, "s")}
    assert pairs[first][0] == "no" and pairs[first][1] == pytest.approx(t0 + 60, abs=1e-3)
    assert pairs[second][0] == "no"
    numbers = pd.DataFrame({"id": [first], "y": [12.5]})
    assert outcome_pairs(numbers, "id", "y", None, t0, 90, VALUES, "s") == [(first, 12.5, t0)]
    for impossible in (t0 * 1000, 1.0):  # milliseconds read as seconds; before the prediction was made
        with pytest.raises(PipelineError, match="before their prediction was made or in the future"):
            outcome_pairs(_frame(["yes"], ts=[impossible]), "id", "y", "ts", t0, 90, LABELS, "s")


def test_a_text_label_imports_from_the_values_a_csv_or_parquet_reads_as_booleans() -> None:
    flags = _contract(pa.Column(str, pa.Check.isin(["False", "True"]), nullable=False), "binary")
    frame = _frame([True, False])
    pairs = outcome_pairs(frame, "id", "y", None, time.time(), 90, flags, "s")
    assert {i: y for i, y, _ in pairs} == {frame["id"][0]: "True", frame["id"][1]: "False"}


def test_an_unreadable_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "outcomes.csv"
    bad.write_bytes(b"id,y\n\xff\xfe\x00\x81,yes\n")
    args = argparse.Namespace(file=str(bad), sql_url_env=None, query=None)
    with pytest.raises(PipelineError, match=r"cannot be read as CSV \(UTF-8\) or Parquet \(UnicodeDecodeError\)"):
        _read_outcomes(args, [""])
    with pytest.raises(PipelineError, match="no such file"):
        _read_outcomes(argparse.Namespace(file=str(tmp_path / "none.csv")), [""])


def test_the_feedback_log_never_deletes_and_takes_a_batch_whole_or_not_at_all(tmp_path: Path) -> None:
    directory = tmp_path / "feedback"
    log = JsonLinesLog(log_settings(directory, max_file_bytes=200, max_total_bytes=None), prefix="feedback")
    log.start()
    for n in range(20):
        assert log.offer_batch([{"id": str(n), "label": "yes", "k": k} for k in range(3)])
    log.close()
    lines = [json.loads(x) for f in sorted(directory.glob("feedback-*.jsonl")) for x in f.read_text().splitlines()]
    assert len(lines) == 60 and len(list(directory.glob("feedback-*.jsonl"))) > 5 and log.dropped == 0
    full = JsonLinesLog(log_settings(tmp_path / "full", queue_size=1), prefix="feedback")  # not started: stays full
    assert full.offer_batch([{"id": "a"}, {"id": "b"}]) and not full.offer_batch([{"id": "c"}])


def test_a_shadowed_request_is_one_record_its_inputs_counted_once_and_both_models_read(tmp_path: Path) -> None:
    path = tmp_path / "predictions-1.jsonl"
    made = make_ids(MODEL, 2)
    shadow = {"model_version": "c", "model_hash": "ef" * 32, "predictions": [0.5, 0.7], "probabilities": None,
              "answered": False}  # fmt: skip
    record = {"ts": 1.0, "columns": ["x"], "rows": [[1.0], [2.0]], "ids": made, "model_hash": MODEL,
              "predictions": [1.5, 2.5], "probabilities": None, "challenger": shadow}  # fmt: skip
    path.write_text(json.dumps(record) + "\n")
    frame, logged = sources.scan_logs([str(path)], None, 100, predictions=True)
    assert frame["x"].tolist() == [1.0, 2.0]
    assert {h: (m.role, m.output.tolist(), list(m.ids)) for h, m in logged.items()} == {
        MODEL: ("champion", [1.5, 2.5], made),
        "ef" * 32: ("challenger", [0.5, 0.7], made),
    }


def test_live_metrics_that_overflow_are_left_out_so_the_verdict_stays_json() -> None:
    n = 50
    joined = Joined(MODEL, ids=make_ids(MODEL, n), y=[1e300] * n, output=list(np.linspace(0, 1, n)),
                    delays=[1.0] * n, predictions=n)  # fmt: skip
    found = performance(joined, "regression", 0.5, bootstrap(200, 0.95, 1), {"rmse": 1.0}, 10)
    json.dumps(found, allow_nan=False)
    assert "mse" not in found["metrics"] and "rmse" not in found["metrics"]
    assert found["metrics"]["mae"] == pytest.approx(1e300)


def test_a_challenger_directory_must_exist_and_hold_a_manifest_unless_it_is_empty(tmp_path: Path) -> None:
    from pipelines.jobs.serve import challenger_model

    args = argparse.Namespace(challenger_env=None, dvc_yaml="dvc.yaml")
    with pytest.raises(PipelineError, match="no such directory"):
        challenger_model(args, str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    assert challenger_model(args, str(tmp_path / "empty")) is None  # an image built without a challenger
    assert challenger_model(args, None) is None
    (tmp_path / "stray").mkdir()
    (tmp_path / "stray" / "model.pkl").write_bytes(b"")
    with pytest.raises(PipelineError, match=r"no manifest\.json"):
        challenger_model(args, str(tmp_path / "stray"))


def test_a_cut_or_malformed_log_line_is_skipped_not_fatal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (good,) = make_ids(MODEL, 1)
    path = tmp_path / "feedback-1.jsonl"
    lines = [{"id": good, "ts": 5.0, "label": "yes"}, {"id": good, "ts": "x", "label": "no"},
             {"id": good, "ts": 6.0, "label": None}, [1, 2]]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + '\n{"id": "' + good[:10] + "\n")
    assert sources.read_outcomes([str(path)], None) == [lines[0]]
    assert "skipped 2 unreadable line(s)" in capsys.readouterr().err


def test_an_id_twice_in_one_request_is_refused() -> None:
    (good,) = make_ids(MODEL, 1)
    with pytest.raises(RequestError, match=r"feedback\[1\]: the id is given twice in this request"):
        parse_feedback([{"id": good, "label": "no"}, {"id": good, "label": "yes"}], ["no", "yes"], [MODEL], 10, 90)
    with pytest.raises(RequestError, match="not a prediction id"):
        parse_feedback([{"id": [good], "label": "no"}], ["no", "yes"], [MODEL], 10, 90)
