"""Models `init` can produce that the bundled example is not: text, boolean and integer labels, missing
values in text columns of the input example, whole numbers in float columns. Each is saved the way the
`train` stage saves it, loaded the way the service loads it, and must answer its own example with 200."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from fastapi.testclient import TestClient

from deploy.app import create_app
from deploy.scoring import InputSpec, load_bundle
from pipelines.adapters import modelio
from pipelines.core.contract import Contract
from pipelines.core.train import fit
from pipelines.yours.features import build_preprocessor
from tests.conftest import ESTIMATORS, PARAMS
from tests.service.conftest import SETTINGS

LABELS = {
    "text": np.array(["no", "yes"]),
    "boolean": np.array([False, True]),
    "integer": np.array([3, 7]),
    "three classes": np.array(["barbera", "grignolino", "nebbiolo"]),
}


def _frame(rng: np.random.Generator, n: int, labels: np.ndarray) -> pd.DataFrame:
    y = rng.choice(labels, n)
    signal = (y == labels[-1]).astype(float)
    frame = pd.DataFrame({
        "whole number": rng.integers(0, 5, n).astype(float) + signal,  # whole values in a float column
        "Spend (€)": rng.normal(50, 10, n).round(2) + 5 * signal,
        "plan": rng.choice(["basic", "plus", "pro"], n).astype(object),
        "target": y,
    })  # fmt: skip
    frame.loc[: n // 10, "plan"] = None  # missing text values, the first rows included (the input example)
    frame.loc[n // 10 : n // 5, "Spend (€)"] = np.nan
    return frame


def _contract(labels: np.ndarray) -> Contract:
    inputs = {
        "whole number": pa.Column(float, pa.Check.ge(0), nullable=False),
        "Spend (€)": pa.Column(float, nullable=True),
        "plan": pa.Column(str, pa.Check.isin(["basic", "plus", "pro"]), nullable=True),
    }
    kind = labels.dtype.type if labels.dtype.kind in "biu" else str
    task = "binary" if len(labels) == 2 else "multiclass"
    return Contract(
        raw=pa.DataFrameSchema({**inputs, "target": pa.Column(kind, pa.Check.isin(labels.tolist()))}, coerce=True),
        inputs=pa.DataFrameSchema(inputs, strict=True, coerce=True),
        target="target",
        task=task,
    )


@pytest.fixture(scope="module", params=sorted(LABELS))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Contract, str]:
    labels = LABELS[request.param]
    contract = _contract(labels)
    frame = contract.raw.validate(_frame(np.random.default_rng(1), 300, labels))
    params = PARAMS.train.model_copy(update={"estimator": "logistic_regression"})
    if "logistic_regression" not in params.sections():
        params = params.model_copy(update={"logistic_regression": {"C": 1.0, "max_iter": 1000, "class_weight": None}})
    model, _ = fit(frame, contract, params, ESTIMATORS, build_preprocessor)
    directory = tmp_path_factory.mktemp("model") / "model"
    inputs = frame[contract.features]
    modelio.save(model, directory, inputs.head(5), signature_sample=inputs)
    return directory, contract, request.param


def test_the_input_example_is_json_with_null_for_missing_values(saved: tuple[Path, Contract, str]) -> None:
    directory, _, _ = saved
    for name in ("input_example.json", "serving_input_example.json"):
        text = (directory / name).read_text()
        assert "NaN" not in text and "Infinity" not in text, f"{name} holds a token that is not JSON"
        json.loads(text)
        assert "null" in text


def test_mlflow_scores_the_models_own_example_after_its_json_round_trip(saved: tuple[Path, Contract, str]) -> None:
    """Through MLflow's own readers (they type columns by the signature): the input example, and the serving
    example as `mlflow models serve` parses it. Whole numbers in a float column and missing text survive."""
    import mlflow.pyfunc
    from mlflow.models import Model
    from mlflow.pyfunc import scoring_server

    directory, _, _ = saved
    pyfunc = mlflow.pyfunc.load_model(str(directory))
    example = Model.load(str(directory)).load_input_example(str(directory))
    assert example["whole number"].dtype == np.float64
    expected = pyfunc.predict(example)
    body = json.loads((directory / "serving_input_example.json").read_text())
    parsed = scoring_server.infer_and_parse_data(body, pyfunc.metadata.get_input_schema())
    np.testing.assert_array_equal(pyfunc.predict(parsed), expected)
    dtypes = {column.name: column.type.to_pandas() for column in pyfunc.metadata.get_input_schema().inputs}
    typed = pd.read_json(directory / "input_example.json", orient="split", dtype=dtypes)  # with the signature's types
    np.testing.assert_array_equal(pyfunc.predict(typed), expected)


def test_the_service_answers_the_models_own_example_with_labels_as_json_values(
    saved: tuple[Path, Contract, str],
) -> None:
    """Text, boolean and integer labels come back as JSON strings, booleans and numbers (an object array is
    not JSON); a missing text value in the example never keeps the service from becoming ready."""
    directory, contract, kind = saved
    spec = InputSpec.from_schema(contract.inputs)
    release = {"model_version": "t", "model_hash": "0" * 64, "git_commit": "c" * 40, "data_hash": "d"}
    bundle = load_bundle(directory, modelio.manifest(directory), release, spec)
    with TestClient(create_app(spec, lambda: bundle, SETTINGS), raise_server_exceptions=False) as client:
        assert client.get("/health/ready").status_code == 200 or _wait_ready(client)
        response = client.post(
            "/invocations",
            content=(directory / "serving_input_example.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        predictions = response.json()["predictions"]
        assert set(predictions) <= set(LABELS[kind].tolist())
        assert {type(p) for p in predictions} == {type(LABELS[kind].tolist()[0])}
        refused = client.post("/invocations", json={"dataframe_records": [
            {"whole number": 1.0, "Spend (€)": None, "plan": "enterprise"}]})  # fmt: skip
        assert refused.status_code == 422
        assert refused.json()["message"] == "row 0: column plan is not one of its 3 allowed values"
        boolean = client.post("/invocations", json={"instances": [[1.0, 40.0, True]]})
        assert boolean.status_code == 422 and "plan is not one of its 3 allowed values" in boolean.json()["message"]


def _wait_ready(client: TestClient) -> bool:
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.get("/health/ready").status_code == 200:
            return True
        time.sleep(0.01)
    raise AssertionError(client.get("/health/ready").json())


def test_feedback_takes_the_models_own_labels_as_json_values_and_refuses_others(
    saved: tuple[Path, Contract, str],
) -> None:
    """/feedback for text, boolean, integer and three-class models: a label of the model's classes (as the
    response gave it) is accepted; the same value as another JSON type, or another label, is a 422."""
    directory, contract, kind = saved
    spec = InputSpec.from_schema(contract.inputs)
    release = {"model_version": "t", "model_hash": "0" * 64, "git_commit": "c" * 40, "data_hash": "d"}
    bundle = load_bundle(directory, modelio.manifest(directory), release, spec)
    with TestClient(create_app(spec, lambda: bundle, SETTINGS), raise_server_exceptions=False) as client:
        assert client.get("/health/ready").status_code == 200 or _wait_ready(client)
        answer = client.post("/invocations", content=(directory / "serving_input_example.json").read_bytes(),
                             headers={"Content-Type": "application/json"}).json()  # fmt: skip
        first = answer["ids"][0]
        label = LABELS[kind].tolist()[-1]
        accepted = client.post("/feedback", json=[{"id": first, "label": label}])
        assert accepted.status_code == 200 and accepted.json() == {"accepted": 1}
        other_type = str(label) if not isinstance(label, str) else 1
        for wrong in (other_type, "surely not a class", None, [label]):
            refused = client.post("/feedback", json=[{"id": first, "label": wrong}])
            assert refused.status_code == 422, (wrong, refused.text)
            assert "is not one of the model's" in refused.json()["message"]
