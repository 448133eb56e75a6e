"""The prediction service as one object, testable without HTTP: it loads the champion (and a challenger), scores
requests, shadows them, logs them and takes outcomes back. deploy/app.py only turns HTTP into calls on it.

Built once per process (`create_app` builds it from what `python -m pipelines serve` hands in) and read by the
routes; its state (models, logs, Prometheus metrics) is deploy/state.py's `State`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
from typing import Any

import numpy as np

from deploy import challenger as shadowing
from deploy import feedback
from deploy.jsonlines import PredictionLogEntry
from deploy.payload import RequestError, parse_payload
from deploy.scoring import Bundle
from deploy.state import State
from pipelines.core.contract import Contract

_log = logging.getLogger("uvicorn.error")


class ModelOutputInvalid(Exception):
    """The model answered NaN or infinity for valid input: the model's fault, answered with a 500 of its own
    (`body`), nothing logged."""

    def __init__(self, body: dict[str, Any]):
        super().__init__(body["message"])
        self.body = body


class PredictionService:
    """`load()` once (a background thread at start-up), then `predict(payload, request_id)` per /invocations and
    `accept(payload)` per /feedback. `loader` returns the verified champion; `challenger`, when given, a second
    verified model scored in shadow (a failure to load or score it is counted, and the champion serves on);
    `contract` gives /feedback the target's rule."""

    def __init__(
        self,
        state: State,
        loader: Callable[[], Bundle],
        challenger: Callable[[], Bundle] | None = None,
        contract: Contract | None = None,
    ):
        self.state, self.loader, self.challenger_loader, self.contract = state, loader, challenger, contract

    def load(self) -> None:
        """Load the champion, then the challenger (before the service is ready, so every request it answers is
        shadowed); the service turns ready only when the champion is in memory."""
        state = self.state
        try:
            bundle = self.loader()
        except Exception as exc:  # reported by /health/ready; the CLI verifies before starting
            state.load_error = f"{type(exc).__name__}: {exc}"
            return
        if self.challenger_loader is not None:
            try:
                state.challenger = shadowing.compatible(bundle, self.challenger_loader())
            except Exception as exc:  # the champion serves on; /version says why there is no challenger
                # our own checks raise ValueError with a message fit to show; anything else shows its kind only
                state.challenger_error = f"{type(exc).__name__}: {exc}" if type(exc) is ValueError else (
                    f"{type(exc).__name__} (see the service's log)")  # fmt: skip
                _log.warning("the challenger was not loaded: %s: %s", type(exc).__name__, exc)
                state.shadow_failures.labels("load").inc()
            else:
                loaded = state.challenger.labels
                _log.info("challenger %s (%s) verified and loaded: scored in shadow",
                          loaded["model_version"], loaded["model_hash"][:12])  # fmt: skip
        state.bundle = bundle
        state.info.labels(*(bundle.labels[k] for k in ("model_version", "model_hash", "git_commit", "data_hash"))).set(
            1
        )
        state.ready.set(1)

    def version(self) -> dict[str, Any]:
        """What /version reports: the champion's labels, and the challenger's (or why there is none) when one was
        asked for. Only once loaded."""
        assert self.state.bundle is not None
        if self.challenger_loader is None:
            return self.state.bundle.labels
        shadow = self.state.challenger.labels if self.state.challenger else None
        return {**self.state.bundle.labels, "challenger": shadow, "challenger_error": self.state.challenger_error}

    async def score(self, model: Bundle, matrix: Any, n: int) -> Any:
        """`model`'s output on `matrix` (n rows): inline when small, else on a worker thread under the timeout
        (RequestError 504 beyond it). C-contiguous, as orjson needs to write it."""
        state = self.state
        if n <= state.settings.inline_max_rows:
            return np.ascontiguousarray(model.output(matrix))
        future = asyncio.get_running_loop().run_in_executor(state.executor, model.output, matrix)
        try:
            return np.ascontiguousarray(await asyncio.wait_for(future, state.settings.request_timeout_seconds))
        except TimeoutError:
            raise RequestError(504, "TIMEOUT", "scoring took longer than the request timeout") from None

    async def shadow(self, matrix: Any, n: int) -> Any:
        """The challenger's output on the same rows, or None (no challenger, or it failed: counted)."""
        model = self.state.challenger
        if model is None:
            return None
        try:
            output = await self.score(model, matrix, n)
            if not shadowing.finite_output(output, n):
                raise ValueError("non-finite output")
            return output
        except Exception:  # whatever the challenger does, the request is the champion's
            self.state.shadow_failures.labels("score").inc()
            return None

    async def predict(self, payload: Any, request_id: str) -> dict[str, Any]:
        """The /invocations answer for a parsed JSON `payload` (any of MLflow's four formats): predictions (and
        probabilities), one prediction id per row, and `not_logged` when the log will not keep every row.
        RequestError for input the contract or the model refuses; ModelOutputInvalid for a non-finite output.
        Counts the predictions by class and logs the request (both models' outputs in one log entry)."""
        state, input_spec = self.state, self.state.input_spec
        bundle = state.bundle
        assert bundle is not None, "the route answers 503 before the model is loaded"
        try:
            rows = parse_payload(payload, input_spec)
            matrix = input_spec.to_matrix(rows)
            output = await self.score(bundle, matrix, len(rows))
        except RequestError:
            raise
        except (ValueError, TypeError) as exc:  # the model refused input that passed the schema
            message = f"the model could not score this input ({type(exc).__name__})"
            raise RequestError(422, "UNSCORABLE", message) from None
        n = len(rows)
        if not shadowing.finite_output(output, n):
            state.invalid_outputs.labels(bundle.labels["model_version"]).inc(n)
            message = "the model's output is not a finite number (NaN or infinity) for this input; nothing was logged"
            raise ModelOutputInvalid(
                {"error_code": "MODEL_OUTPUT_INVALID", "message": message, "request_id": request_id}
            )
        ids = feedback.make_ids(bundle.labels["model_hash"], n)
        scored = [(bundle, output, "champion")]
        other = await self.shadow(matrix, n)
        if other is not None:
            assert state.challenger is not None
            scored.append((state.challenger, other, "challenger"))
            if shadowing.challenger_answers(ids[0], state.settings.challenger_traffic):
                scored.reverse()
            state.shadow_rows.labels(str(scored[0][2] == "challenger").lower()).inc(n)
        outputs = {role: (model, out, *_answer(model, out)) for model, out, role in scored}
        answering = scored[0][2]
        model, _, labels, body = outputs[answering]
        body = {**body, "ids": ids}
        version = model.labels["model_version"]
        counts = Tally(map(str, labels)) if model.classes is not None else {"": n}
        for value, count in counts.items():
            state.predictions.labels(value, version).inc(count)
        sampled = state.log is not None and state.log.sample()
        unlogged = state.not_logged(n, sampled)
        if unlogged is not None:  # say so: an outcome for these ids will find no prediction to join
            body["not_logged"] = unlogged
        if sampled and state.log is not None:  # personal inputs are scored, never logged (docs/OPERATIONS.md)
            columns, kept = input_spec.loggable(rows)
            state.log.offer(_log_entry(columns, kept, ids, request_id, outputs, answering), sampled=True)
        return body

    def accept(self, payload: Any) -> int:
        """Take the outcomes in a parsed /feedback `payload` for the models this service runs: all or nothing
        (RequestError naming the first bad item; 429 when the feedback log is behind). Returns how many."""
        state = self.state
        bundle = state.bundle
        assert bundle is not None, "the route answers 503 before the model is loaded"
        try:
            items = feedback.parse_feedback(
                payload,
                None if bundle.classes is None else bundle.classes.tolist(),
                [m.labels["model_hash"] for m in (bundle, state.challenger) if m is not None],
                state.settings.feedback_max_items,
                state.settings.feedback_max_age_days,
                contract=self.contract,
            )
        except RequestError:
            state.feedback.labels("rejected").inc()
            raise
        now = time.time()
        if state.feedback_log and not state.feedback_log.offer_batch(
            [{"ts": now, **i, "source": "api"} for i in items]
        ):
            state.feedback.labels("busy").inc()
            raise RequestError(429, "BUSY", "the feedback log is behind; nothing was recorded, retry later")
        state.feedback.labels("accepted").inc(len(items))
        return len(items)


def _answer(model: Bundle, output: Any) -> tuple[Any, dict[str, Any]]:
    """The labels to log and the response body's predictions (and probabilities) of `model`."""
    if model.classes is None:  # regression: the predictions are the values
        return output, {"predictions": output}
    labels = model.classes[output.argmax(axis=1)].tolist()  # as Python values: text, booleans, integers
    return labels, {"predictions": labels, "probabilities": output}


def _log_entry(
    columns: Any, rows: list[list[Any]], ids: list[str], request_id: str, outputs: dict[str, Any], answering: str
) -> PredictionLogEntry:
    """One prediction-log entry for a request: the inputs once, the champion's output, the challenger's beside it."""
    champion, out, labels, _ = outputs["champion"]
    other = None
    if "challenger" in outputs:
        model, c_out, c_labels, _ = outputs["challenger"]
        other = {
            "model_version": model.labels["model_version"],
            "model_hash": model.labels["model_hash"],
            "predictions": c_labels,
            "probabilities": None if model.classes is None else c_out,
            "answered": answering == "challenger",
        }
    return PredictionLogEntry(
        columns=columns,
        rows=rows,
        predictions=labels,
        probabilities=None if champion.classes is None else out,
        model_version=champion.labels["model_version"],
        ids=ids,
        model_hash=champion.labels["model_hash"],
        classes=None if champion.classes is None else champion.classes.tolist(),
        request_id=request_id,
        answered=answering == "champion",
        challenger=other,
    )
