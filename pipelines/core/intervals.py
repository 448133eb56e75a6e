"""How sure a holdout metric is: bootstrap confidence intervals, and paired differences between two models.

Method: the percentile bootstrap (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 13).
Each resample draws the holdout's rows with replacement: within each class for a label (stratified, so
every resample keeps the class balance and every metric stays defined), from all rows for a number. A
resample is a row of multinomial counts, and every metric is computed for all resamples at once as a
count-weighted metric (matrix products and cumulative sums, in chunks; no Python loop over resamples).
The interval is the (1 - level) / 2 and (1 + level) / 2 quantiles of the resampled values; it is not
widened or clipped to contain the point estimate, which on skewed metrics it may rarely miss.

Large sets (more than `max_rows` rows: a big holdout, a million labelled live predictions): the bootstrap
draws from a subsample of m = `max_rows` rows (stratified by class, drawn after the content order below)
and each resampled value v is mapped to full + (v - sub) * sqrt(m / n), where full and sub are the metric
on all n rows and on the subsample: the m-out-of-n bootstrap (Bickel, Goetze & van Zwet 1997, Statistica
Sinica 7:1-31), whose spread shrinks like 1/sqrt(n) for the smooth metrics reported here. It costs
resamples x m cells instead of resamples x n.

Paired: both models are scored on the SAME resamples of the same rows, and the interval is the one of
the per-resample differences (this - base), so the noise the two share (which rows happen to be in the
holdout) cancels. Rows are put in a fixed order (label, then the outputs) before resampling, so a
result depends on the seed, not on file order. The metrics are pipelines.core.metrics' count-weighted
definitions, the same ones the point estimates use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipelines.core.metrics import Scored, score, scored, weighted
from pipelines.core.params import IntervalParams
from pipelines.core.tasks import task_spec

CELLS_PER_CHUNK = 5_000_000  # resamples x rows scored at once (40 MB of float64 per array)
MIN_RESAMPLES = 200  # below this the percentile bootstrap's tails are too noisy to report


def resamples_used(settings: IntervalParams, rows: int) -> int:
    """The resamples drawn for a holdout of `rows` rows: `settings.resamples`, fewer when resamples x rows would
    pass `settings.max_cells` (never fewer than MIN_RESAMPLES); rows above `max_rows` count as `max_rows`."""
    drawn = max(1, min(rows, settings.max_rows))
    return max(min(settings.resamples, MIN_RESAMPLES), min(settings.resamples, settings.max_cells // drawn))


def _order(y: np.ndarray, outputs: Sequence[np.ndarray]) -> np.ndarray:
    """A row order that depends on the rows' content only: by label, then each output column."""
    keys: list[np.ndarray] = []
    for output in outputs:
        columns = output.reshape(len(y), -1)
        keys.extend(columns[:, j] for j in range(columns.shape[1]))
    labels = np.unique(y, return_inverse=True)[1] if y.dtype.kind not in "fiu" else y
    return np.lexsort([*reversed(keys), labels]) if keys else np.argsort(labels, kind="stable")


def bootstrap_counts(strata: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """resamples x n bootstrap counts: each row a draw of n rows with replacement, within each stratum."""
    n = len(strata)
    counts = np.zeros((resamples, n), dtype=np.float64)
    for value in np.unique(strata):
        where = np.flatnonzero(strata == value)
        counts[:, where] = rng.multinomial(len(where), np.full(len(where), 1 / len(where)), size=resamples)
    return counts


def _resampled(
    task: str,
    y: np.ndarray,
    outputs: Sequence[np.ndarray],
    classes: Any,
    threshold: float,
    settings: IntervalParams,
    weights: np.ndarray | None = None,
) -> list[dict[str, np.ndarray]]:
    """Each model's metrics on the same `settings.resamples` resamples (B values per metric); with `weights` (n,
    how many rows each row stands for), each resample's counts are multiplied by them."""
    if settings.method != "percentile":
        raise ValueError(f"evaluate.intervals.method: {settings.method!r}; only 'percentile' is implemented")
    order = _order(y, outputs)
    y, outputs = y[order], [o[order] for o in outputs]
    weights = None if weights is None else np.asarray(weights, dtype=float)[order]
    strata = y if task != "regression" else np.zeros(len(y))
    rng = np.random.default_rng(settings.seed)
    n, rescale = len(y), None
    rows: list[Scored] = [scored(task, y, o, classes, threshold) for o in outputs]
    if n > settings.max_rows:  # the m-out-of-n bootstrap (module docstring)
        keep = _subsample(strata, settings.max_rows, rng)
        full = [weighted(r, np.ones((1, n))) for r in rows]
        y, outputs, strata = y[keep], [o[keep] for o in outputs], strata[keep]
        weights = None if weights is None else weights[keep]
        rows = [scored(task, y, o, classes, threshold) for o in outputs]
        sub = [weighted(r, np.ones((1, len(y)))) for r in rows]
        rescale = (full, sub, np.sqrt(len(y) / n))
    chunk = max(1, CELLS_PER_CHUNK // max(len(y), 1))
    found: list[dict[str, list[np.ndarray]]] = [{} for _ in outputs]
    done, wanted = 0, resamples_used(settings, len(y))
    while done < wanted:
        w = bootstrap_counts(strata, min(chunk, wanted - done), rng)
        if weights is not None:
            w *= weights[None, :]
        for model, r in enumerate(rows):
            for name, values in weighted(r, w).items():
                found[model].setdefault(name, []).append(values)
        done += len(w)
    drawn = [{name: np.concatenate(parts) for name, parts in model.items()} for model in found]
    if rescale is not None:
        full, sub, factor = rescale
        drawn = [{name: f[name][0] + (v - s[name][0]) * factor for name, v in model.items()}
                 for model, f, s in zip(drawn, full, sub, strict=True)]  # fmt: skip
    return drawn


def _subsample(strata: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """About `m` row positions drawn without replacement, each stratum in proportion (at least 2 rows of each,
    so every class stays in the subsample), in their original order."""
    n, picked = len(strata), []
    for value in np.unique(strata):
        where = np.flatnonzero(strata == value)
        take = min(len(where), max(2, round(m * len(where) / n)))
        picked.append(rng.choice(where, take, replace=False))
    return np.sort(np.concatenate(picked))


def percentile_bounds(values: np.ndarray, level: float) -> tuple[float, float]:
    """The `level` percentile interval of resampled `values` (non-finite ones dropped; NaNs when none is left)."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def intervals(
    task: str, y: np.ndarray, output: np.ndarray, classes: Any, threshold: float, settings: IntervalParams
) -> dict[str, dict[str, float]]:
    """Per metric of the task: {"low", "high"}, the `settings.level` percentile-bootstrap interval on the holdout
    (y: n true values; output: the model's n x classes probabilities or n predictions)."""
    (resampled,) = _resampled(task, np.asarray(y), [np.asarray(output)], classes, threshold, settings)
    return {name: dict(zip(("low", "high"), (round(b, 6) for b in percentile_bounds(resampled[name], settings.level)),
                           strict=True))
            for name in task_spec(task).metrics}  # fmt: skip


def paired(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    base_output: np.ndarray,
    classes: Any,
    threshold: float,
    settings: IntervalParams,
    weights: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Per metric: the paired difference (this - base) on the same rows, {"difference", "low", "high"}: the
    point difference and the percentile-bootstrap interval of the per-resample differences. Identical
    outputs give exactly 0 with a zero-width interval. With `weights` (n, how many holdout rows each row stands
    for: pipelines.core.evaluate.recorded_weights), the rows are a stratified sample and the difference and its
    interval estimate the whole holdout's."""
    y = np.asarray(y)
    outputs = [np.asarray(output), np.asarray(base_output)]
    head, base = _resampled(task, y, outputs, classes, threshold, settings, weights)
    if weights is None:  # the point estimates as metrics.json writes them (6 decimals), so the two agree
        now, before = (score(y, o, task=task, classes=classes, threshold=threshold) for o in outputs)
    else:
        w = np.asarray(weights, dtype=float)[None, :]
        now, before = ({k: float(v[0]) for k, v in weighted(scored(task, y, o, classes, threshold), w).items()}
                       for o in outputs)  # fmt: skip
    out = {}
    for name in task_spec(task).metrics:
        low, high = percentile_bounds(head[name] - base[name], settings.level)
        out[name] = {"difference": round(now[name] - before[name], 6), "low": round(low, 6), "high": round(high, 6)}
    return out


def rounded(found: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """JSON-ready, 6 decimals (as metrics.json), NaN as None."""
    return {m: {k: (None if not np.isfinite(v) else round(float(v), 6)) for k, v in entry.items()}  # type: ignore[misc]
            for m, entry in found.items()}  # fmt: skip
