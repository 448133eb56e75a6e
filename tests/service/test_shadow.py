"""Ids, feedback and a shadow challenger in the in-process service, on the project's own model: what a
client gets is the champion's answer whatever the challenger does; both are logged with their model hash."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from deploy.app import create_app
from deploy.jsonlines import JsonLinesLog
from deploy.payload import InputSpec
from deploy.scoring import Bundle
from pipelines.core import ids
from tests.helpers.project import CONTRACT
from tests.helpers.service import SETTINGS, SPEC, log_settings

CHALLENGER = "1" * 64
TARGET = InputSpec.from_schema(CONTRACT.raw.select_columns([CONTRACT.target]))  # its bounds


def _other(bundle: Bundle, output: Any = None) -> Bundle:
    """A challenger: the champion's pipeline with another output (reversed classes' scores, or value + 1),
    or `output` (a function of the input matrix)."""
    model_hash = {**bundle.labels, "model_hash": CHALLENGER, "model_version": "challenger"}

    def shifted(matrix: np.ndarray) -> np.ndarray:
        base = bundle.output(matrix)
        return base + 1.0 if bundle.classes is None else base[:, ::-1]

    return dataclasses.replace(bundle, labels=model_hash, fast=output or shifted)  # type: ignore[arg-type]


def _ready(client: TestClient) -> TestClient:
    deadline = time.monotonic() + 30
    while client.get("/health/ready").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return client


@pytest.fixture
def service(bundle: Bundle, tmp_path: Path) -> Iterator[Any]:
    """A factory: the app with `challenger` (a Bundle, or a callable that raises) at `traffic`, logging to
    tmp_path/logs; returns (client, log directory)."""
    opened: list[TestClient] = []

    def make(challenger: Any = None, traffic: float = 0.0) -> tuple[TestClient, Path]:
        directory = tmp_path / f"logs-{len(opened)}"
        log = JsonLinesLog(log_settings(directory, sample_rate=1.0), seed=0)
        settings = dataclasses.replace(SETTINGS, challenger_traffic=traffic, max_body_bytes=200_000)
        load = None if challenger is None else (challenger if callable(challenger) else lambda: challenger)
        client = TestClient(create_app(SPEC, lambda: bundle, settings, log, challenger=load, contract=CONTRACT),
                            raise_server_exceptions=False)  # fmt: skip
        opened.append(client.__enter__())
        return _ready(client), directory

    yield make
    for client in opened:
        client.__exit__(None, None, None)


def _records(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for f in sorted(directory.glob("predictions-*.jsonl")) for line in f.read_text().splitlines()
    ]


def _without_ids(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "ids"}


def test_shadow_scoring_never_changes_the_champions_answer_and_both_are_logged(
    service: Any, bundle: Bundle, holdout: list[list[Any]]
) -> None:
    alone, _ = service()
    shadowed, logs = service(_other(bundle))
    payload = {"instances": holdout[:20]}
    expected = alone.post("/invocations", json=payload).json()
    response = shadowed.post("/invocations", json=payload, headers={"X-Request-ID": "order-42"})
    assert response.status_code == 200 and response.headers["x-request-id"] == "order-42"
    body = response.json()
    assert _without_ids(body) == _without_ids(expected)
    assert len(body["ids"]) == 20 and all(ids.well_formed(i) for i in body["ids"])
    assert shadowed.get("/version").json()["challenger"]["model_hash"] == CHALLENGER
    shadowed.__exit__(None, None, None)  # flush the log
    (record,) = _records(logs)  # one record: the inputs once, both outputs
    shadow = record["challenger"]
    assert record["ids"] == body["ids"] and record["answered"] and not shadow["answered"]
    assert shadow["model_hash"] == CHALLENGER and record["model_hash"] == bundle.labels["model_hash"]
    assert record["request_id"] == "order-42" and len(record["rows"]) == 20
    assert shadow["predictions"] != record["predictions"] or CONTRACT.task == "regression"


def test_a_failing_challenger_never_fails_a_request_it_is_counted(
    service: Any, bundle: Bundle, holdout: list[list[Any]]
) -> None:
    def broken(matrix: np.ndarray) -> np.ndarray:
        raise RuntimeError("the challenger fell over")

    def nan(matrix: np.ndarray) -> np.ndarray:
        return np.full_like(bundle.output(matrix), np.nan)

    alone, _ = service()
    expected = alone.post("/invocations", json={"instances": holdout[:3]}).json()
    for fault in (broken, nan):
        client, logs = service(_other(bundle, fault))
        for _ in range(3):
            response = client.post("/invocations", json={"instances": holdout[:3]})
            assert response.status_code == 200
            assert _without_ids(response.json()) == _without_ids(expected)
        assert 'shadow_failures_total{stage="score"} 3.0' in client.get("/metrics").text
        client.__exit__(None, None, None)
        assert all("challenger" not in r for r in _records(logs))


def test_a_challenger_that_cannot_stand_in_is_not_loaded_and_the_champion_serves(
    service: Any, bundle: Bundle, holdout: list[list[Any]]
) -> None:
    def refuses() -> Bundle:
        raise ValueError("challenger directory does not match its manifest")

    wrong_kind = dataclasses.replace(_other(bundle), classes=None if bundle.classes is not None else np.array([0, 1]))
    for challenger in (refuses, wrong_kind):
        client, _ = service(challenger)
        assert client.post("/invocations", json={"instances": holdout[:2]}).status_code == 200
        version = client.get("/version").json()
        assert version["challenger"] is None and version["challenger_error"]
        assert 'shadow_failures_total{stage="load"} 1.0' in client.get("/metrics").text


def test_an_ab_split_answers_by_id_with_the_challenger_for_its_share(
    service: Any, bundle: Bundle, holdout: list[list[Any]]
) -> None:
    champion_only, _ = service(_other(bundle), traffic=0.0)
    challenger_only, logs = service(_other(bundle), traffic=1.0)
    payload = {"instances": holdout[:5]}
    champion = champion_only.post("/invocations", json=payload).json()
    challenged = challenger_only.post("/invocations", json=payload).json()
    expected = _other(bundle).output(SPEC.to_matrix(holdout[:5]))
    key = "predictions" if bundle.classes is None else "probabilities"
    np.testing.assert_allclose(challenged[key], expected, rtol=0, atol=1e-12)
    assert challenged[key] != champion[key]
    challenger_only.__exit__(None, None, None)
    (record,) = _records(logs)
    assert (record["answered"], record["challenger"]["answered"]) == (False, True)
    # the split is a function of the id: about `traffic` of the ids, the same each time
    from deploy.challenger import challenger_answers
    from deploy.feedback import make_ids

    many = make_ids("ab" * 32, 4000)
    share = sum(challenger_answers(i, 0.25) for i in many) / len(many)
    assert 0.22 < share < 0.28 and [challenger_answers(i, 0.25) for i in many[:50]] == [
        challenger_answers(i, 0.25) for i in many[:50]
    ]


def test_feedback_takes_the_ids_it_handed_out_and_refuses_the_rest_with_4xx(
    service: Any, bundle: Bundle, holdout: list[list[Any]], project_split: Any
) -> None:
    client, _ = service(_other(bundle))
    given = client.post("/invocations", json={"instances": holdout[:4]}).json()["ids"]
    truth = project_split[1][CONTRACT.target].head(4).tolist()
    field = "value" if bundle.classes is None else "label"
    good = [{"id": i, field: t.item() if hasattr(t, "item") else t} for i, t in zip(given, truth, strict=True)]
    assert client.post("/feedback", json=good).json() == {"accepted": 4}
    whole = "int" in str(CONTRACT.column(CONTRACT.target).dtype)
    if whole:  # a class as a table may store it: 1.0 is the class 1
        written = [{"id": g["id"], field: float(g[field])} for g in good]
        assert client.post("/feedback", json=written).json() == {"accepted": 4}
    assert client.post("/feedback", json={"feedback": good[:1]}).status_code == 200
    foreign = ids.compose("f" * 64, int(time.time() * 1000), b"\0" * 5)
    expired = ids.compose(bundle.labels["model_hash"], int((time.time() - 400 * 86400) * 1000), b"\0" * 5)
    outside = "no such class" if bundle.classes is not None else "seven point three"
    bad = {
        "malformed id": ([{"id": "123", field: good[0][field]}], 422),
        "check digits": ([{"id": given[0][:-1] + ("0" if given[0][-1] != "0" else "1"), field: good[0][field]}], 422),
        "foreign id": ([{"id": foreign, field: good[0][field]}], 422),
        "expired id": ([{"id": expired, field: good[0][field]}], 422),
        "outcome outside the target": ([{"id": given[0], field: outside}], 422),
        "wrong field": ([{"id": given[0], "prediction": 1}], 400),
        "not a list": ({"id": given[0]}, 400),
        "empty": ([], 400),
        "too many": ([good[0]] * (SETTINGS.feedback_max_items + 1), 413),
        "an integer too long for a float": ([{"id": given[0], field: 10**400}], 422),
    }
    if bundle.classes is None and np.isfinite(TARGET.high[0]):  # a regression target with a bound in the contract
        bad["a value outside the target's rule"] = ([{"id": given[0], field: float(TARGET.high[0]) * 2 + 1}], 422)
    for name, (payload, status) in bad.items():
        response = client.post("/feedback", json=payload)
        assert response.status_code == status, (name, response.text)
        assert str(outside) not in response.json()["message"], "a refusal never echoes the value"
    assert (
        client.post("/feedback", content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    )
    assert client.post("/feedback", content=b"[]", headers={"Content-Type": "text/csv"}).status_code == 415
    assert (
        client.post("/invocations", json={"instances": holdout[:1]}, headers={"X-Request-ID": "bad id!"}).status_code
        == 400
    )
    refused = client.post("/invocations", json={"instances": [[]]}, headers={"X-Request-ID": "order-7"})
    assert refused.status_code == 400 and refused.headers["x-request-id"] == "order-7"
    metrics = client.get("/metrics").text
    assert f'feedback_total{{result="accepted"}} {5.0 + 4 * whole}' in metrics
    assert f'feedback_total{{result="rejected"}} {len(bad) + 2}.0' in metrics


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_champion_whose_output_is_not_finite_answers_500_of_its_own_logs_nothing_and_counts_it(
    bundle: Bundle, tmp_path: Path, holdout: list[list[Any]], bad: float
) -> None:
    """Never a `null` prediction: MODEL_OUTPUT_INVALID with the request id, no log record, a counter by version."""

    def broken(matrix: np.ndarray) -> np.ndarray:
        out = np.array(bundle.output(matrix), dtype=float)
        if len(out) > 1:  # requests of several rows get one bad output
            out[1] = bad
        return out

    champion = dataclasses.replace(bundle, fast=broken)
    log = JsonLinesLog(log_settings(tmp_path / "logs", sample_rate=1.0), seed=0)
    app = create_app(SPEC, lambda: champion, SETTINGS, log, contract=CONTRACT)
    with TestClient(app, raise_server_exceptions=False) as client:
        _ready(client)
        response = client.post("/invocations", json={"instances": holdout[:3]}, headers={"X-Request-ID": "order-7"})
        assert response.status_code == 500
        body = response.json()
        assert body["error_code"] == "MODEL_OUTPUT_INVALID" and body["request_id"] == "order-7"
        assert response.headers["X-Request-ID"] == "order-7"
        version = bundle.labels["model_version"]
        assert f'model_output_invalid_total{{model_version="{version}"}} 3.0' in client.get("/metrics").text
        assert client.post("/invocations", json={"instances": holdout[2:3]}).status_code == 200  # still serving
    assert all(len(r["rows"]) == 1 for r in _records(tmp_path / "logs"))  # only the good request was logged


def test_rows_the_log_does_not_record_are_named_in_the_response_a_metric_and_the_monitors_line(
    bundle: Bundle, tmp_path: Path, holdout: list[list[Any]], project_split: Any
) -> None:
    """A request longer than serve.log.max_rows_per_request, and one sampled out: the response says how many rows
    were not logged and why, a counter counts them by reason, and the monitor names the cause of the outcomes that
    then find no prediction (issue 31, item 5)."""
    from pipelines.adapters import sources
    from pipelines.core.feedback import join, unmatched_causes
    from pipelines.core.monitor_report import live_performance as report
    from pipelines.core.outcomes import latest_outcomes

    directory = tmp_path / "logs"
    log = JsonLinesLog(log_settings(directory, sample_rate=1.0, max_rows_per_request=3), seed=0)
    with TestClient(create_app(SPEC, lambda: bundle, SETTINGS, log, contract=CONTRACT)) as client:
        _ready(client)
        answer = client.post("/invocations", json={"instances": holdout[:5]}).json()
        assert answer["not_logged"]["rows"] == 2 and "max_rows_per_request" in answer["not_logged"]["reason"]
        assert "not_logged" not in client.post("/invocations", json={"instances": holdout[:3]}).json()
        assert 'prediction_rows_not_logged_total{reason="row_cap"} 2.0' in client.get("/metrics").text
        log.settings = dataclasses.replace(log.settings, sample_rate=0.0)  # the next request is sampled out
        skipped = client.post("/invocations", json={"instances": holdout[:2]}).json()
        assert skipped["not_logged"]["rows"] == 2 and "sample_rate" in skipped["not_logged"]["reason"]
        assert 'prediction_rows_not_logged_total{reason="sampled_out"} 2.0' in client.get("/metrics").text
    truth = project_split[1][CONTRACT.target].head(5).tolist()
    field = "value" if bundle.classes is None else "label"
    sent = [{"id": i, field: t.item() if hasattr(t, "item") else t, "ts": time.time()}
            for i, t in zip(answer["ids"] + skipped["ids"][:1], truth + truth[:1], strict=True)]  # fmt: skip
    logged = sources.read_predictions(sources.list_logs(str(directory)), None)
    outcomes = latest_outcomes(sent)
    _, unmatched = join(logged, outcomes)
    causes = unmatched_causes(logged, outcomes, None)
    assert unmatched == 3 and causes == {"row_cap": 2, "not_logged": 1}
    line = report(
        [
            {
                "model_hash": bundle.labels["model_hash"],
                "role": "champion",
                "labelled": 3,
                "predictions": 6,
                "coverage": 0.5,
                "label_delay_hours": None,
                "unmatched": unmatched,
                "unmatched_causes": causes,
                "judged": False,
                "metrics": {},
                "intervals": {},
                "below_floors": [],
            }
        ],
        {},
        CONTRACT.task,
        50,
    )
    assert "3 outcome(s) without a prediction in the window: 2 past serve.log.max_rows_per_request" in line
