"""Prediction ids that check themselves, and the outcomes (ground truth) clients send back for them.

The prediction log is sampled, written asynchronously and spread over replicas, so the service cannot
look an id up. Instead an id carries what is needed to judge it on its own (pipelines.core.ids): the first
12 hex digits of the model's hash, when it was made, 40 random bits and 4 check digits.

A malformed id (wrong length, not hex, wrong check), a foreign one (a model this service does not run)
or an expired one (older than serve.feedback.max_age_days, or from the future) is refused with a 4xx.
Whether the id was really logged is for `python -m pipelines monitor` to find out, when it joins.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from deploy.payload import RequestError
from pipelines.core import ids, outcomes
from pipelines.core.contract import Contract
from pipelines.core.names import one_of

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def make_ids(model_hash: str, count: int, now_ms: int | None = None) -> list[str]:
    """`count` new prediction ids for model `model_hash` (hex), made now (or at `now_ms`): pipelines.core.ids."""
    made = now_ms if now_ms is not None else int(time.time() * 1000)
    noise = os.urandom(5 * count)
    return [ids.compose(model_hash, made, noise[5 * i : 5 * i + 5]) for i in range(count)]


def request_id(header: str | None) -> str:
    """The X-Request-ID to answer with: the client's when it is 1-64 characters of [A-Za-z0-9._:-], a new one
    when it sent none; RequestError 400 for one that is not."""
    if header is None:
        return os.urandom(16).hex()
    if not REQUEST_ID.fullmatch(header):
        raise RequestError(400, "BAD_REQUEST", "X-Request-ID must be 1-64 characters of A-Z a-z 0-9 . _ : -")
    return header


def parse_feedback(
    payload: Any,
    classes: Sequence[Any] | None,
    models: Iterable[str],
    max_items: int,
    max_age_days: float,
    now: float | None = None,
    contract: Contract | None = None,
) -> list[dict[str, Any]]:
    """The outcomes in a /feedback body: a list of {"id", "label"} (classification, one of `classes`) or
    {"id", "value"} (regression, a finite number), or {"feedback": [...]}. With `contract`, outcomes go through
    the target's rule as `validate` applies it (pipelines.core.outcomes: 1.0 is the class 1, 1.5 is refused).
    All or nothing: RequestError 400 or 422 naming the first bad item (its position and what is wrong, with the
    allowed values), never the value."""
    items = payload.get("feedback") if isinstance(payload, dict) and set(payload) == {"feedback"} else payload
    if not isinstance(items, list) or not items:
        shape = 'the body must be a non-empty list of {"id", "label"} (or {"id", "value"})'
        raise RequestError(400, "BAD_REQUEST", shape)
    if len(items) > max_items:
        raise RequestError(413, "TOO_MANY_ITEMS", f"at most {max_items} outcomes per request")
    field = "value" if classes is None else "label"
    known = list(models)
    seen: set[str] = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict) or set(item) != {"id", field}:
            raise RequestError(400, "BAD_REQUEST", f'feedback[{i}] must be an object with exactly "id" and "{field}"')
        problem = ids.problem(item["id"], known, max_age_days, time.time() if now is None else now)
        if problem:
            raise RequestError(422, "INVALID_ID", f"feedback[{i}]: the id {problem}")
        if item["id"] in seen:  # a text id by now
            raise RequestError(422, "INVALID_ID", f"feedback[{i}]: the id is given twice in this request")
        seen.add(item["id"])
    given = [item[field] for item in items]
    if any(isinstance(v, (dict, list)) for v in given):
        first = next(i for i, v in enumerate(given) if isinstance(v, (dict, list)))
        raise RequestError(422, "INVALID_OUTCOME", f"feedback[{first}]: {field} must be a single value")
    if contract is not None:
        try:
            given = outcomes.coerce(contract, given)
        except outcomes.OutcomeError as exc:
            first = int(np.flatnonzero(exc.rows)[0]) if exc.rows.any() else 0
            raise RequestError(422, "INVALID_OUTCOME", f"feedback[{first}]: {field} is {exc.reason}") from None
    for i, outcome in enumerate(given):
        if classes is None:
            if isinstance(outcome, bool) or not isinstance(outcome, (int, float)) or not math.isfinite(outcome):
                raise RequestError(422, "INVALID_OUTCOME", f"feedback[{i}]: value must be a finite number")
        elif not any(type(outcome) is type(c) and outcome == c for c in classes):
            message = f"feedback[{i}]: label is not one of the model's classes, {one_of(frozenset(classes))}"
            raise RequestError(422, "INVALID_OUTCOME", message)
    return [{"id": item["id"], field: outcome} for item, outcome in zip(items, given, strict=True)]
