"""Staleness: how fast a model decays with age, "the impact of model staleness is known" (Breck et al. 2017,
The ML Test Score, model test 4). Pure: times, scores and settings in, a document out.

The backtest (`python -m pipelines staleness`) orders the rows by `split.order_by` (a timestamp) and places
`staleness.cutoffs` cut-offs one period (`staleness.period_days`) apart, the last one `staleness.windows` periods
before the newest row. At each cut-off it fits the project's pipeline on every row before it and scores the
windows that follow: window j holds the rows whose age, time minus cut-off, is in [j, j + 1) periods. A window
with fewer than `staleness.min_rows` rows is left out (and listed).

The decay rate is the slope of the metric against age, in metric units per period, fitted by least squares with
one intercept per cut-off (the within, or fixed-effects, estimator: each cut-off's model starts at its own level,
and only how it falls with age is pooled; Wooldridge, Introductory Econometrics, ch. 14). Its interval is a
percentile bootstrap that resamples the rows of each period of time once for every cut-off that scores them
(windows of cut-offs one period apart are the same rows: counting them as independent points would make the
interval far too narrow). From the mean starting level and the slope's pessimistic end (the faster decay), the age
at which the metric is expected to cross its gate floor; the recommended retrain interval is that age, or
`staleness.max_retrain_days` when no decay is detectable or there is no floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Point:
    """One scored window: its cut-off's index, its age (periods: the window's middle), rows and metric value."""

    cutoff: int
    age: float
    rows: int
    value: float


def cutoffs(newest: float, period: float, windows: int, count: int) -> list[float]:
    """`count` cut-offs (in the times' units), one `period` apart, the last `windows` periods before `newest`,
    oldest first."""
    last = newest - windows * period
    return [last - k * period for k in reversed(range(count))]


def ages(times: np.ndarray, cutoff: float, period: float, windows: int) -> np.ndarray:
    """Each row's window after `cutoff` (0 .. windows - 1), or -1 for a row before it or beyond the last window."""
    window = np.floor((np.asarray(times, dtype=float) - cutoff) / period)
    return np.where((window >= 0) & (window < windows), window, -1).astype(int)


def within_slope(ages: np.ndarray, values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The within (fixed-effects) slope of `values` against `ages` with one intercept per group: for P points,
    `values` (P,) or (B, P), one slope per row; ages and groups (P,)."""
    values = np.atleast_2d(values)
    da = ages - np.array([ages[groups == g].mean() for g in groups])
    centred = values - np.stack([values[:, groups == g].mean(axis=1) for g in groups], axis=1)
    return np.asarray(centred @ da / (da @ da))


def decay(points: Sequence[Point], level: float, resampled: np.ndarray) -> dict[str, Any]:
    """The slope of value against age, one intercept per cut-off, per period: {"slope", "low", "high", "level",
    "start" (the mean fitted value at age 0), "points"}. The interval is the percentile interval of the slopes
    refitted on `resampled` (B x P: each point's value on each bootstrap resample of the rows, resampled once per
    period of time, so cut-offs scoring the same rows share them). Slope None with a "reason" when no cut-off
    has two ages."""
    groups = np.array([p.cutoff for p in points])
    usable = np.array([len({q.age for q in points if q.cutoff == p.cutoff}) >= 2 for p in points], dtype=bool)
    if not usable.any():
        why = (f"{len(points)} scored windows, no cut-off with two: too few to fit a decay (more rows per window, a "
               "longer history, or fewer windows)")  # fmt: skip
        return {"slope": None, "reason": why, "points": len(points)}
    age = np.array([p.age for p in points])[usable]
    value = np.array([p.value for p in points])[usable]
    slope = float(within_slope(age, value, groups[usable])[0])
    drawn = within_slope(age, np.asarray(resampled)[:, usable], groups[usable])
    low, high = np.quantile(drawn[np.isfinite(drawn)], [(1 - level) / 2, (1 + level) / 2])
    kept = groups[usable]
    start = float(np.mean([value[kept == g].mean() - slope * age[kept == g].mean() for g in set(kept)]))
    return {"slope": round(slope, 6), "low": round(float(low), 6), "high": round(float(high), 6), "level": level,
            "start": round(start, 6), "points": int(usable.sum()), "resamples": len(drawn)}  # fmt: skip


def crossing(start: float, slope: float, floor: float, lower_is_better: bool) -> float | None:
    """The age (periods) at which start + slope * age reaches `floor` (a ceiling when `lower_is_better`): 0 when
    it starts beyond it, None when it never gets there (no decay in that direction)."""
    worse = slope > 0 if lower_is_better else slope < 0
    beyond = start >= floor if lower_is_better else start <= floor
    if beyond:
        return 0.0
    return (floor - start) / slope if worse else None


def recommend(fit: dict[str, Any], floor: float | None, lower_is_better: bool, period_days: float,
              max_days: float) -> tuple[float, str]:  # fmt: skip
    """The recommended retrain interval in days, and why: the age at which the pessimistic decay (the interval's
    worse end) crosses the floor, capped at `max_days`; `max_days` when there is no fit, floor or decay."""
    if fit.get("slope") is None:
        return max_days, "no decay could be fitted, so the cap staleness.max_retrain_days"
    if floor is None:
        return max_days, "no gate floor on the metric: staleness.max_retrain_days"
    pessimistic = fit["high"] if lower_is_better else fit["low"]
    age = crossing(fit["start"], pessimistic, floor, lower_is_better)
    if age is None:
        return max_days, "no decay towards the floor within the interval: staleness.max_retrain_days"
    days = min(max_days, age * period_days)
    return round(days, 1), (f"at the interval's faster decay ({pessimistic:+.4f} per period) the metric reaches its "
                            f"floor {floor:g} after {age:.1f} periods")  # fmt: skip
