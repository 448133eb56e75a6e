"""Models `init` can produce that the bundled example is not: text, boolean and integer labels, missing
values in text columns of the input example, whole numbers in float columns. Each is saved the way the
`train` stage saves it, loaded the way the service loads it, and must answer its own example with 200."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest
from fastapi.testclient import TestClient

from deploy.app import create_app
from deploy.payload import InputSpec
from deploy.scoring import load_bundle
from pipelines.adapters import modelio
from pipelines.core.contract import Contract
from pipelines.core.train import fit
from pipelines.jobs.serve import model_store
from pipelines.yours.features import build_preprocessor
from tests.helpers.project import ESTIMATORS, PARAMS
from tests.helpers.service import SETTINGS

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


RELEASE = {"model_version": "t", "model_hash": "0" * 64, "git_commit": "c" * 40, "data_hash": "d"}


@pytest.fixture
def served(saved: tuple[Path, Contract, str]) -> Iterator[tuple[TestClient, Path, str]]:
    """The saved model loaded the way the service loads it, in the in-process app once it is ready."""
    import time

    directory, contract, kind = saved
    input_spec = InputSpec.from_schema(contract.inputs)
    bundle = load_bundle(directory, modelio.manifest(directory), RELEASE, input_spec, model_store())
    with TestClient(create_app(input_spec, lambda: bundle, SETTINGS), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 30
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, client.get("/health/ready").json()
            time.sleep(0.01)
        yield client, directory, kind


def test_the_service_answers_the_models_own_example_with_labels_as_json_values(
    served: tuple[TestClient, Path, str],
) -> None:
    """Text, boolean and integer labels come back as JSON strings, booleans and numbers (an object array is
    not JSON); a missing text value in the example never keeps the service from becoming ready."""
    client, directory, kind = served
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
    assert refused.json()["message"] == 'row 0: column plan must be one of "basic", "plus", "pro"'
    boolean = client.post("/invocations", json={"instances": [[1.0, 40.0, True]]})
    assert boolean.status_code == 422 and 'plan must be one of "basic", "plus", "pro"' in boolean.json()["message"]
    huge = client.post("/invocations", content=b'{"instances": [[' + b"9" * 400 + b', 40.0, "basic"]]}',
                       headers={"Content-Type": "application/json"})  # fmt: skip
    assert huge.status_code == 422 and huge.json()["message"] == 'row 0: column "whole number" must be a finite number'


def test_feedback_takes_the_models_own_labels_as_json_values_and_refuses_others(
    served: tuple[TestClient, Path, str],
) -> None:
    """/feedback for text, boolean, integer and three-class models: a label of the model's classes (as the
    response gave it) is accepted; the same value as another JSON type, or another label, is a 422."""
    client, directory, kind = served
    answer = client.post("/invocations", content=(directory / "serving_input_example.json").read_bytes(),
                         headers={"Content-Type": "application/json"}).json()  # fmt: skip
    first = answer["ids"][0]
    label = LABELS[kind].tolist()[-1]
    accepted = client.post("/feedback", json=[{"id": first, "label": label}])
    assert accepted.status_code == 200 and accepted.json() == {"accepted": 1}
    other_type = str(label) if not isinstance(label, str) else 1
    for wrong in (other_type, "surely not a class", None, [label], 10**400):
        refused = client.post("/feedback", json=[{"id": first, "label": wrong}])
        assert refused.status_code == 422, (wrong, refused.text)
        assert re.search(r"is not one of the model's|must be a single value", refused.json()["message"])


def test_a_model_trained_on_other_columns_is_refused_with_the_columns_named(
    saved: tuple[Path, Contract, str],
) -> None:
    directory, contract, _ = saved
    input_spec = InputSpec.from_schema(contract.inputs)
    other = dataclasses.replace(input_spec, names=(*input_spec.names[:-1], "tenure"))
    with pytest.raises(
        ValueError, match=r"other input columns than the contract's; it lacks tenure; it also takes plan"
    ):
        load_bundle(directory, modelio.manifest(directory), RELEASE, other, model_store())
