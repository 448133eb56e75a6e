"""Drift statistics and verdicts: no false alarms on training-like traffic, the shifted feature alone flagged."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from pipelines.core.data import default_dataset, split
from pipelines.core.drift import compare, psi, reference_profile
from tests.conftest import CONTRACT, FEATURES, PARAMS

# asserts columns and numbers of the bundled breast-cancer example
pytestmark = pytest.mark.example

M = PARAMS.monitor
shares = (
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12)
    .filter(lambda xs: sum(xs) > 0)
    .map(lambda xs: np.array(xs) / sum(xs))
)


@pytest.fixture(scope="module")
def reference() -> dict:
    s = PARAMS.split
    train, _ = split(default_dataset(), s.test_size, s.seed, s.stratify, CONTRACT.task, CONTRACT.target)
    return reference_profile(train, CONTRACT.numeric, [], PARAMS.train.reference_bins)


def _check(live: pd.DataFrame, reference: dict):  # type: ignore[no-untyped-def]
    return compare(live, reference, M.psi_threshold, M.ks_alpha, M.ks_min_statistic, M.missing_rate_change)


@given(shares)
def test_psi_of_identical_distributions_is_zero(p: np.ndarray) -> None:
    assert psi(p, p) == pytest.approx(0.0, abs=1e-12)


@given(st.integers(2, 12).flatmap(lambda n: st.tuples(*(st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n)
                                                        for _ in range(2)))))  # fmt: skip
def test_psi_is_symmetric_and_never_negative(pair: tuple[list[float], list[float]]) -> None:
    a, b = (np.array(x) / sum(x) for x in pair)
    assert psi(a, b) == pytest.approx(psi(b, a))
    assert psi(a, b) >= -1e-12


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_verdict_does_not_depend_on_row_order(reference: dict, seed: int) -> None:
    live = default_dataset()[FEATURES].sample(300, replace=True, random_state=seed).reset_index(drop=True)
    shuffled = live.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    a, b = _check(live, reference), _check(shuffled, reference)
    assert [(f.name, f.psi, f.ks_statistic) for f in a.features] == [
        (f.name, f.psi, f.ks_statistic) for f in b.features
    ]


def test_traffic_from_the_training_distribution_raises_no_alarm_over_many_draws(reference: dict) -> None:
    data = default_dataset()[FEATURES]
    alarms = [seed for seed in range(40) if _check(data.sample(1000, replace=True, random_state=seed)
                                                   .reset_index(drop=True), reference).drifted]  # fmt: skip
    assert alarms == [], f"false alarms in draws {alarms} (of 40)"


@pytest.mark.parametrize("feature", ["mean_texture", "worst_area", "symmetry_error"])
def test_a_shifted_feature_is_flagged_and_only_that_one(reference: dict, feature: str) -> None:
    data = default_dataset()[FEATURES]
    for seed in range(5):
        live = data.sample(1000, replace=True, random_state=seed).reset_index(drop=True)
        live[feature] = live[feature] + data[feature].std()
        assert [f.name for f in _check(live, reference).drifted] == [feature]


def test_a_jump_in_missing_values_is_drift(reference: dict) -> None:
    live = default_dataset()[FEATURES].sample(1000, replace=True, random_state=3).reset_index(drop=True)
    live.loc[live.sample(frac=0.2, random_state=4).index, "mean_radius"] = np.nan
    (drift,) = _check(live, reference).drifted
    assert drift.name == "mean_radius" and any("missing rate 0.000 -> 0.200" in r for r in drift.reasons)
