"""Drift statistics and verdicts: no false alarms on training-like traffic, the shifted feature alone flagged,
on the project's own data; constants, flags and categories judged by tests that suit them."""

from __future__ import annotations

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings

from pipelines.core.drift import detect_drift, ks_against_quantiles, psi, reference_profile
from tests.helpers.project import CONTRACT, FEATURES, PARAMS

M = PARAMS.monitor
T = PARAMS.train
shares = (
    st.lists(st.floats(0.0, 1.0), min_size=2, max_size=12)
    .filter(lambda xs: sum(xs) > 0)
    .map(lambda xs: np.array(xs) / sum(xs))
)


def _profile(frame: pd.DataFrame, numeric: list[str], categorical: list[str]) -> dict:
    return reference_profile(frame, numeric, categorical, T.reference_bins, T.reference_discrete_max)


def _check(live: pd.DataFrame, reference: dict):  # type: ignore[no-untyped-def]
    return detect_drift(live, reference, M.psi_threshold, M.ks_alpha, M.ks_min_statistic, M.missing_rate_change,
                   M.chi2_min_effect, T.reference_bins)  # fmt: skip


@pytest.fixture(scope="module")
def train(project_split: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    return project_split[0][FEATURES]


@pytest.fixture(scope="module")
def reference(train: pd.DataFrame) -> dict:
    return _profile(train, CONTRACT.numeric, CONTRACT.categorical)


@given(shares)
def test_psi_of_identical_distributions_is_zero(p: np.ndarray) -> None:
    assert psi(p, p) == pytest.approx(0.0, abs=1e-12)


@given(st.integers(2, 12).flatmap(lambda n: st.tuples(*(st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n)
                                                        for _ in range(2)))))  # fmt: skip
def test_psi_is_symmetric_and_never_negative(pair: tuple[list[float], list[float]]) -> None:
    a, b = (np.array(x) / sum(x) for x in pair)
    assert psi(a, b) == pytest.approx(psi(b, a))
    assert psi(a, b) >= -1e-12


def test_the_ks_statistic_matches_scipy_on_a_continuous_reference() -> None:
    from scipy import stats

    rng = np.random.default_rng(0)
    quantiles = np.quantile(rng.normal(size=5000), np.linspace(0, 1, 101))
    live = rng.normal(0.3, 1, size=400)
    expected = stats.kstest(live, lambda x: np.interp(x, quantiles, np.linspace(0, 1, 101), left=0, right=1))
    assert ks_against_quantiles(live, quantiles) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_the_verdict_does_not_depend_on_row_order(train: pd.DataFrame, reference: dict, seed: int) -> None:
    live = train.sample(300, replace=True, random_state=seed).reset_index(drop=True)
    shuffled = live.sample(frac=1.0, random_state=seed + 1).reset_index(drop=True)
    a, b = _check(live, reference), _check(shuffled, reference)
    assert [(f.name, f.psi, f.ks_statistic, f.chi2_effect) for f in a.features] == [
        (f.name, f.psi, f.ks_statistic, f.chi2_effect) for f in b.features
    ]


def test_traffic_from_the_training_distribution_raises_no_alarm_over_many_draws(
    train: pd.DataFrame, reference: dict
) -> None:
    alarms = {seed: [f.name for f in _check(train.sample(1000, replace=True, random_state=seed)
                                            .reset_index(drop=True), reference).drifted]
              for seed in range(40)}  # fmt: skip
    assert {seed: names for seed, names in alarms.items() if names} == {}, "false alarms (of 40 draws)"


def _continuous(reference: dict) -> list[str]:
    return [name for name, ref in reference["features"].items() if ref["kind"] == "numeric"]


def test_a_shifted_feature_is_flagged_and_only_that_one(train: pd.DataFrame, reference: dict) -> None:
    """Up to three of the project's continuous features, each shifted by one standard deviation."""
    continuous = _continuous(reference)
    if not continuous:
        pytest.skip("the project has no continuous numeric input")
    for feature in continuous[:: max(1, len(continuous) // 3)][:3]:
        for seed in range(3):
            live = train.sample(1000, replace=True, random_state=seed).reset_index(drop=True)
            live[feature] = live[feature] + train[feature].std()
            assert [f.name for f in _check(live, reference).drifted] == [feature]


def test_a_shift_in_a_categorys_share_is_flagged_and_only_that_one(train: pd.DataFrame, reference: dict) -> None:
    """Each categorical or discrete input of the project: half the live rows take its rarest value (a shift large
    for any number of values: moving one common value's rows moves almost no share of a 200-value column)."""
    by_value = [name for name, ref in reference["features"].items() if ref["kind"] in ("categorical", "discrete")]
    shiftable = [name for name in by_value if train[name].dropna().nunique() >= 2]
    if not shiftable:
        pytest.skip("the project has no categorical or discrete input with two values")
    for feature in shiftable[:3]:
        live = train.sample(1000, replace=True, random_state=1).reset_index(drop=True)
        rarest = train[feature].value_counts().index[-1]
        live.loc[live.index[: len(live) // 2], feature] = rarest
        assert [f.name for f in _check(live, reference).drifted] == [feature]


def test_a_jump_in_missing_values_is_drift(train: pd.DataFrame, reference: dict) -> None:
    feature = FEATURES[0]
    live = train.sample(1000, replace=True, random_state=3).reset_index(drop=True)
    before = reference["features"][feature]["missing_rate"]
    live.loc[live.sample(frac=0.3, random_state=4).index, feature] = np.nan
    drift = {f.name: f for f in _check(live, reference).drifted}
    assert feature in drift and any(f"missing rate {before:.3f} ->" in r for r in drift[feature].reasons)


def _low_cardinality(rng: np.random.Generator, n: int, p_flag: float = 0.3) -> pd.DataFrame:
    return pd.DataFrame({
        "constant": np.full(n, 7.0),
        "flag": (rng.random(n) < p_flag).astype(float),
        "count": rng.poisson(2.0, n).astype(float),
        "zero_inflated": np.where(rng.random(n) < 0.4, 0.0, rng.exponential(3.0, n)),
        "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
        "only": np.full(n, "x"),
    })  # fmt: skip


@pytest.fixture(scope="module")
def low_cardinality_reference() -> dict:
    frame = _low_cardinality(np.random.default_rng(0), 2000)
    return _profile(frame, ["constant", "flag", "count", "zero_inflated"], ["plan", "only"])


def test_constants_flags_counts_and_point_masses_raise_no_false_alarm(low_cardinality_reference: dict) -> None:
    """A KS test on a constant gives distance 1 when live values equal it; these inputs are judged by value."""
    kinds = {name: ref["kind"] for name, ref in low_cardinality_reference["features"].items()}
    assert kinds["constant"] == kinds["flag"] == kinds["count"] == "discrete"
    assert kinds["zero_inflated"] == "numeric"
    draws = {seed: _low_cardinality(np.random.default_rng(seed + 1), 1500) for seed in range(30)}
    alarms = [seed for seed, live in draws.items() if _check(live, low_cardinality_reference).drifted]
    assert alarms == []


@pytest.mark.parametrize(
    ("feature", "change"),
    [
        ("constant", lambda f, rng: f.assign(constant=8.0)),
        ("flag", lambda f, rng: f.assign(flag=(rng.random(len(f)) < 0.6).astype(float))),
        ("count", lambda f, rng: f.assign(count=rng.poisson(3.0, len(f)).astype(float))),
        ("zero_inflated", lambda f, rng: f.assign(zero_inflated=np.where(rng.random(len(f)) < 0.7, 0.0, 3.0))),
        ("plan", lambda f, rng: f.assign(plan=rng.choice(["basic", "plus", "pro"], len(f), p=[0.3, 0.3, 0.4]))),
        ("only", lambda f, rng: f.assign(only=rng.choice(["x", "y"], len(f)))),
    ],
)  # fmt: skip
def test_a_real_shift_in_a_low_cardinality_input_still_alarms(low_cardinality_reference: dict, feature, change) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    live = change(_low_cardinality(rng, 1500), rng)
    assert [f.name for f in _check(live, low_cardinality_reference).drifted] == [feature]


@pytest.mark.parametrize("categories", [10, 100, 1000])
@pytest.mark.parametrize("skewed", [False, True])
def test_a_high_cardinality_column_holds_its_false_alarm_rate_on_small_live_samples(
    categories: int, skewed: bool
) -> None:
    """Training rows replayed as live traffic (200 rows per draw, 40 draws): an identifier-like column of 10, 100
    or 1,000 values, uniform or Zipf-shared, raises at most 2 alarms (5 %). PSI pools the rare values into one
    cell (drift.pooled_shares); per value, its noise alone was about (K - 1) / n and every draw drifted."""
    rng = np.random.default_rng(categories)
    weights = 1 / np.arange(1, categories + 1) if skewed else np.ones(categories)
    values = np.array([f"id-{i}" for i in range(categories)], dtype=object)
    train = pd.DataFrame({"hole_id": values[rng.choice(categories, 3000, p=weights / weights.sum())],
                          "depth_m": rng.gamma(2.0, 40.0, 3000)})  # fmt: skip
    reference = _profile(train, ["depth_m"], ["hole_id"])
    alarms = sum(bool(_check(train.sample(200, random_state=d, replace=True), reference).drifted) for d in range(40))
    assert alarms <= 2, f"{alarms} of 40 draws from the training distribution flagged drift"
    # and a real shift in the same column is still seen: half the live rows now carry ids never seen in training
    shifted = train.sample(200, random_state=99, replace=True).reset_index(drop=True)
    shifted.loc[:99, "hole_id"] = [f"new-{i}" for i in range(100)]
    assert [f.name for f in _check(shifted, reference).drifted] == ["hole_id"]


def test_a_small_reference_is_not_taken_for_the_exact_distribution() -> None:
    """A 48-row training set (a 60-row table) and 400 fresh rows from the same distribution: 30 numeric inputs
    with some missing values, 20 draws, at most 1 alarm in all (it was 73 drifted features in one run: the KS
    test took 48 quantiles for the truth and PSI's noise between 48 and 400 rows is about 0.2 by itself). A
    shift of one standard deviation in one input is still flagged, alone."""
    rng = np.random.default_rng(0)

    def draw(n: int) -> pd.DataFrame:
        frame = pd.DataFrame(rng.normal(size=(n, 30)), columns=[f"f{i:02d}" for i in range(30)])
        frame.loc[rng.random(n) < 0.1, "f00"] = np.nan
        return frame

    train = draw(48)
    reference = _profile(train, list(train.columns), [])
    alarms = sum(bool(_check(draw(400), reference).drifted) for _ in range(20))
    assert alarms <= 1, f"{alarms} of 20 draws from the training distribution flagged drift"
    shifted = draw(400)
    shifted["f05"] += 1.0
    assert [f.name for f in _check(shifted, reference).drifted] == ["f05"]


def test_the_monitor_report_is_built_in_one_place_in_a_fixed_order(train: pd.DataFrame, reference: dict) -> None:
    """reports/monitor.md is pipelines.core.monitor_report.build of the results (its layout is one edit there):
    the log problem first, then drift or not enough data, the labelled file's metrics, live performance and
    champion vs challenger."""
    from pipelines.core import monitor_report
    from pipelines.core.tasks import task_spec

    task, metric = CONTRACT.task, task_spec(CONTRACT.task).metrics[0]
    drift = _check(train.sample(300, random_state=1), reference)
    live = [{"model_hash": "a" * 64, "role": "champion", "predictions": 10, "labelled": 5, "coverage": 0.5,
             "label_delay_hours": None, "metrics": {metric: 0.5}, "intervals": {}, "below_floors": [],
             "judged": False, "unmatched": 0}]  # fmt: skip
    comparison = {"champion": "a" * 64, "challenger": "b" * 64, "rows": 5, "judged": False,
                  "champion_metrics": {metric: 0.5}, "challenger_metrics": {metric: 0.6},
                  "difference": {metric: {"difference": 0.1, "low": -0.1, "high": 0.3}},
                  "verdict": {metric: "not distinguishable"}}  # fmt: skip
    text = monitor_report.build("the last hour", 300, 200, drift, task, {metric: 0.4}, ({metric: 0.5}, []), live,
                                comparison, 100, "no logs here")  # fmt: skip
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings[0] == "## No prediction logs" and headings[1].startswith(("## ✅", "## ⚠️"))
    assert headings[2:] == ["### Live metrics on labelled traffic", "## Live performance (predictions joined with "
                            "their outcomes)", "### Champion vs challenger on live outcomes"]  # fmt: skip
    assert monitor_report.build("w", 3, 200, None, task, {}).startswith("## Not enough data")
