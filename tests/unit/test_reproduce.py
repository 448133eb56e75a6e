"""What counts as reproduced: byte-identical where no floating-point training happens, numerically
equal within params.yaml's tolerances elsewhere, the model judged by its outputs on holdout rows."""

from __future__ import annotations

import copy
import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from sklearn.linear_model import LogisticRegression

from pipelines.adapters import modelio
from pipelines.core.contract import Contract
from pipelines.core.data import default_dataset
from pipelines.core.evaluate import recorded_predictions
from pipelines.core.numbers import compare_content, compare_files
from pipelines.core.reproduce import Criteria, Output, Reproduction, judge_rerun
from tests.helpers.project import PARAMS

TOLERANCES = PARAMS.reproduce
SETTINGS = Criteria(
    exact_stages=frozenset(TOLERANCES.exact_stages),
    tolerance=TOLERANCES.tolerance,
    prediction_tolerance=TOLERANCES.prediction_tolerance,
    model="models/model",
    manifest="models/manifest.json",
    holdout_predictions="models/holdout_predictions.csv",
)
OUTPUTS = {
    "build/train.parquet": Output("split", "build/train.parquet", cached=True),
    "models/model": Output("train", "models/model", cached=True),
    "models/manifest.json": Output("train", "models/manifest.json", cached=False),
    "metrics.json": Output("evaluate", "metrics.json", cached=False),
    "models/holdout_predictions.csv": Output("evaluate", "models/holdout_predictions.csv", cached=False),
    "reports/figures": Output("evaluate", "reports/figures", cached=True),
}


def _md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()


def _lock(files: dict[str, bytes], model_md5: str, c: float = 1.0, split_md5: str = "s" * 32) -> dict:
    """A dvc.lock with the stages and outputs above; git-tracked outputs' hashes follow their content."""

    def out(path: str, digest: str | None = None) -> dict:
        return {"path": path, "md5": digest or _md5(files[path])}

    return {
        "schema": "2.0",
        "stages": {
            "split": {"cmd": "split", "deps": [{"path": "data", "md5": "d.dir"}],
                      "params": {"params.yaml": {"split": {"seed": 42}}},
                      "outs": [out("build/train.parquet", split_md5)]},
            "train": {"cmd": "train", "deps": [{"path": "build/train.parquet", "md5": split_md5},
                                               {"path": "pipelines/train.py", "md5": "t"}],
                      "params": {"params.yaml": {"train": {"C": c}}},
                      "outs": [out("models/model", model_md5), out("models/manifest.json")]},
            "evaluate": {"cmd": "evaluate", "deps": [{"path": "models/model", "md5": model_md5}],
                         "outs": [out("metrics.json"), out("models/holdout_predictions.csv"),
                                  out("reports/figures", "f" + model_md5)]},
        },
    }  # fmt: skip


def _predictions_csv(values: np.ndarray) -> bytes:
    frame = pd.DataFrame(values, columns=["0", "1"])
    frame.insert(0, "row", range(len(frame)))
    out = io.StringIO()
    frame.to_csv(out, index=False, lineterminator="\n", float_format=lambda x: repr(float(x)))
    return out.getvalue().encode()


def _judge(committed: dict[str, bytes], produced: dict[str, bytes], committed_lock: dict, produced_lock: dict):  # type: ignore[no-untyped-def]
    return judge_rerun(
        "HEAD",
        committed_lock,
        produced_lock,
        OUTPUTS,
        lambda path: {"": committed[path]} if path in committed else None,
        lambda path: {"": produced[path]},
        SETTINGS,
    )


def _by_path(result: Reproduction) -> dict[str, str]:
    return {f.path: f.status for f in result.findings if f.path != "dvc.lock"}


@pytest.fixture(scope="module")
def fitted() -> tuple[LogisticRegression, pd.DataFrame]:
    frame = default_dataset()
    features = [c for c in frame.columns if c != "malignant"]
    model = LogisticRegression(max_iter=5000).fit(frame[features], frame["malignant"])
    return model, frame[features].iloc[::3].reset_index(drop=True)


def _saved(model: LogisticRegression, rows: pd.DataFrame, directory: Path) -> dict[str, bytes]:
    """What train and evaluate commit for `model`: its manifest and its outputs on the holdout rows."""
    modelio.save(model, directory, rows.head(3))
    inputs = pa.DataFrameSchema({c: pa.Column(float) for c in rows.columns})
    raw = pa.DataFrameSchema({**inputs.columns, "malignant": pa.Column(int)})
    predictions = recorded_predictions(
        model, rows.assign(malignant=0), 200, Contract(raw, inputs, "malignant", "binary")
    )
    buffer = io.StringIO()
    predictions.to_csv(buffer, index=False, lineterminator="\n", float_format=lambda x: repr(float(x)))
    return {
        "models/manifest.json": json.dumps(modelio.manifest(directory), sort_keys=True).encode(),
        "models/holdout_predictions.csv": buffer.getvalue().encode(),
        "metrics.json": b'{"roc_auc": 0.996032}',
    }


@pytest.mark.parametrize(("nudge", "reproduced"), [(1e-12, True), (1e-3, False)])
def test_a_nudged_coefficient_changes_the_bytes_and_is_judged_by_its_outputs(
    fitted: tuple[LogisticRegression, pd.DataFrame], tmp_path: Path, nudge: float, reproduced: bool
) -> None:
    """1e-12 on one coefficient: other model bytes, the same numbers (reproduced); 1e-3: the check fails
    naming the stage, the predictions file and the largest difference."""
    model, rows = fitted
    nudged = copy.deepcopy(model)
    nudged.coef_[0, 0] += nudge * max(1.0, abs(nudged.coef_[0, 0]))
    committed = _saved(model, rows, tmp_path / "a")
    produced = _saved(nudged, rows, tmp_path / "b")
    old_md5, new_md5 = (_md5(modelio.content_hash(tmp_path / d).encode()) + ".dir" for d in "ab")
    assert committed["models/manifest.json"] != produced["models/manifest.json"], "the bytes must differ"

    result = _judge(committed, produced, _lock(committed, old_md5), _lock(produced, new_md5))

    statuses = _by_path(result)
    assert statuses["reports/figures"] == "not compared"
    assert statuses["metrics.json"] == "identical"
    if reproduced:
        assert result.ok, result.headline()
        assert statuses["models/model"] == statuses["models/manifest.json"] == "equivalent"
        assert "bytes differ but numbers agree" in result.headline()
    else:
        assert not result.ok
        (failure, *_) = [f for f in result.failures if f.path == "models/holdout_predictions.csv"]
        assert failure.stage == "evaluate" and failure.largest is not None and failure.largest > 1e-6
        assert "largest difference" in failure.detail and "tolerance 1e-06" in failure.detail
        assert statuses["models/model"] == "differs"
        assert "stage evaluate: models/holdout_predictions.csv does not reproduce" in result.headline()


def test_a_param_edit_makes_the_lock_stale_naming_the_stage_key_and_fix() -> None:
    files = {"models/manifest.json": b"{}", "metrics.json": b'{"recall": 0.928571}',
             "models/holdout_predictions.csv": _predictions_csv(np.array([[0.1, 0.9]]))}  # fmt: skip
    produced = {**files, "metrics.json": b'{"recall": 0.952381}'}
    result = _judge(files, produced, _lock(files, "m.dir", c=1.0), _lock(produced, "m.dir", c=0.3))
    result = Reproduction(result.rev, result.findings, commit_paths="dvc.lock metrics.json")
    assert not result.ok
    assert result.stale_stages == ["train"]
    assert "stage train (params changed: train.C (1.0 -> 0.3))" in result.headline()
    assert result.headline().endswith("; run `dvc repro`, then `git add dvc.lock metrics.json` and commit")
    metric = next(f for f in result.failures if f.path == "metrics.json")
    assert metric.stage == "evaluate" and "recall" in metric.detail
    json.dumps(result.to_dict(), allow_nan=False)  # what `reproduce --verdict` writes is strict JSON


def test_an_exact_stage_output_that_changes_fails_even_if_numbers_might_agree() -> None:
    files = {"models/manifest.json": b"{}", "metrics.json": b"{}",
             "models/holdout_predictions.csv": _predictions_csv(np.array([[0.1, 0.9]]))}  # fmt: skip
    result = _judge(files, files, _lock(files, "m.dir"), _lock(files, "m.dir", split_md5="x" * 32))
    (failure,) = result.failures
    assert (failure.stage, failure.path, failure.status) == ("split", "build/train.parquet", "differs")
    assert "byte-identical" in failure.detail


def test_the_verdict_round_trips_through_json() -> None:
    files = {"models/manifest.json": b"{}", "metrics.json": b"{}",
             "models/holdout_predictions.csv": _predictions_csv(np.array([[0.1, 0.9]]))}  # fmt: skip
    result = _judge(files, files, _lock(files, "m.dir"), _lock(files, "m.dir"))
    assert result.ok and "byte-identical" in result.headline()
    again = Reproduction.from_dict(json.loads(json.dumps(result.to_dict())))
    assert again == result


@pytest.mark.parametrize(
    ("committed", "produced", "agrees"),
    [
        (b'{"a": 0.5, "b": [1, 2.0]}', b'{"a": 0.5000000001, "b": [1, 2.0]}', True),
        (b'{"a": 0.5}', b'{"a": 0.6}', False),
        (b'{"rmse": 12000.0}', b'{"rmse": 12000.001}', True),  # relative above 1
        (b'{"a": 0.5}', b'{"a": 0.5, "c": 1}', False),  # a key more is structure, not a number
        (b'{"a": "x"}', b'{"a": "y"}', False),
        (b"x,y\n0.1,a\n", b"x,y\n0.1000000001,a\n", True),
        (b"x,y\n0.1,a\n", b"x,y\n0.1,b\n", False),
        (b"x,y\n0.1,a\n", b"x,z\n0.1,a\n", False),
        (b"x\n0.1\n", b"x\n0.1\n0.2\n", False),
        (b"x\nnan\n", b"x\nnan\n", True),
    ],
)
def test_numbers_agree_within_the_tolerance_and_structure_must_match(
    committed: bytes, produced: bytes, agrees: bool
) -> None:
    name = "f.json" if committed.startswith(b"{") else "f.csv"
    status, detail, _ = compare_files(name, {"": produced}, {"": committed}, TOLERANCES.tolerance)
    assert (status in ("identical", "equivalent")) is agrees, detail


def test_compare_content_names_where_the_largest_difference_is() -> None:
    value, where, mismatch = compare_content("m.json", b'{"a": 0.5, "b": 0.25}', b'{"a": 0.5, "b": 0.2}')
    assert mismatch == "" and where.startswith("b: 0.2 -> 0.25") and value == pytest.approx(0.05)
