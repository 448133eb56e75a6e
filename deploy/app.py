"""The prediction service: MLflow-compatible `/invocations`, health, version and Prometheus metrics.

Built for the single-row case that dominates online traffic: the body is parsed with orjson,
checked against the schema in plain Python and NumPy, and scored by a fast path that feeds a
NumPy array through the fitted transformers, skipping the DataFrame round trip. Bad input gets a
4xx that names the field (never the value); only a bug in this file can produce a 500.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import warnings
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from deploy import feedback
from deploy.openapi import FEEDBACK_SCHEMA, INVOCATIONS_SCHEMA
from deploy.payload import InputSpec, RequestError, loads, parse_payload
from deploy.predictions import PredictionLog
from deploy.scoring import Bundle
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


def create_app(
    spec: InputSpec,
    load: Callable[[], Bundle],
    settings: ServiceSettings,
    log: PredictionLog | None = None,
    feedback_log: PredictionLog | None = None,
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
    counted (shadow_failures), and the champion answers."""
    # The fitted inner pipelines remember DataFrame column names; the fast path feeds them arrays.
    warnings.filterwarnings("ignore", message="X does not have valid feature names")
    state = State(settings=settings, spec=spec, log=log, feedback_log=feedback_log)

    def load_in_background() -> None:
        try:
            bundle = load()
        except Exception as exc:  # reported by /health/ready; the CLI verifies before starting
            state.load_error = f"{type(exc).__name__}: {exc}"
            return
        if challenger is not None:  # tried before the service is ready, so every request it answers is shadowed
            try:
                state.challenger = feedback.compatible(bundle, challenger())
            except Exception as exc:  # the champion serves on; /version says why there is no challenger
                # our own checks raise ValueError with a message fit to show; anything else shows its kind only
                state.challenger_error = f"{type(exc).__name__}: {exc}" if type(exc) is ValueError else (
                    f"{type(exc).__name__} (see the service's log)")  # fmt: skip
                logging.getLogger("uvicorn.error").warning("the challenger was not loaded: %s: %s",
                                                           type(exc).__name__, exc)  # fmt: skip
                state.shadow_failures.labels("load").inc()
            else:
                loaded = state.challenger.release
                logging.getLogger("uvicorn.error").info(
                    "challenger %s (%s) verified and loaded: scored in shadow",
                    loaded["model_version"], loaded["model_hash"][:12])  # fmt: skip
        state.bundle = bundle
        state.info.labels(*(bundle.release[k] for k in ("model_version", "model_hash", "git_commit", "data_hash"))).set(
            1
        )
        state.ready.set(1)

    async def score(model: Bundle, matrix: Any, n: int) -> Any:
        """`model`'s output on `matrix` (n rows): inline when small, else on a worker thread under the timeout.
        C-contiguous, as orjson needs to write it."""
        if n <= state.settings.inline_max_rows:
            return np.ascontiguousarray(model.output(matrix))
        future = asyncio.get_running_loop().run_in_executor(state.executor, model.output, matrix)
        try:
            return np.ascontiguousarray(await asyncio.wait_for(future, state.settings.request_timeout_seconds))
        except TimeoutError:
            raise RequestError(504, "TIMEOUT", "scoring took longer than the request timeout") from None

    async def shadow(matrix: Any, n: int) -> Any:
        """The challenger's output on the same rows, or None (no challenger, or it failed: counted)."""
        model = state.challenger
        if model is None:
            return None
        try:
            output = await score(model, matrix, n)
            if not feedback.finite_output(output, n):
                raise ValueError("non-finite output")
            return output
        except Exception:  # whatever the challenger does, the request is the champion's
            state.shadow_failures.labels("score").inc()
            return None

    def answer(model: Bundle, output: Any, n: int) -> tuple[Any, dict[str, Any]]:
        """The labels to log and the response body's predictions (and probabilities) of `model`."""
        if model.classes is None:  # regression: the predictions are the values
            return output, {"predictions": output}
        labels = model.classes[output.argmax(axis=1)].tolist()  # as Python values: text, booleans, integers
        return labels, {"predictions": labels, "probabilities": output}

    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        threading.Thread(target=load_in_background, name="load-model", daemon=True).start()
        for writer in (state.log, state.feedback_log):
            if writer:
                writer.start()
        yield
        for writer in (state.log, state.feedback_log):
            if writer:
                writer.close()
        state.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="Prediction service", version="1", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = state

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
        if state.bundle is None:
            return _json({"error_code": "NOT_READY", "message": "the model is not loaded yet"}, 503)
        if challenger is None:
            return _json(state.bundle.release)
        shadow = state.challenger.release if state.challenger else None
        return _json({**state.bundle.release, "challenger": shadow, "challenger_error": state.challenger_error})

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    @app.post("/invocations", openapi_extra=INVOCATIONS_SCHEMA)
    async def invocations(request: Request) -> Response:
        bundle = state.bundle
        if bundle is None:
            return _json({"error_code": "NOT_READY", "message": "the model is not loaded yet"}, 503)
        try:
            request_id = feedback.request_id(request.headers.get("x-request-id"))
        except RequestError as error:
            return _error(error)
        echo = {"X-Request-ID": request_id}
        try:
            rows = parse_payload(await _json_body(request, state.settings.max_body_bytes), spec)
            matrix = spec.to_matrix(rows)
            output = await score(bundle, matrix, len(rows))
        except RequestError as error:
            return _error(error, echo)
        except (ValueError, TypeError) as exc:  # the model refused input that passed the schema
            message = f"the model could not score this input ({type(exc).__name__})"
            return _error(RequestError(422, "UNSCORABLE", message), echo)
        if not feedback.finite_output(output, len(rows)):  # the model's fault, not the request's: a 500 of its own
            state.invalid_outputs.labels(bundle.release["model_version"]).inc(len(rows))
            message = "the model's output is not a finite number (NaN or infinity) for this input; nothing was logged"
            refusal = {"error_code": "MODEL_OUTPUT_INVALID", "message": message, "request_id": request_id}
            return _json(refusal, 500, headers=echo)
        ids = feedback.make_ids(bundle.release["model_hash"], len(rows))
        scored = [(bundle, output, "champion")]
        other = await shadow(matrix, len(rows))
        if other is not None:
            assert state.challenger is not None
            scored.append((state.challenger, other, "challenger"))
            if feedback.challenger_answers(ids[0], state.settings.challenger_traffic):
                scored.reverse()
            state.shadow_rows.labels(str(scored[0][2] == "challenger").lower()).inc(len(rows))
        outputs = {role: (model, out, *answer(model, out, len(rows))) for model, out, role in scored}
        model, _, labels, body = outputs[scored[0][2]]  # what the answering model returned
        body = {**body, "ids": ids}
        version = model.release["model_version"]
        counts = Tally(map(str, labels)) if model.classes is not None else {"": len(rows)}
        for value, count in counts.items():
            state.predictions.labels(value, version).inc(count)
        sampled = state.log is not None and state.log.sample()
        unlogged = state.not_logged(len(rows), sampled)
        if unlogged is not None:  # say so: an outcome for these ids will find no prediction to join
            body["not_logged"] = unlogged
        if sampled and state.log is not None:  # one record: the inputs once, both models' outputs
            champion, out, labels, _ = outputs["champion"]
            other = None
            if "challenger" in outputs:
                model, c_out, c_labels, _ = outputs["challenger"]
                other = {"model_version": model.release["model_version"], "model_hash": model.release["model_hash"],
                         "predictions": c_labels, "probabilities": None if model.classes is None else c_out,
                         "answered": scored[0][2] == "challenger"}  # fmt: skip
            state.log.offer(spec.names, rows, labels, None if champion.classes is None else out,
                            champion.release["model_version"], ids, champion.release["model_hash"],
                            None if champion.classes is None else champion.classes.tolist(), request_id,
                            answered=scored[0][2] == "champion", challenger=other, sampled=True)  # fmt: skip
        return _json(body, headers=echo)

    @app.post("/feedback", openapi_extra=FEEDBACK_SCHEMA)
    async def outcomes(request: Request) -> Response:
        bundle = state.bundle
        if bundle is None:
            return _json({"error_code": "NOT_READY", "message": "the model is not loaded yet"}, 503)
        try:
            payload = await _json_body(request, state.settings.max_body_bytes)
            classes = None if bundle.classes is None else bundle.classes.tolist()
            items = feedback.parse_feedback(
                payload,
                classes,
                [m.release["model_hash"] for m in (bundle, state.challenger) if m is not None],
                state.settings.feedback_max_items,
                state.settings.feedback_max_age_days,
                contract=contract,
            )
        except RequestError as error:
            state.feedback.labels("rejected").inc()
            return _error(error)
        now = time.time()
        if state.feedback_log and not state.feedback_log.offer_batch(
            [{"ts": now, **i, "source": "api"} for i in items]
        ):
            state.feedback.labels("busy").inc()
            busy = RequestError(429, "BUSY", "the feedback log is behind; nothing was recorded, retry later")
            return _error(busy, headers={"Retry-After": "5"})
        state.feedback.labels("accepted").inc(len(items))
        return _json({"accepted": len(items)})

    app.add_middleware(MetricsMiddleware, state=state)
    return app
