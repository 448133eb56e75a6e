"""The prediction service's HTTP face: MLflow-compatible `/invocations`, `/feedback`, health, version and
Prometheus metrics. Routes only: each turns a request into a call on deploy/service.py's PredictionService.

Built for the single-row case that dominates online traffic: the body is parsed with orjson,
checked against the schema in plain Python and NumPy, and scored by a fast path that feeds a
NumPy array through the fitted transformers, skipping the DataFrame round trip. Bad input gets a
4xx that names the field (never the value); a 500 is a model answering NaN or infinity
(MODEL_OUTPUT_INVALID), or a bug.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from deploy import feedback
from deploy.jsonlines import JsonLinesLog
from deploy.openapi import FEEDBACK_SCHEMA, INVOCATIONS_SCHEMA
from deploy.payload import InputSpec, RequestError, loads
from deploy.scoring import Bundle
from deploy.service import ModelOutputInvalid, PredictionService
from deploy.state import MetricsMiddleware, ServiceSettings, State
from pipelines.core.contract import Contract


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status, headers=headers, media_type="application/json")


async def _json_body(request: Request, limit: int) -> Any:
    """The request's JSON body; RequestError 415 for another media type, 413 above `limit` bytes, 400 for bad JSON."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json":
        raise RequestError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json")
    return loads(await _read_body(request, limit))


def _error(error: RequestError, headers: dict[str, str] | None = None) -> Response:
    return _json({"error_code": error.code, "message": error.message}, error.status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise RequestError(413, "BODY_TOO_LARGE", f"request body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestError(413, "BODY_TOO_LARGE", f"request body is larger than {limit} bytes")
    return bytes(body)


NOT_READY = {"error_code": "NOT_READY", "message": "the model is not loaded yet"}


def create_app(
    input_spec: InputSpec,
    load: Callable[[], Bundle],
    settings: ServiceSettings,
    log: JsonLinesLog | None = None,
    feedback_log: JsonLinesLog | None = None,
    challenger: Callable[[], Bundle] | None = None,
    contract: Contract | None = None,
) -> FastAPI:
    """The ASGI app. `load` runs on a background thread at start-up; until it returns the service
    is live but not ready, and `/invocations` and `/feedback` answer 503. Every prediction row gets an id
    (deploy/feedback.py) that `/feedback` takes outcomes for, written to `feedback_log`.

    `challenger` loads a second verified model (a candidate) after the champion, before the service is ready:
    it scores every request too and both outputs are logged with their model hash, for `monitor` to compare
    on live outcomes. Its answer is returned only for the `settings.challenger_traffic` share of requests
    (chosen by id, so the same id always had the same model); a challenger that fails to load or score is
    counted (shadow_failures), and the champion answers (deploy/challenger.py)."""
    # The fitted inner pipelines remember DataFrame column names; the fast path feeds them arrays.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    state = State(settings=settings, input_spec=input_spec, log=log, feedback_log=feedback_log)
    service = PredictionService(state, load, challenger, contract)

    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        threading.Thread(target=service.load, name="load-model", daemon=True).start()
        for writer in (state.log, state.feedback_log):
            if writer:
                writer.start()
        yield
        for writer in (state.log, state.feedback_log):
            if writer:
                writer.close()
        state.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Prediction service", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service  # the one PredictionService (its State: service.state)

    @app.get("/health/live")
    async def live() -> Response:
        return _json({"status": "alive"})

    @app.get("/health/ready", responses={503: {"description": "model not loaded (yet)"}})
    async def ready() -> Response:
        if state.bundle is None:
            return _json(
                {"status": "loading" if state.load_error is None else "failed", "error": state.load_error}, 503
            )
        return _json({"status": "ready", "model_version": state.version})

    @app.get("/version", responses={503: {"description": "model not loaded (yet)"}})
    async def version() -> Response:
        return _json(NOT_READY, 503) if state.bundle is None else _json(service.version())

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/invocations", openapi_extra=INVOCATIONS_SCHEMA)
    async def invocations(request: Request) -> Response:
        if state.bundle is None:
            return _json(NOT_READY, 503)
        try:
            request_id = feedback.request_id(request.headers.get("x-request-id"))
        except RequestError as error:
            return _error(error)
        echo = {"X-Request-ID": request_id}
        try:
            answer = await service.predict(await _json_body(request, settings.max_body_bytes), request_id)
        except RequestError as error:
            return _error(error, echo)
        except ModelOutputInvalid as refusal:  # the model's fault, not the request's: a 500 of its own
            return _json(refusal.body, 500, headers=echo)
        return _json(answer, headers=echo)

    @app.post("/feedback", openapi_extra=FEEDBACK_SCHEMA)
    async def outcomes(request: Request) -> Response:
        if state.bundle is None:
            return _json(NOT_READY, 503)
        try:
            payload = await _json_body(request, settings.max_body_bytes)
        except RequestError as error:
            state.feedback.labels("rejected").inc()
            return _error(error)
        try:
            accepted = service.accept(payload)
        except RequestError as error:
            return _error(error, headers={"Retry-After": "5"} if error.status == 429 else None)
        return _json({"accepted": accepted})

    state.routes = frozenset(route.path for route in app.routes if hasattr(route, "path"))
    app.add_middleware(MetricsMiddleware, state=state)
    return app
