"""The simpler model beside the candidate: "a simpler model is not better" (Breck et al. 2017, The ML Test
Score, model test 5). Pure: params and model outputs in, the document `evaluate` writes (reports/baseline.json)
(the gate's rule on it is pipelines.core.gate.baseline_rule).

`evaluate.baseline` names an estimator of pipelines/yours/estimators.py (by default the task's regularised
linear model); it is fit on the same training split as the candidate, with its own hyper-parameters from
`train.<name>` and the candidate's class weighting, and scored on the same holdout rows. The candidate minus
the baseline, per metric, is a paired difference with a percentile-bootstrap interval
(pipelines.core.intervals.paired); `gate.baseline_rule` judges it on the task's primary metric
(pipelines.core.gate.baseline_rule).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pipelines.core.estimators import Estimator
from pipelines.core.intervals import paired
from pipelines.core.metrics import score
from pipelines.core.params import IntervalParams, ParamsError, TrainParams


def skip_reason(baseline: str | None, candidate: str) -> str | None:
    """Why no baseline is fit (None: one is): none configured, or it is the candidate's own estimator."""
    if baseline is None:
        return "evaluate.baseline is null: no simpler model is compared"
    if baseline == candidate:
        return f"the candidate is the baseline's own estimator ({baseline}): there is no simpler model to compare"
    return None


def baseline_params(train: TrainParams, estimators: Mapping[str, Estimator], name: str, task: str) -> TrainParams:
    """`train` with the baseline `name` as its estimator: its own section's hyper-parameters, and the candidate's
    class weighting when the candidate sets one and the baseline takes one. ParamsError when `name` cannot learn
    `task` (a classifier named as the baseline of a regression, say)."""
    if task not in estimators[name].tasks:
        raise ParamsError(
            f"evaluate.baseline is {name!r}, which cannot learn a {task} task; name one of "
            f"{', '.join(n for n, e in estimators.items() if task in e.tasks)}"
        )
    sections = {k: dict(v or {}) for k, v in train.sections().items()}
    weighting = sections.get(train.estimator, {}).get("class_weight")
    if weighting is not None and "class_weight" in estimators[name].params.model_fields:
        # a forest's per-tree "balanced_subsample" is "balanced" for a model that is not an ensemble of trees
        sections[name]["class_weight"] = "balanced" if weighting == "balanced_subsample" else weighting
    return TrainParams.model_validate({**train.model_dump(exclude=set(sections)), **sections, "estimator": name})


def document(
    name: str,
    task: str,
    y: np.ndarray,
    candidate_output: np.ndarray,
    baseline_output: np.ndarray,
    classes: Any,
    threshold: float,
    intervals: IntervalParams,
) -> dict[str, Any]:
    """reports/baseline.json: the baseline's metrics on the holdout (n rows; outputs as `model_output` gives them)
    and, per metric, the paired difference candidate - baseline on the same rows with its interval."""
    return {
        "estimator": name,
        "metrics": score(y, baseline_output, task=task, classes=classes, threshold=threshold),
        "difference": paired(task, y, candidate_output, baseline_output, classes, threshold, intervals),
        "level": intervals.level,
    }
