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
result depends on the seed, not on file order. At unit weights every metric equals scikit-learn's
(pipelines.core.evaluate.score); tests check it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.core.tasks import spec

EPSILON = np.finfo(np.float64).eps  # probabilities are clipped to [eps, 1 - eps] for log loss, as sklearn does
CELLS_PER_CHUNK = 5_000_000  # resamples x rows scored at once (40 MB of float64 per array)


@dataclass(frozen=True)
class Settings:
    """evaluate.intervals in params.yaml: `resamples` (B), `level` (e.g. 0.95), `seed`, `method` ("percentile"),
    and `max_cells`: at most this many resamples x rows are drawn, so a large holdout gets fewer resamples
    (never fewer than MIN_RESAMPLES; `used` says how many)."""

    resamples: int
    level: float
    seed: int
    method: str = "percentile"
    max_cells: int = 10**12
    max_rows: int = 10**12  # above this many rows, the m-out-of-n bootstrap on a subsample of max_rows rows

    def used(self, rows: int) -> int:
        """The resamples drawn for a holdout of `rows` rows."""
        drawn = max(1, min(rows, self.max_rows))
        return max(min(self.resamples, MIN_RESAMPLES), min(self.resamples, self.max_cells // drawn))


MIN_RESAMPLES = 200  # below this the percentile bootstrap's tails are too noisy to report


def _order(y: np.ndarray, outputs: Sequence[np.ndarray]) -> np.ndarray:
    """A row order that depends on the rows' content only: by label, then each output column."""
    keys: list[np.ndarray] = []
    for output in outputs:
        columns = output.reshape(len(y), -1)
        keys.extend(columns[:, j] for j in range(columns.shape[1]))
    labels = np.unique(y, return_inverse=True)[1] if y.dtype.kind not in "fiu" else y
    return np.lexsort([*reversed(keys), labels]) if keys else np.argsort(labels, kind="stable")


def _counts(strata: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """resamples x n bootstrap counts: each row a draw of n rows with replacement, within each stratum."""
    n = len(strata)
    counts = np.zeros((resamples, n), dtype=np.float64)
    for value in np.unique(strata):
        where = np.flatnonzero(strata == value)
        counts[:, where] = rng.multinomial(len(where), np.full(len(where), 1 / len(where)), size=resamples)
    return counts


def _groups(score: np.ndarray, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """(order of rows by score, start index of each run of tied scores in that order)."""
    order = np.argsort(-score if descending else score, kind="mergesort")
    ordered = score[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    return order, starts


def _sorted_weights(
    positive: np.ndarray, score: np.ndarray, w: np.ndarray, descending: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Per run of tied scores, in score order: the positive and the negative weight (B x runs each)."""
    order, starts = _groups(score, descending)
    ordered = w[:, order]
    pos = ordered * positive[order]
    neg = ordered - pos
    if len(starts) == len(score):  # no ties (the usual case for probabilities): every run is one row
        return pos, neg
    return np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)


def _auc(positive: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted ROC AUC per row of weights `w` (B x n): P(score of a positive > a negative's), ties half."""
    pos, neg = _sorted_weights(positive, score, w, descending=False)
    below = np.cumsum(neg, axis=1) - neg
    total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray((pos * (below + 0.5 * neg)).sum(axis=1) / (total_pos * total_neg))


def _average_precision(positive: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted average precision (scikit-learn's step sum of precision over recall increments)."""
    pos, neg = _sorted_weights(positive, score, w, descending=True)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        return np.asarray((pos * precision).sum(axis=1) / pos.sum(axis=1))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, 0 where the denominator is 0 (scikit-learn's zero_division=0)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), 0.0)


def weighted_scores(
    task: str, y: np.ndarray, output: np.ndarray, classes: Any, threshold: float, w: np.ndarray
) -> dict[str, np.ndarray]:
    """Every metric of `task`, in tasks.spec(task).metrics order, for each row of weights `w` (B x n: how many
    times each holdout row is drawn). `output` is pipelines.core.evaluate.model_output's (n x classes
    probabilities, or n predictions); `threshold` the binary positive-class cut-off."""
    total = w.sum(axis=1)
    if task == "regression":
        pred = np.asarray(output, dtype=float)
        mean = (w @ y) / total
        sse = w @ (y - pred) ** 2
        sst = (w * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
        return {"r2": 1 - _ratio(sse, sst) if len(y) > 1 else np.full(len(w), np.nan),
                "rmse": np.sqrt(sse / total), "mae": (w @ np.abs(y - pred)) / total}  # fmt: skip
    labels = np.asarray(classes)
    proba = np.asarray(output, dtype=float)
    if task == "binary":
        positive = (y == labels[1]).astype(float)
        p = proba[:, 1]
        hit = (p >= threshold).astype(float)
        tp, fp, fn = w @ (hit * positive), w @ (hit * (1 - positive)), w @ ((1 - hit) * positive)
        clipped = np.clip(p, EPSILON, 1 - EPSILON)
        loss = -(positive * np.log(clipped) + (1 - positive) * np.log(1 - clipped))
        return {
            "roc_auc": _auc(positive, p, w),
            "average_precision": _average_precision(positive, p, w),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "accuracy": (w @ (hit == positive).astype(float)) / total,
            "log_loss": (w @ loss) / total,
        }
    index = {label: k for k, label in enumerate(labels.tolist())}
    truth = np.array([index[v] for v in y.tolist()])
    predicted = proba.argmax(axis=1)
    recalls, f1s, aucs = [], [], []
    for k in range(len(labels)):
        is_k, said_k = (truth == k).astype(float), (predicted == k).astype(float)
        tp, fp, fn = w @ (is_k * said_k), w @ ((1 - is_k) * said_k), w @ (is_k * (1 - said_k))
        recalls.append(_ratio(tp, tp + fn))
        f1s.append(_ratio(2 * tp, 2 * tp + fp + fn))
        aucs.append(_auc(is_k, proba[:, k], w))
    normalised = np.clip(proba / proba.sum(axis=1, keepdims=True), EPSILON, 1 - EPSILON)
    return {
        "accuracy": (w @ (predicted == truth).astype(float)) / total,
        "balanced_accuracy": np.mean(recalls, axis=0),
        "f1_macro": np.mean(f1s, axis=0),
        "roc_auc_ovr": np.mean(aucs, axis=0),
        "log_loss": (w @ -np.log(normalised[np.arange(len(truth)), truth])) / total,
    }


def _resampled(
    task: str,
    y: np.ndarray,
    outputs: Sequence[np.ndarray],
    classes: Any,
    threshold: float,
    settings: Settings,
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
    if n > settings.max_rows:  # the m-out-of-n bootstrap (module docstring)
        keep = _subsample(strata, settings.max_rows, rng)
        full = [weighted_scores(task, y, o, classes, threshold, np.ones((1, n))) for o in outputs]
        y, outputs, strata = y[keep], [o[keep] for o in outputs], strata[keep]
        weights = None if weights is None else weights[keep]
        sub = [weighted_scores(task, y, o, classes, threshold, np.ones((1, len(y)))) for o in outputs]
        rescale = (full, sub, np.sqrt(len(y) / n))
    chunk = max(1, CELLS_PER_CHUNK // max(len(y), 1))
    found: list[dict[str, list[np.ndarray]]] = [{} for _ in outputs]
    done, wanted = 0, settings.used(len(y))
    while done < wanted:
        w = _counts(strata, min(chunk, wanted - done), rng)
        if weights is not None:
            w *= weights[None, :]
        for model, output in enumerate(outputs):
            for name, values in weighted_scores(task, y, output, classes, threshold, w).items():
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


def _bounds(values: np.ndarray, level: float) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan"), float("nan")
    low, high = np.quantile(finite, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def intervals(
    task: str, y: np.ndarray, output: np.ndarray, classes: Any, threshold: float, settings: Settings
) -> dict[str, dict[str, float]]:
    """Per metric of the task: {"low", "high"}, the `settings.level` percentile-bootstrap interval on the holdout
    (y: n true values; output: the model's n x classes probabilities or n predictions)."""
    (resampled,) = _resampled(task, np.asarray(y), [np.asarray(output)], classes, threshold, settings)
    return {name: dict(zip(("low", "high"), (round(b, 6) for b in _bounds(resampled[name], settings.level)),
                           strict=True))
            for name in spec(task).metrics}  # fmt: skip


def paired(
    task: str,
    y: np.ndarray,
    output: np.ndarray,
    base_output: np.ndarray,
    classes: Any,
    threshold: float,
    settings: Settings,
    weights: np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Per metric: the paired difference (this - base) on the same rows, {"difference", "low", "high"}: the
    point difference and the percentile-bootstrap interval of the per-resample differences. Identical
    outputs give exactly 0 with a zero-width interval. With `weights` (n, how many holdout rows each row stands
    for: pipelines.core.evaluate.recorded_weights), the rows are a stratified sample and the difference and its
    interval estimate the whole holdout's."""
    from pipelines.core.evaluate import score

    y = np.asarray(y)
    outputs = [np.asarray(output), np.asarray(base_output)]
    head, base = _resampled(task, y, outputs, classes, threshold, settings, weights)
    if weights is None:
        now = score(y, outputs[0], task=task, classes=classes, threshold=threshold)
        before = score(y, outputs[1], task=task, classes=classes, threshold=threshold)
    else:
        w = np.asarray(weights, dtype=float)[None, :]
        now, before = ({k: float(v[0]) for k, v in weighted_scores(task, y, o, classes, threshold, w).items()}
                       for o in outputs)  # fmt: skip
    out = {}
    for name in spec(task).metrics:
        low, high = _bounds(head[name] - base[name], settings.level)
        out[name] = {"difference": round(now[name] - before[name], 6), "low": round(low, 6), "high": round(high, 6)}
    return out


def rounded(found: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """JSON-ready, 6 decimals (as metrics.json), NaN as None."""
    return {m: {k: (None if not np.isfinite(v) else round(float(v), 6)) for k, v in entry.items()}  # type: ignore[misc]
            for m, entry in found.items()}  # fmt: skip
