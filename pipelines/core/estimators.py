"""The estimator list's entry type: what pipelines/yours/estimators.py lists, one `Estimator` per
estimator a project can train (its params model, how to build it, the tasks it fits, the types its
saved form needs, an optional fast path for the service). params, train and the service read it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel


@dataclass(frozen=True)
class FloatRange:
    """A number between `low` and `high`, searched on a log scale when `log` (a scale parameter: C, alpha)."""

    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class IntRange:
    """A whole number between `low` and `high` (both included), on a log scale when `log`."""

    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class Choice:
    """One of `options` (None allowed: scikit-learn's default)."""

    options: tuple[Any, ...]


Dimension = FloatRange | IntRange | Choice
"""One hyper-parameter's search range for `tune` (pipelines.core.tuning)."""

FastPath = Callable[[Any], Callable[[np.ndarray], np.ndarray] | None]
"""Given a fitted estimator: its output (class probabilities, or values) on a float matrix as plain
NumPy, or None when the estimator is not of the kind the function knows."""


@dataclass(frozen=True)
class Estimator:
    """One entry of the project's estimator list (pipelines/yours/estimators.py).

    `params` validates its section of params.yaml (`train.<name>`); `build(options, task, seed)`
    returns an unfitted scikit-learn estimator for `task` from those options; `tasks` are the tasks
    it can learn; `trusted_types` are the types beyond skops' defaults its saved form holds (the
    model loader's allow-list is the union of every entry's); `fast_path` optionally compiles the
    fitted estimator for the service (checked against the slow path at load time); `space` is what
    `python -m pipelines tune` searches, per option of `params` (the options it leaves out keep their
    params.yaml values).
    """

    params: type[BaseModel]
    build: Callable[[Any, str, int], Any]
    tasks: frozenset[str]
    trusted_types: tuple[str, ...] = ()
    fast_path: FastPath | None = field(default=None, compare=False)
    space: Mapping[str, Dimension] = field(default_factory=dict)  # what `tune` searches: option -> range


def unknown_estimator(name: str, estimators: Mapping[str, Estimator]) -> str:
    """The one-line problem when `train.estimator` names no estimator entry."""
    return f"train.estimator: {name!r} is not in pipelines/yours/estimators.py; one of: {', '.join(estimators)}"
