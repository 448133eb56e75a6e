"""The service in-process: formats, errors that name the field, health, metrics, and fuzzing."""

from __future__ import annotations

import json
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
from tests.conftest import FEATURES
from tests.service.conftest import SETTINGS, SPEC

# asserts columns and numbers of the bundled breast-cancer example
pytestmark = pytest.mark.example


@pytest.fixture(scope="module")
def rows(holdout: list[list[float]]) -> list[list[float]]:
    return holdout[:5]


def _records(rows: list[list[float]]) -> list[dict[str, float]]:
    return [dict(zip(FEATURES, r, strict=True)) for r in rows]


def test_all_four_mlflow_formats_give_the_same_predictions(client: TestClient, rows, bundle: Bundle) -> None:
    expected = bundle.slow_output(np.array(rows))
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
        np.testing.assert_allclose(body["probabilities"], expected, atol=1e-12)
        assert body["predictions"] == list(bundle.classes[expected.argmax(axis=1)])


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (lambda r: r.pop("mean_radius"), 400, "row 0: missing column(s): mean_radius"),
        (lambda r: r.update(patient_id=1), 400, "row 0: unknown column(s): patient_id"),
        (lambda r: r.update(radius=r.pop("mean_radius")), 400,
         "row 0: missing column(s): mean_radius; unknown column(s): radius"),
        (lambda r: r.update(mean_area="1000"), 422, "row 0: column mean_area must be a number"),
        (lambda r: r.update(mean_area=True), 422, "row 0: column mean_area has the wrong type (bool)"),
        (lambda r: r.update(mean_area=None), 422, "row 0: column mean_area must not be null"),
        (lambda r: r.update(mean_area=-4.0), 422, "row 0: column mean_area is outside its allowed range [0, 6000]"),
        (lambda r: r.update(mean_area=[1.0]), 422, "row 0: column mean_area has the wrong type (list)"),
    ],
)  # fmt: skip
def test_bad_rows_get_a_4xx_naming_the_field_and_never_the_value(client: TestClient, rows, change, status, message):  # type: ignore[no-untyped-def]
    record = _records(rows)[0]
    record["mean_texture"] = 13.131313  # a value that must never be echoed back
    change(record)
    response = client.post("/invocations", json={"dataframe_records": [record]})
    assert response.status_code == status
    assert response.json()["message"] == message
    assert "13.1313" not in response.text


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
    client.post("/invocations", json={"instances": rows})
    client.post("/invocations", json={"instances": [[1.0]]})
    text = client.get("/metrics").text
    assert 'prediction_requests_total{model_version="test",route="/invocations",status="200"}' in text
    assert 'prediction_requests_total{model_version="test",route="/invocations",status="400"}' in text
    assert 'prediction_request_duration_seconds_bucket{le="0.001",model_version="test",route="/invocations"' in text
    assert 'predictions_total{class="0",model_version="test"}' in text
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
                                                          min_size=30, max_size=30), max_size=3)}),
    st.fixed_dictionaries({"dataframe_records": st.lists(st.fixed_dictionaries(
        {name: st.one_of(st.floats(), st.integers(-10**20, 10**20)) for name in FEATURES}), max_size=2)}),
))  # fmt: skip
def test_no_payload_ever_gets_a_server_error(client: TestClient, payload) -> None:  # type: ignore[no-untyped-def]
    try:
        body = json.dumps(payload, allow_nan=True).encode()
    except (ValueError, OverflowError):
        return
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
