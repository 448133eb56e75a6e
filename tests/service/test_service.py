"""The prediction service as an object, without HTTP (deploy/service.py): what a route asks of it, answered the
same way the HTTP tests see it, so a new endpoint is a thin route over a method tested here."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from deploy.payload import RequestError
from deploy.scoring import Bundle
from deploy.service import PredictionService
from deploy.state import State
from pipelines.core.ids import problem
from tests.helpers.service import SETTINGS, SPEC


def _service(bundle: Bundle) -> PredictionService:
    service = PredictionService(State(settings=SETTINGS, input_spec=SPEC), lambda: bundle)
    service.load()
    return service


def test_a_loaded_service_predicts_with_one_valid_id_per_row_and_counts_the_rows(
    bundle: Bundle, holdout: list[list[Any]]
) -> None:
    service = _service(bundle)
    assert service.state.bundle is bundle and service.version() == bundle.labels
    body = asyncio.run(service.predict({"dataframe_split": {"columns": list(SPEC.names), "data": holdout[:7]}}, "r1"))
    assert len(body["predictions"]) == len(body["ids"]) == 7
    assert all(problem(i, [bundle.labels["model_hash"]], 1.0, time.time()) is None for i in body["ids"])
    expected = bundle.output(SPEC.to_matrix(holdout[:7]))
    assert np.allclose(body.get("probabilities", body["predictions"]), expected)
    counted = sum(s.value for m in service.state.registry.collect() if m.name == "predictions" for s in m.samples
                  if s.name == "predictions_total")  # fmt: skip
    assert counted == 7


def test_input_the_contract_refuses_raises_a_request_error_and_feedback_for_an_unknown_id_too(
    bundle: Bundle, holdout: list[list[Any]]
) -> None:
    service = _service(bundle)
    with pytest.raises(RequestError) as refused:
        asyncio.run(service.predict({"dataframe_split": {"columns": ["nope"], "data": [[1]]}}, "r2"))
    assert 400 <= refused.value.status < 500
    field = "value" if bundle.classes is None else "label"
    outcome = 1.0 if bundle.classes is None else bundle.classes.tolist()[0]
    with pytest.raises(RequestError) as unknown:
        service.accept([{"id": "0" * 37, field: outcome}])
    assert unknown.value.status == 422 and "id" in unknown.value.message


def test_metrics_label_every_route_of_the_app_by_its_path_and_anything_else_other(client: Any) -> None:
    """No hand-kept list: a route the app declares is counted under its path, an unknown path as "other"."""
    paths = sorted(client.app.state.service.state.routes)
    assert {"/invocations", "/feedback", "/health/live", "/health/ready", "/version", "/metrics"} <= set(paths)
    for path in paths:
        client.get(path)
    client.get("/no-such-route")
    text = client.get("/metrics").text
    for path in paths:
        assert f'route="{path}"' in text, path
    assert 'route="other",status="404"' in text


def test_a_personal_input_is_scored_but_never_written_to_the_prediction_log(
    bundle: Bundle, holdout: list[list[Any]], tmp_path: Path
) -> None:
    """The first input tagged personal (as deploy.payload.InputSpec.from_schema reads the contract's tag): the
    answer is the model's on every input; the log line has every other column, and no value of that one."""
    import dataclasses
    import json

    from deploy.jsonlines import JsonLinesLog
    from tests.helpers.service import log_settings

    spec = dataclasses.replace(SPEC, personal=(True,) + (False,) * (len(SPEC.names) - 1))
    log = JsonLinesLog(log_settings(tmp_path))
    service = PredictionService(State(settings=SETTINGS, input_spec=spec, log=log), lambda: bundle)
    service.load()
    log.start()
    rows = [list(row) for row in holdout[:5]]
    body = asyncio.run(service.predict({"dataframe_split": {"columns": list(SPEC.names), "data": rows}}, "r3"))
    log.close()
    assert np.allclose(body.get("probabilities", body["predictions"]), bundle.output(SPEC.to_matrix(holdout[:5])))
    (line,) = [json.loads(x) for f in tmp_path.glob("predictions-*.jsonl") for x in f.read_text().splitlines()]
    assert line["columns"] == list(SPEC.names[1:]) and line["rows"] == [row[1:] for row in holdout[:5]]
