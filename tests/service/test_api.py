"""The service in-process, on the project's own model and columns: formats, errors that name the field,
health, metrics, labels of any type, missing values, and fuzzing."""

from __future__ import annotations

import json
import math
import threading
import time

import hypothesis.strategies as st
import numpy as np
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from deploy.app import create_app
from deploy.scoring import Bundle
from pipelines.core.names import one_of, shown
from tests.helpers.project import CONTRACT, ESTIMATORS, FEATURES
from tests.helpers.service import SETTINGS, SPEC

SECRET = 13.131313  # a value that must never be echoed back


@pytest.fixture(scope="module")
def rows(holdout: list[list]) -> list[list]:
    return [list(r) for r in holdout[:5]]


def _records(rows: list[list]) -> list[dict]:
    return [dict(zip(FEATURES, r, strict=True)) for r in rows]


def _labels(bundle: Bundle, output: np.ndarray) -> list:
    return bundle.classes[output.argmax(axis=1)].tolist() if bundle.classes is not None else output.tolist()


def test_the_fast_path_is_on_for_the_estimators_that_offer_one_and_agrees_off_its_probe(
    bundle: Bundle, holdout
) -> None:  # type: ignore[no-untyped-def]
    """The probe is training rows; the comparison is on every holdout row."""
    estimator = bundle.model.steps[-1][1]
    if any(e.fast_path is not None and e.fast_path(estimator) is not None for e in ESTIMATORS.values()):
        assert bundle.fast is not None, "the estimator offers a fast path and the service is not using it"
    matrix = SPEC.to_matrix([list(r) for r in holdout])
    np.testing.assert_allclose(bundle.output(matrix), bundle.slow_output(matrix), rtol=0, atol=1e-9)


def test_all_four_mlflow_formats_give_the_same_predictions(client: TestClient, rows, bundle: Bundle) -> None:  # type: ignore[no-untyped-def]
    expected = bundle.slow_output(SPEC.to_matrix([list(r) for r in rows]))
    payloads = [
        {"dataframe_split": {"columns": FEATURES, "data": rows}},
        {"dataframe_split": {"columns": FEATURES[::-1], "data": [r[::-1] for r in rows]}},  # any column order
        {"dataframe_records": _records(rows)},
        {"instances": _records(rows)},
        {"instances": rows},
        {"inputs": {name: [r[i] for r in rows] for i, name in enumerate(FEATURES)}},
    ]
    for payload in payloads:
        response = client.post("/invocations", json=payload)
        assert response.status_code == 200, (payload.keys(), response.text)
        body = response.json()
        if bundle.classes is None:
            np.testing.assert_allclose(body["predictions"], expected, atol=1e-9)
        else:
            np.testing.assert_allclose(body["probabilities"], expected, atol=1e-12)
            assert body["predictions"] == _labels(bundle, expected)


def _bad_cases() -> list[tuple[str, object, int, str]]:
    """(description, change of one record, status, message) for the project's own columns."""
    first = FEATURES[0]
    cases: list[tuple[str, object, int, str]] = [
        ("missing column", lambda r: r.pop(first), 400, f"row 0: missing column(s): {shown(first)}"),
        ("unknown column", lambda r: r.update({"patient id": 1}), 400, 'row 0: unknown column(s): "patient id"'),
        ("renamed column", lambda r: r.update({first + "_x": r.pop(first)}), 400,
         f"row 0: missing column(s): {shown(first)}; unknown column(s): {shown(first + '_x')}"),
    ]  # fmt: skip
    for j, name in enumerate(FEATURES):

        def put(value: object, name: str = name):  # type: ignore[no-untyped-def]
            return lambda r: r.update({name: value})

        cases.append((f"{name}: a list", put([1.0]), 422, f"row 0: column {shown(name)} has the wrong type (list)"))
        if SPEC.numeric[j]:
            cases.append((f"{name}: text", put("1000"), 422, f"row 0: column {shown(name)} must be a number"))
            cases.append((f"{name}: boolean", put(True), 422, f"row 0: column {shown(name)} has the wrong type (bool)"))
            low, high = SPEC.low[j], SPEC.high[j]
            if math.isfinite(low) and math.isfinite(high):
                message = f"row 0: column {shown(name)} is outside its allowed range [{low:g}, {high:g}]"
                cases.append((f"{name}: out of range", put(low - max(1.0, abs(low))), 422, message))
        else:
            cases.append((f"{name}: a number", put(SECRET), 422, f"row 0: column {shown(name)} must be a string"))
            domain = SPEC.allowed[j] if SPEC.allowed else None
            if domain is not None:
                message = f"row 0: column {shown(name)} must be one of {one_of(domain)}"
                cases.append((f"{name}: unknown category", put("\u2603 not a category"), 422, message))
        if not SPEC.nullable[j]:
            cases.append((f"{name}: null", put(None), 422, f"row 0: column {shown(name)} must not be null"))
    return cases


BAD = _bad_cases()


@pytest.mark.parametrize(("description", "change", "status", "message"), BAD, ids=[c[0] for c in BAD])
def test_bad_rows_get_a_4xx_naming_the_field_and_never_the_value(
    client: TestClient, rows, description, change, status, message
):  # type: ignore[no-untyped-def]
    record = _records(rows)[0]
    numeric = [n for j, n in enumerate(FEATURES) if SPEC.numeric[j] and n not in description]
    if numeric:  # a value that must never be echoed back, in another column
        j = FEATURES.index(numeric[0])
        record[numeric[0]] = SECRET if SPEC.low[j] <= SECRET <= SPEC.high[j] else record[numeric[0]]
    change(record)
    response = client.post("/invocations", json={"dataframe_records": [record]})
    assert response.status_code == status, response.text
    assert response.json()["message"] == message
    assert "13.1313" not in response.text and "not a category" not in response.text


def test_nan_from_python_and_mlflow_clients_is_read_as_missing(client: TestClient, rows) -> None:  # type: ignore[no-untyped-def]
    """json.dumps writes NaN for a missing float (not JSON): a nullable column takes it, others name the column."""
    for j, name in enumerate(FEATURES):
        if not SPEC.numeric[j]:
            continue
        record = _records(rows)[0] | {name: float("nan")}
        body = json.dumps({"dataframe_records": [record]}).encode()
        response = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
        if SPEC.nullable[j]:
            assert response.status_code == 200, response.text
        else:
            assert (
                response.status_code == 422
                and response.json()["message"] == f"row 0: column {shown(name)} must not be null"
            )
    infinite = json.dumps({"instances": [[float("inf")] * len(FEATURES)]}).encode()
    assert (
        client.post("/invocations", content=infinite, headers={"Content-Type": "application/json"}).status_code == 422
    )


def test_transport_level_errors(client: TestClient, rows) -> None:  # type: ignore[no-untyped-def]
    ok = json.dumps({"instances": rows[:1]})
    assert client.post("/invocations", content=ok, headers={"Content-Type": "text/csv"}).status_code == 415
    assert client.post("/invocations", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    assert client.post("/invocations", content=b"[" * 5000 + b"]" * 5000,
                       headers={"Content-Type": "application/json"}).status_code == 400  # fmt: skip
    big = json.dumps({"instances": rows * 2000})
    response = client.post("/invocations", content=big, headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "larger than 200000 bytes" in response.json()["message"]
    assert client.post("/invocations", json={"instances": [], "inputs": []}).status_code == 400
    assert client.post("/invocations", json={"instances": rows[:1], "secret": 1}).status_code == 400
    assert client.post("/invocations", json={"instances": rows[:1]}).status_code == 200  # still serving


def test_readiness_is_false_until_the_model_is_loaded(bundle: Bundle, rows) -> None:  # type: ignore[no-untyped-def]
    release = threading.Event()

    def slow_load() -> Bundle:
        release.wait(10)
        return bundle

    with TestClient(create_app(SPEC, slow_load, SETTINGS)) as client:
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").json() == {"status": "loading", "error": None}
        assert client.post("/invocations", json={"instances": rows}).status_code == 503
        release.set()
        for _ in range(100):
            if client.get("/health/ready").status_code == 200:
                break
            time.sleep(0.01)
        assert client.get("/health/ready").json() == {"status": "ready", "model_version": "test"}
        assert client.get("/version").json()["git_commit"] == "c" * 40


def test_a_load_failure_is_reported_by_readiness_not_a_crash() -> None:
    def broken() -> Bundle:
        raise RuntimeError("model file missing")

    with TestClient(create_app(SPEC, broken, SETTINGS)) as client:
        for _ in range(100):
            if client.get("/health/ready").json()["status"] == "failed":
                break
            time.sleep(0.01)
        assert client.get("/health/ready").json() == {"status": "failed", "error": "RuntimeError: model file missing"}
        assert client.get("/health/live").status_code == 200


def test_metrics_count_requests_by_status_and_predictions_by_class(client: TestClient, rows) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/invocations", json={"instances": rows}).json()
    client.post("/invocations", json={"instances": [[1.0]]})
    text = client.get("/metrics").text
    assert 'prediction_requests_total{model_version="test",route="/invocations",status="200"}' in text
    assert 'prediction_requests_total{model_version="test",route="/invocations",status="400"}' in text
    assert 'prediction_request_duration_seconds_bucket{le="0.001",model_version="test",route="/invocations"' in text
    label = "" if CONTRACT.task == "regression" else str(answer["predictions"][0])
    assert f'predictions_total{{class="{label}",model_version="test"}}' in text
    assert 'model_info{data_hash="d",git_commit="' in text and "model_ready 1.0" in text


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=40,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"dataframe_split": st.fixed_dictionaries({"columns": st.just(FEATURES), "data": json_values})}
    ),
    st.fixed_dictionaries({"instances": st.lists(st.lists(st.one_of(st.floats(), st.integers(-10**30, 10**30),
                                                                    st.none(), st.text(max_size=3)),
                                                          min_size=len(FEATURES), max_size=len(FEATURES)),
                                                 max_size=3)}),
    st.fixed_dictionaries({"dataframe_records": st.lists(st.fixed_dictionaries(
        {name: st.one_of(st.floats(), st.integers(-10**20, 10**20), st.none(), st.booleans(), st.text(max_size=4))
         for name in FEATURES}), max_size=2)}),
))  # fmt: skip
def test_no_payload_ever_gets_a_server_error(client: TestClient, payload) -> None:  # type: ignore[no-untyped-def]
    body = json.dumps(payload, allow_nan=True).encode()  # NaN and Infinity tokens too, as Python clients send
    response = client.post("/invocations", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 400, 413, 422)


def _exercise(operation, failures: list, calls: list) -> None:  # type: ignore[no-untyped-def]
    """Run schemathesis-generated cases for one operation, recording any 5xx."""

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:  # type: ignore[no-untyped-def]
        response = case.call()
        if response.status_code >= 500:
            failures.append((operation.label, response.status_code, response.text[:200]))
        calls.append(operation.label)

    check()


def test_schemathesis_finds_no_server_error(client: TestClient) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    failures: list[tuple[str, int, str]] = []
    calls: list[str] = []
    for operation in schema.get_all_operations():
        _exercise(operation.ok(), failures, calls)
    assert failures == []
    assert {"POST /invocations", "GET /health/ready", "GET /metrics"} <= set(calls)
