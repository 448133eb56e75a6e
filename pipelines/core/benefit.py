"""Does each model input earn its place? (Breck et al. 2017, The ML Test Score, data test 2: "all features are
beneficial".) Pure: a fitted model and the holdout in, per input its benefit with an interval out.

The benefit of an input is its permutation importance on the task's primary metric (Breiman 2001, Random
Forests, Machine Learning 45:5-32, section 10; Fisher, Rudin & Dominici 2019, JMLR 20(177), "model reliance"):
the metric on the holdout minus the metric once that input's column is shuffled across rows (the mean over
`repeats` shuffles), signed so that a positive benefit means the model is worse without it. A raw column is
shuffled as one, so a text input's one-hot columns move together (a grouped permutation). No refit: the
model is asked what it loses when the input carries no information, which a shuffle gives and a refit
(drop-column importance) would hide behind a correlated input that takes over.

The interval is the percentile bootstrap of the holdout rows (pipelines.core.intervals): every shuffle and
the unshuffled outputs are scored on the SAME resamples, so the benefit's interval is that of the per-resample
differences (paired, as the gate's comparisons are). An input whose upper bound is at or below zero is
`flagged`: on this holdout, removing it does not hurt at the stated level (evaluate.benefit_margin widens "does
not hurt" to "hurts by at most the margin", an equivalence margin in the metric's units).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.intervals import bootstrap_counts, percentile_bounds, resamples_used
from pipelines.core.metrics import BY_NAME, scored
from pipelines.core.params import IntervalParams
from pipelines.core.tasks import task_spec

Outputs = Callable[[pd.DataFrame], np.ndarray]  # rows -> model_output (probabilities or predictions)


def benefit(
    outputs: Outputs,
    x: pd.DataFrame,
    y: np.ndarray,
    task: str,
    classes: Any,
    threshold: float,
    repeats: int,
    seed: int,
    settings: IntervalParams,
    margin: float = 0.0,
) -> dict[str, Any]:
    """reports/features.json's "benefit" part: the primary metric, and per input of `x` (n rows x inputs, in model
    input order) its benefit, the std over the `repeats` shuffles, the `settings.level` interval and `flagged`
    (the upper bound at or below `margin`, in the metric's units: removing it does not hurt by more than that).

    `outputs` is the model's output function (pipelines.core.metrics.model_output bound to the model). The
    bootstrap draws `resamples_used(settings, n)` resamples, stratified by class for a label.
    ValueError (from pipelines.core.metrics.scored) when a true label is not one of `classes`."""
    metric = task_spec(task).primary
    spec = BY_NAME[metric]
    sign = -1.0 if spec.lower_is_better else 1.0
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    strata = y if task != "regression" else np.zeros(len(y))
    counts = bootstrap_counts(strata, resamples_used(settings, len(y)), np.random.default_rng(settings.seed))
    unit = np.ones((1, len(y)))

    def both(output: np.ndarray) -> tuple[float, np.ndarray]:
        rows = scored(task, y, output, classes, threshold)
        return float(spec.weighted(rows, unit)[0]), spec.weighted(rows, counts)

    point, resampled = both(outputs(x))
    entries = []
    for column in x.columns:
        points, draws = [], []
        for _ in range(repeats):
            shuffled = x.copy()
            shuffled[column] = x[column].to_numpy()[rng.permutation(len(x))]
            p, r = both(outputs(shuffled))
            points.append(p)
            draws.append(r)
        effect = sign * (point - np.mean(points))
        low, high = (_round(b) for b in percentile_bounds(sign * (resampled - np.mean(draws, axis=0)), settings.level))
        entries.append({
            "feature": str(column),
            "benefit": _round(float(effect)),
            "std": _round(float(np.std(sign * (point - np.asarray(points))))),
            "low": low,
            "high": high,
            "flagged": high is not None and high <= margin,  # on the value as written: the file and flag agree
        })  # fmt: skip
    return {"metric": metric, "repeats": repeats, "rows": len(y), "level": settings.level, "margin": margin,
            "features": entries}  # fmt: skip


def importance_frame(doc: dict[str, Any]) -> pd.DataFrame:
    """plots/importance.csv from `benefit`'s document: feature, importance (the benefit), std, sorted by the
    importance as written (6 significant digits), then by name, so that another CPU's last-bit differences cannot
    swap two nearly tied inputs (pipelines.core.reproduce)."""
    frame = pd.DataFrame(
        {
            "feature": [e["feature"] for e in doc["features"]],
            "importance": [e["benefit"] for e in doc["features"]],
            "std": [e["std"] for e in doc["features"]],
        }
    )
    written = frame["importance"].map(lambda v: float(f"{v:.6g}"))
    return (
        frame.assign(written=written)
        .sort_values(["written", "feature"], ascending=[False, True])
        .drop(columns="written")
        .reset_index(drop=True)
    )


def flagged(doc: dict[str, Any]) -> list[str]:
    """The inputs whose removal does not hurt (upper bound at or below zero), in input order."""
    return [e["feature"] for e in doc.get("features", []) if e.get("flagged")]


def _round(value: float) -> float | None:
    return round(float(value), 6) + 0.0 if np.isfinite(value) else None  # + 0.0: no "-0.0" in the file
