"""Bootstrap intervals and paired differences (pipelines/core/intervals.py): exact at unit weights, the
properties the percentile bootstrap guarantees, and coverage by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.core.intervals import intervals, paired, resamples_used
from pipelines.core.metrics import score, scored, weighted
from pipelines.core.tasks import task_spec
from tests.helpers import bootstrap, synthetic_holdout

SETTINGS = bootstrap(resamples=400, level=0.95, seed=7)


def test_integer_weights_equal_repeating_the_rows() -> None:
    y, output, classes = synthetic_holdout("binary", 60, 1, ties=True)
    w = np.random.default_rng(2).integers(0, 4, 60)
    repeated = score(np.repeat(y, w), np.repeat(output, w, axis=0), task="binary", classes=classes)
    found = weighted(scored("binary", y, output, classes, 0.5), w[None, :].astype(float))
    assert {k: round(float(v[0]), 6) for k, v in found.items()} == pytest.approx(repeated, abs=2e-6)


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_identical_models_differ_by_exactly_zero_with_a_zero_width_interval(task: str) -> None:
    y, output, classes = synthetic_holdout(task, 120, 3)
    for entry in paired(task, y, output, output.copy(), classes, 0.5, SETTINGS).values():
        assert entry == {"difference": 0.0, "low": 0.0, "high": 0.0}


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_intervals_are_reproducible_and_do_not_depend_on_row_order(task: str) -> None:
    y, output, classes = synthetic_holdout(task, 150, 4)
    first = intervals(task, y, output, classes, 0.5, SETTINGS)
    assert intervals(task, y, output, classes, 0.5, SETTINGS) == first
    shuffled = np.random.default_rng(5).permutation(len(y))
    again = intervals(task, y[shuffled], output[shuffled], classes, 0.5, SETTINGS)
    assert [(m, e["low"], e["high"]) for m, e in again.items()] == pytest.approx(
        [(m, e["low"], e["high"]) for m, e in first.items()], abs=1e-6
    )
    other_seed = intervals(task, y, output, classes, 0.5, bootstrap(400, 0.95, seed=8))
    assert other_seed != first


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_holdout_four_times_larger_narrows_the_interval_about_twofold(task: str) -> None:
    y, output, classes = synthetic_holdout(task, 200, 6)
    narrow = intervals(task, np.tile(y, 4), np.concatenate([output] * 4), classes, 0.5, SETTINGS)
    wide = intervals(task, y, output, classes, 0.5, SETTINGS)
    metric = task_spec(task).primary
    ratio = (narrow[metric]["high"] - narrow[metric]["low"]) / (wide[metric]["high"] - wide[metric]["low"])
    assert 0.35 < ratio < 0.65, ratio


def test_the_95_percent_interval_covers_the_true_auc_in_90_to_99_percent_of_200_holdouts() -> None:
    """A known process: positives score N(d, 1), negatives N(0, 1), so the true ROC AUC is Phi(d / sqrt 2)."""
    d, n = 1.0, 300
    truth = 0.5 * (1 + math.erf(d / 2))  # Phi(d / sqrt(2)) = (1 + erf(d / 2)) / 2
    rng = np.random.default_rng(11)
    covered = 0
    for repetition in range(200):
        y = np.where(rng.random(n) < 0.4, "b", "a")
        z = rng.normal(size=n) + d * (y == "b")
        p = 1 / (1 + np.exp(-z))
        found = intervals("binary", y, np.column_stack([1 - p, p]), np.array(["a", "b"]), 0.5,
                          bootstrap(resamples=300, level=0.95, seed=repetition))["roc_auc"]  # fmt: skip
        covered += found["low"] <= truth <= found["high"]
    assert 0.90 <= covered / 200 <= 0.99, covered


def test_a_better_model_has_a_paired_difference_above_zero_and_a_narrower_interval_than_unpaired() -> None:
    """Both models see the same rows, so the rows' luck cancels: the paired interval is tighter than the two
    separate intervals would suggest."""
    rng = np.random.default_rng(12)
    n = 400
    y = np.where(rng.random(n) < 0.5, "b", "a")
    signal = rng.normal(size=n) + 1.2 * (y == "b")
    weak, strong = signal + rng.normal(0, 0.8, n), signal + rng.normal(0, 0.2, n)
    as_proba = [np.column_stack([1 - 1 / (1 + np.exp(-s)), 1 / (1 + np.exp(-s))]) for s in (strong, weak)]
    classes = np.array(["a", "b"])
    diff = paired("binary", y, as_proba[0], as_proba[1], classes, 0.5, SETTINGS)["roc_auc"]
    assert diff["difference"] > 0 and diff["low"] > 0
    a, b = (intervals("binary", y, p, classes, 0.5, SETTINGS)["roc_auc"] for p in as_proba)
    assert diff["high"] - diff["low"] < (a["high"] - a["low"]) + (b["high"] - b["low"])


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_subsampled_bootstrap_of_a_large_set_agrees_with_the_full_one(task: str) -> None:
    """m-out-of-n: 3,000 of 30,000 rows resampled, the spread scaled by sqrt(m/n), gives (within 20%) the
    interval the bootstrap of all rows gives, around the same point; and the same answer in any row order."""
    y, output, classes = synthetic_holdout(task, 30_000, 11)
    full = intervals(task, y, output, classes, 0.5, bootstrap(300, 0.95, 3))
    sub_settings = bootstrap(300, 0.95, 3, max_rows=3_000)
    sub = intervals(task, y, output, classes, 0.5, sub_settings)
    point = score(y, output, task=task, classes=classes, threshold=0.5)
    for metric in task_spec(task).metrics:
        width_full, width_sub = (f[metric]["high"] - f[metric]["low"] for f in (full, sub))
        if width_full < 1e-4:
            continue
        assert 0.8 < width_sub / width_full < 1.2, (metric, width_sub, width_full)
        assert sub[metric]["low"] - width_full / 4 <= point[metric] <= sub[metric]["high"] + width_full / 4, metric
    order = np.random.default_rng(0).permutation(len(y))
    assert intervals(task, y[order], output[order], classes, 0.5, sub_settings) == sub
    assert resamples_used(sub_settings, 30_000) == 300
