"""The gate: floors (ceilings for log_loss), allowed regression against the base, clear reasons."""

from __future__ import annotations

import hypothesis.strategies as st
from hypothesis import given

from pipelines.core.gate import check
from pipelines.core.metrics import LOWER_IS_BETTER
from pipelines.core.metrics import NAMES as METRICS
from pipelines.core.params import GateParams
from pipelines.core.params_jobs import FeatureBudgets

NO_BUDGETS = FeatureBudgets(latency_us=None, train_seconds=None, train_mib=None)

GATE = GateParams(
    floors={"roc_auc": 0.95, "recall": 0.85, "log_loss": 0.25},
    max_regression={"roc_auc": 0.01, "recall": 0.05, "log_loss": 0.05},
    regression_rule={},
    baseline_rule="simpler_not_better",
    slice_floors={},
    slice_rule="off",
    max_group_gap={},
    feature_rule="off",
    feature_budgets=NO_BUDGETS,
)
GOOD = {"roc_auc": 0.99, "recall": 0.93, "log_loss": 0.08, "f1": 0.95}


def test_good_metrics_with_no_baseline_pass_on_floors_alone() -> None:
    verdict = check(GOOD, None, GATE)
    assert verdict.passed and not verdict.has_base
    assert {r.kind for r in verdict.rules} == {"floor"}


def test_a_metric_below_its_floor_fails_with_metric_threshold_and_value_named() -> None:
    verdict = check({**GOOD, "recall": 0.6667}, None, GATE)
    assert not verdict.passed
    (failure,) = verdict.failures
    assert failure.reason == "recall = 0.6667 is below the floor 0.8500"


def test_log_loss_is_a_ceiling_not_a_floor() -> None:
    (failure,) = check({**GOOD, "log_loss": 0.3}, None, GATE).failures
    assert failure.reason == "log_loss = 0.3000 is above the ceiling 0.2500"


def test_a_regression_beyond_the_tolerance_fails_even_above_the_floor() -> None:
    base = {**GOOD, "roc_auc": 0.999}
    (failure,) = check({**GOOD, "roc_auc": 0.985}, base, GATE).failures
    assert failure.kind == "regression"
    assert "roc_auc regressed by 0.0140" in failure.reason and "at most 0.0100" in failure.reason


def test_a_value_exactly_at_the_regression_bound_passes() -> None:
    base = {**GOOD, "recall": 0.93}
    assert check({**GOOD, "recall": 0.88}, base, GATE).passed


def test_a_missing_metric_fails_its_rules() -> None:
    metrics = {k: v for k, v in GOOD.items() if k != "recall"}
    reasons = [r.reason for r in check(metrics, GOOD, GATE).failures]
    assert reasons == ["recall is missing from the metrics", "recall is missing from the metrics"]


def test_a_metric_the_base_lacks_is_shown_as_not_compared_not_skipped() -> None:
    """A metric added since the base has nothing to regress from: its max_regression rule says so in the
    verdict and the gate table, passes, and leaves the floor to judge it."""
    from pipelines.core.reports import gate_table

    base = {k: v for k, v in GOOD.items() if k != "recall"}
    verdict = check(GOOD, base, GATE)
    (skipped,) = [r for r in verdict.rules if r.kind == "not compared"]
    assert skipped.metric == "recall" and skipped.passed and skipped.threshold is None
    assert "the base reports no recall" in skipped.reason
    assert "| not compared | `recall` | - | 0.9300 | ⚪ not compared |" in gate_table(verdict)
    assert not check({**GOOD, "recall": 0.5}, base, GATE).passed  # the floor still applies


scores = st.floats(0.0, 1.0, allow_nan=False)


@given(base=st.fixed_dictionaries({m: scores for m in METRICS}), better=st.sampled_from(METRICS), step=scores)
def test_improving_one_metric_never_turns_a_pass_into_a_fail(base: dict, better: str, step: float) -> None:
    params = GateParams(
        floors={m: 0.0 for m in METRICS if m not in LOWER_IS_BETTER},
        max_regression={m: 0.0 for m in METRICS},
        regression_rule={},
        baseline_rule="simpler_not_better",
        slice_floors={},
        slice_rule="off",
        max_group_gap={},
        feature_rule="off",
        feature_budgets=NO_BUDGETS,
    )
    assert check(base, base, params).passed
    moved = base[better] - step if better in LOWER_IS_BETTER else base[better] + step
    assert check({**base, better: moved}, base, params).passed


INTERVAL_GATE = GATE.model_copy(
    update={"regression_rule": {"roc_auc": "non_inferiority", "log_loss": "non_inferiority"}}
)
BASE = {"roc_auc": 0.98, "recall": 0.93, "log_loss": 0.10}


def test_a_non_inferiority_rule_judges_the_paired_intervals_worse_bound() -> None:
    """The point rule and the interval rule disagree both ways: the configuration decides which applies."""
    now = {"roc_auc": 0.975, "recall": 0.93, "log_loss": 0.10}  # 0.005 worse: inside the 0.01 point tolerance
    noisy = {"roc_auc": {"difference": -0.005, "low": -0.02, "high": 0.01},
             "log_loss": {"difference": 0.0, "low": -0.01, "high": 0.01}}  # fmt: skip
    assert check(now, BASE, GATE, noisy, 0.95).passed  # point rule: passes
    verdict = check(now, BASE, INTERVAL_GATE, noisy, 0.95)
    assert not verdict.passed
    (rule,) = verdict.failures
    assert rule.kind == "non-inferiority" and rule.metric == "roc_auc"
    assert rule.reason == ("roc_auc: the paired 95% interval of this - base is [-0.0200, +0.0100]; its lower bound "
                           "must be at least -0.0100 (non-inferiority)")  # fmt: skip

    worse = {"roc_auc": 0.965, "recall": 0.93, "log_loss": 0.10}  # 0.015 worse: fails the point rule
    tight = {"roc_auc": {"difference": -0.015, "low": -0.009, "high": -0.001},  # an interval that excludes -0.01
             "log_loss": {"difference": 0.0, "low": 0.0, "high": 0.0}}  # fmt: skip
    assert not check(worse, BASE, GATE, tight, 0.95).passed
    assert check(worse, BASE, INTERVAL_GATE, tight, 0.95).passed


def test_without_a_paired_interval_the_rule_falls_back_to_the_point_rule_and_says_so() -> None:
    verdict = check({"roc_auc": 0.95, "recall": 0.93, "log_loss": 0.10}, BASE, INTERVAL_GATE, None, 0.95)
    (rule,) = [r for r in verdict.failures if r.metric == "roc_auc" and r.kind == "regression"]
    assert rule.reason.endswith("(point rule: no paired interval, the two holdouts differ)")


def test_a_lower_is_better_metric_bounds_the_upper_end_of_the_difference() -> None:
    paired = {"roc_auc": {"difference": 0.0, "low": 0.0, "high": 0.0},
              "log_loss": {"difference": 0.01, "low": -0.01, "high": 0.06}}  # fmt: skip
    verdict = check({**BASE, "log_loss": 0.11}, BASE, INTERVAL_GATE, paired, 0.95)
    (rule,) = verdict.failures
    assert rule.metric == "log_loss" and "its upper bound must be at most +0.0500" in rule.reason
