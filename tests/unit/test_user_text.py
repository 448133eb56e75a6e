"""Every writer of user text takes any text: column names, labels and categories holding an emoji, an astral
character, a lone surrogate or a NUL go through the generated schema, reports, the prediction log, the
service's messages and the MLflow model without a traceback or a 500 (issue 31, item 7)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from deploy.app import create_app
from deploy.jsonlines import JsonLinesLog
from deploy.payload import InputSpec, RequestError, loads
from deploy.scoring import build_bundle
from pipelines.adapters import modelio
from pipelines.core import markdown as md
from pipelines.core.contract import Contract
from pipelines.core.names import printable
from pipelines.core.train import fit
from pipelines.core.validation import DataValidationError, validate
from pipelines.jobs.serve import model_store
from pipelines.template import codegen, infer
from pipelines.yours.features import build_preprocessor
from tests.helpers.project import ESTIMATORS, PARAMS
from tests.helpers.service import SETTINGS, log_settings

TEXTS = {"emoji": "🙂", "astral": "\U0001d4b3", "lone surrogate": "\ud800", "NUL": "\x00"}


def _frame(text: str, n: int = 160) -> pd.DataFrame:
    """Labels and a category holding `text`; a column name too, unless it is NUL (init refuses that name)."""
    name = f"size {text}" if text != "\x00" else "size"
    rng = np.random.default_rng(0)  # object arrays: NumPy's fixed-width text drops a trailing NUL
    positive = rng.integers(0, 2, n)
    y = np.array([f"no{text}", f"yes{text}"], dtype=object)[positive]
    return pd.DataFrame({
        name: rng.normal(size=n) + positive,
        "plan": np.array([f"basic{text}", "pro"], dtype=object)[rng.integers(0, 2, n)],
        "y": y,
    })  # fmt: skip


def _contract(frame: pd.DataFrame, tmp_path: Path) -> tuple[Contract, str]:
    """init's schema writer on `frame`: the generated module, imported from a UTF-8 file like the project's."""
    inferred = infer.infer_columns(frame, "y", "binary")
    code = codegen.render_schema(inferred, "binary", "t.csv", len(frame))
    path = tmp_path / "generated_schema.py"
    path.write_text(code, encoding="utf-8")  # raises for text UTF-8 cannot hold
    name = f"generated_schema_{abs(hash(code))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return Contract.from_module(module), code


@pytest.mark.parametrize("kind", sorted(TEXTS))
def test_every_writer_of_user_text_takes_it(kind: str, tmp_path: Path) -> None:
    text = TEXTS[kind]
    # a lone surrogate is not Unicode text: pandas' text columns refuse it, so no table holds one; it can only
    # come in a request's JSON (escaped), where it is a 400
    stored = "" if kind == "lone surrogate" else text
    frame = _frame(stored)
    # the schema: names and labels survive as the same text (repr of a str, never json.dumps' surrogate pairs)
    contract, _ = _contract(frame, tmp_path)
    assert contract.features == [frame.columns[0], "plan"] and contract.target == "y"
    checked, _ = validate(frame, contract.raw)
    assert set(checked["y"]) == {f"no{stored}", f"yes{stored}"}
    # a report line and a validation summary: writable as UTF-8, no raw NUL
    bad = frame.assign(plan=frame["plan"].where(frame.index > 0, f"other{stored}"))
    with pytest.raises(DataValidationError) as info:
        validate(bad, contract.raw)
    for written in (str(info.value), md.table([f"size {text}"], [[f"basic{text}"]]), md.code(text), md.label(text)):
        assert "\x00" not in written and written.encode("utf-8")
    # the model, saved in MLflow format and loaded back; then served
    linear = {"C": 1.0, "max_iter": 1000, "class_weight": None}  # the project's own may be a regressor's params
    params = PARAMS.train.model_copy(update={"estimator": "logistic_regression", "logistic_regression": linear})
    model, _ = fit(checked, contract, params, ESTIMATORS, build_preprocessor)
    inputs = checked[contract.features]
    directory = tmp_path / "model"
    modelio.save(model, directory, inputs.head(5), signature_sample=inputs)
    assert modelio.load(directory).predict(inputs.head(3)).tolist() == model.predict(inputs.head(3)).tolist()
    # the service: its messages, and the prediction log
    input_spec, name = InputSpec.from_schema(contract.inputs), str(frame.columns[0])
    release = {"model_version": "t", "model_hash": "0" * 64, "git_commit": "c" * 40, "data_hash": "d"}
    rows = [[float(v), p] for v, p in inputs.head(3).itertuples(index=False)]
    bundle = build_bundle(model, input_spec, release, rows, model_store().fast_paths)
    log = JsonLinesLog(log_settings(tmp_path / "logs", sample_rate=1.0), seed=0)
    with TestClient(create_app(input_spec, lambda: bundle, SETTINGS, log, contract=contract),
                    raise_server_exceptions=False) as client:  # fmt: skip
        _ready(client)
        requests = {
            "a known category": {"dataframe_records": [{name: 0.5, "plan": f"basic{text}"}]},
            "an unknown category": {"dataframe_records": [{name: 0.5, "plan": f"gold{text}"}]},
            "an unknown column": {"dataframe_records": [{name: 0.5, "plan": "pro", f"extra{text}": 1}]},
            "a missing column": {"dataframe_records": [{"plan": "pro"}]},
        }
        for case, payload in requests.items():
            body = json.dumps(payload).encode()  # \ud800 as JSON escapes it
            answer = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
            assert answer.status_code < 500, (case, answer.text)
            json.loads(answer.content.decode("utf-8"))
            if kind == "lone surrogate" and case != "a missing column":
                assert answer.status_code == 400 and "surrogate" in answer.json()["message"], case
            elif case == "a known category":
                assert answer.status_code == 200
            else:  # a column the model does not take is malformed (400), a category it does not know a 422
                assert answer.status_code == (422 if case == "an unknown category" else 400), case
                assert "\x00" not in answer.json()["message"]
                assert case != "an unknown category" or printable(f"basic{text}") in answer.json()["message"]
        ids = client.post("/invocations", json={"instances": [[0.5, "pro"]]}).json()["ids"]
        outcome = json.dumps([{"id": ids[0], "label": f"yes{text}"}]).encode()
        assert client.post("/feedback", content=outcome, headers={"Content-Type": "application/json"}).status_code == (
            400 if kind == "lone surrogate" else 200
        )  # fmt: skip
    records = [json.loads(line) for f in (tmp_path / "logs").glob("predictions-*.jsonl") for line in f.open()]
    logged = [r["rows"][0] for r in records]
    assert ([0.5, f"basic{text}"] in logged) == (kind != "lone surrogate") and [0.5, "pro"] in logged
    if kind == "lone surrogate":
        with pytest.raises(UnicodeEncodeError):
            pd.DataFrame({"y": [text]})


def test_init_refuses_a_column_name_with_a_control_character_in_one_line() -> None:
    with pytest.raises(infer.InitError, match=r"column\(s\) 2 \(counting from 1\) have a control character"):
        infer.check_names(["a", "b\x00", "c"])


def test_a_lone_surrogate_in_a_body_is_a_400_that_does_not_echo_it() -> None:
    with pytest.raises(RequestError) as info:
        loads(b'{"dataframe_records": [{"a\\ud800": NaN}]}')
    assert info.value.status == 400 and "\ud800" not in info.value.message


def _ready(client: TestClient) -> None:
    import time

    deadline = time.monotonic() + 30
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)
