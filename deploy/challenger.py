"""The challenger: a second verified model the service scores beside the champion on every request (shadow),
and lets answer a share of requests chosen by id (serve.challenger.traffic). Its checks live here: whether it
can stand in for the champion, whether an output is usable, and which requests it answers."""

from __future__ import annotations

from typing import Any

import numpy as np


def compatible(champion: Any, challenger: Any) -> Any:
    """`challenger` when it can stand in for `champion` (same task, same classes in the same order); else
    ValueError naming the difference (the service then runs without it)."""
    if (champion.classes is None) != (challenger.classes is None):
        raise ValueError("the challenger is not the same kind of model (classifier vs regressor)")
    if champion.classes is not None and champion.classes.tolist() != challenger.classes.tolist():
        raise ValueError("the challenger's classes differ from the champion's")
    return challenger


def finite_output(output: Any, rows: int) -> bool:
    """Whether a model's output has one entry per row and no NaN or infinity."""
    array = np.asarray(output, dtype=float)
    return len(array) == rows and bool(np.isfinite(array).all())


def challenger_answers(prediction_id: str, traffic: float) -> bool:
    """Whether the request whose first row has `prediction_id` is answered by the challenger: its 40 random
    bits, read as a fraction of 2**40, fall below `traffic` (so a share of requests, chosen by id)."""
    return traffic > 0 and int(prediction_id[23:33], 16) / 16**10 < traffic
