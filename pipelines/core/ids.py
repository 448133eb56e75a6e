"""Prediction ids that check themselves (what the service hands out and what feedback is judged by).

37 lowercase hex digits: the first 12 of the model's hash, the time it was made (milliseconds since the
epoch, 11 digits), 40 random bits (10 digits), and a 4-digit check (sha256 of the rest). So an id can be
refused as malformed, foreign (another model) or expired without looking it up anywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

ID = re.compile(r"[0-9a-f]{37}")
CLOCK_SKEW_SECONDS = 300  # clocks of the service's pods and of whoever sends outcomes may disagree by this much


def made_at(value: str) -> float:
    """When the prediction with id `value` was made, epoch seconds (digits 12-22 hold the milliseconds)."""
    return int(value[12:23], 16) / 1000


def age_problem(value: str, max_age_days: float, now: float) -> str | None:
    """What is wrong with a well-formed id's age at `now` (made in the future beyond the clock skew, or more than
    `max_age_days` ago); None when it is fine."""
    made = made_at(value)
    if made > now + CLOCK_SKEW_SECONDS:
        return "was made in the future"
    if now - made > max_age_days * 86400:
        return f"is older than {max_age_days:g} days"
    return None


def check_digits(body: str) -> str:
    """The 4 check digits of an id's first 33."""
    return hashlib.sha256(body.encode()).hexdigest()[:4]


def compose(model_hash: str, made_ms: int, noise: bytes) -> str:
    """The id of a prediction by `model_hash` made at `made_ms` with 5 bytes of `noise`."""
    body = f"{model_hash[:12]}{made_ms & (16**11 - 1):011x}{noise.hex()}"
    return body + check_digits(body)


def well_formed(value: Any) -> bool:
    """Whether `value` is shaped like an id and its check digits match."""
    return isinstance(value, str) and bool(ID.fullmatch(value)) and check_digits(value[:33]) == value[33:]


def problem(value: Any, models: Iterable[str], max_age_days: float, now: float) -> str | None:
    """What is wrong with a prediction id at time `now` (epoch seconds); None when it is one of `models`'
    (hashes), made at most `max_age_days` ago."""
    if not isinstance(value, str) or not ID.fullmatch(value):
        return "is not a prediction id (37 lowercase hex digits, as /invocations returns them)"
    if check_digits(value[:33]) != value[33:]:
        return "is not a prediction id (its check digits do not match)"
    if value[:12] not in {m[:12] for m in models}:
        return "was made by a model this service does not run"
    return age_problem(value, max_age_days, now)
