"""The report: deltas, gate table, params diff, data section, charts, and the no-baseline notice."""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.core.data import DataChange
from pipelines.core.gate import check
from pipelines.core.params import GateParams
from pipelines.core.params_jobs import FeatureBudgets
from pipelines.core.reports import ReportInputs, build
from pipelines.core.tasks import task_spec
from tests.helpers.project import CONTRACT

NO_BUDGETS = FeatureBudgets(latency_us=None, train_seconds=None, train_mib=None)

GATE = GateParams(
    floors={"roc_auc": 0.95},
    max_regression={"roc_auc": 0.01},
    regression_rule={},
    baseline_rule="simpler_not_better",
    slice_floors={},
    slice_rule="off",
    max_group_gap={},
    feature_rule="off",
    feature_budgets=NO_BUDGETS,
)
PLOTS = {
    "roc": pd.DataFrame({"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0]}),
    "precision_recall": pd.DataFrame({"recall": [1.0, 0.5, 0.0], "precision": [0.5, 0.9, 1.0]}),
    "importance": pd.DataFrame({"feature": ["worst_area", "mean_radius"], "importance": [0.02, 0.01]}),
    "confusion": pd.DataFrame({"actual": [0, 0, 1, 1], "predicted": [0, 1, 0, 1], "count": [70, 2, 3, 39]}),
}


def _inputs(**overrides) -> ReportInputs:  # type: ignore[no-untyped-def]
    metrics, base = {"roc_auc": 0.998, "log_loss": 0.07}, {"roc_auc": 0.996, "log_loss": 0.08}
    values = dict(
        metrics=metrics, base_metrics=base, params={"train.C": 0.3, "train.seed": 42},
        base_params={"train.C": 1.0, "train.seed": 42}, verdict=check(metrics, base, GATE), plots=PLOTS,
        head="a" * 40, base="b" * 40,
    )  # fmt: skip
    values.update(overrides)
    return ReportInputs(**values)  # type: ignore[arg-type]


def test_improvements_are_green_with_signed_deltas_for_both_directions() -> None:
    text = build(_inputs())
    assert "## ✅ Model gate passed" in text
    assert "| `roc_auc` | 0.9960 | 0.9980 | 🟢 +0.0020 |" in text
    assert "| `log_loss` | 0.0800 | 0.0700 | 🟢 -0.0100 |" in text  # lower log loss is better


def test_only_changed_params_are_listed() -> None:
    text = build(_inputs())
    assert "| `train.C` | 1.0000 | 0.3000 |" in text
    assert "train.seed" not in text


def test_a_failing_gate_lists_its_reasons_first() -> None:
    metrics = {"roc_auc": 0.90}
    text = build(_inputs(metrics=metrics, verdict=check(metrics, {"roc_auc": 0.996}, GATE)))
    head = text.split("### Metrics")[0]
    assert "❌ Model gate failed" in head and "roc_auc = 0.9000 is below the floor 0.9500" in head


def test_without_a_baseline_the_report_says_so() -> None:
    metrics = {"roc_auc": 0.99}
    text = build(_inputs(metrics=metrics, base_metrics=None, base_params=None, verdict=check(metrics, None, GATE)))
    assert "**No base metrics:**" in text and "absolute floors only" in text
    assert "| metric | this branch |" in text


def test_charts_are_mermaid_with_both_lines_when_the_base_has_plots() -> None:
    text = build(_inputs(base_plots=PLOTS))
    assert text.count("xychart-beta") == 3  # ROC, precision-recall, importance
    roc = text.split('title "ROC curve"')[1].split("```")[0]
    assert roc.count("line [") == 2
    assert "| **1** | 3 | 39 |" in text  # confusion matrix row


def test_the_data_section_shows_files_rows_schema_and_the_largest_shift() -> None:
    before = {"a": {"mean": 1.0, "std": 1.0, "missing_rate": 0.0}, "b": {"mean": 5.0, "std": 2.0, "missing_rate": 0.0}}
    after = {"a": {"mean": 1.1, "std": 1.0, "missing_rate": 0.0}, "b": {"mean": 9.0, "std": 2.5, "missing_rate": 0.1}}
    change = DataChange(added=["data/new.csv"], rows_before=569, rows_after=629, valid=True,
                        profile_before=before, profile_after=after)  # fmt: skip
    text = build(_inputs(data=change))
    section = text.split("### Data")[1]
    assert "added: `data/new.csv`" in section and "rows: 569 -> 629 (+60)" in section and "✅ valid" in section
    assert section.index("`b`") < section.index("`a`")  # sorted by the size of the shift
    assert "| `b` | 5 -> 9 | +2.00 |" in section


def test_publish_mode_links_local_figures_and_default_mode_links_the_artifact() -> None:
    assert "![roc.png](reports/figures/roc.png)" in build(
        _inputs(images="publish", figures=["reports/figures/roc.png"])
    )
    text = build(_inputs(figures_url="https://github.com/o/r/actions/runs/1"))
    assert "[report artifact](https://github.com/o/r/actions/runs/1)" in text and "![" not in text


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_registry_table_promotion_body_and_live_metrics_use_the_tasks_metrics_never_nan(task: str) -> None:
    from pipelines.adapters.releases import Release
    from pipelines.core.monitor_report import labelled_metrics as live_metrics
    from pipelines.core.reports import promotion_body, registry_table
    from pipelines.core.tasks import task_spec

    metrics = {m: 0.5 for m in task_spec(task).metrics}
    release = Release(1, "a" * 64, "c" * 40, "d" * 32, metrics, "2026-11-30T00:00:00Z", "s", "x@sha256:" + "1" * 64)
    texts = [
        registry_table([("staging", release), ("production", None)], "b" * 64, task),
        promotion_body("a" * 64, "staging", "main", metrics, task),
        live_metrics(metrics, {task_spec(task).metrics[0]: 0.4}, [], task),
    ]
    for text in texts:
        assert "nan" not in text.lower()
        assert task_spec(task).headline[0] in text


def test_table_cells_escape_pipes_and_newlines_from_user_column_names() -> None:
    from pipelines.core.markdown import table

    out = table(["column", "value"], [("a|b\nc", 1)])
    assert out.splitlines()[-1] == "| a\\|b c | 1 |"


@pytest.mark.parametrize(
    ("head", "branch", "base_name", "expected"),
    [
        ("446a02a3" + "0" * 32 + "-dirty", "try", "main",
         "working copy of branch try, uncommitted (on `446a02a3`), compared with main @ `bbbbbbbb`"),
        ("a" * 40, "try", "main", "commit `aaaaaaaa` (branch try), compared with main @ `bbbbbbbb`"),
        ("a" * 40, None, None, "commit `aaaaaaaa`, compared with `bbbbbbbb`"),  # CI: a merge commit, a base sha
    ],
)  # fmt: skip
def test_the_header_names_what_was_judged_against_what(
    head: str, branch: str | None, base_name: str | None, expected: str
) -> None:
    """An uncommitted working copy is not "commit 446a02a3 compared with 446a02a3"."""
    text = build(_inputs(head=head, head_branch=branch, base_name=base_name))
    assert f"<sub>{expected}</sub>" in text


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"train.estimator": "random_forest", "train.random_forest.class_weight": "balanced"},
         "Estimator `random_forest`; class weights: `balanced` (each class counts as much as the others)."),
        ({"train.estimator": "logistic_regression", "train.logistic_regression.class_weight": None},
         "Estimator `logistic_regression`; class weights: none (every row counts once)."),
        ({"train.estimator": "ridge", "train.ridge.alpha": 1.0}, "Estimator `ridge`."),
    ],
)  # fmt: skip
def test_the_report_says_which_class_weighting_the_model_used(params: dict, expected: str) -> None:
    text = build(_inputs(params=params, base_params=params))
    assert text.split("### Params")[1].lstrip().startswith(expected)


def test_each_paired_bar_is_on_its_metrics_own_scale_and_large_errors_keep_their_digits() -> None:
    """An RMSE in billions beside an R²: a shared scale left the R² bar empty beside "better"."""
    metrics, base = {"r2": 0.9, "rmse": 3.9e9}, {"r2": 0.5, "rmse": 4.1e9}
    paired = {"r2": {"difference": 0.3883, "low": 0.0617, "high": 1.0916},
              "rmse": {"difference": -2.0e8, "low": -3.1e8, "high": -0.9e8}}  # fmt: skip
    verdict = check(
        metrics,
        base,
        GateParams(
            floors={},
            max_regression={},
            regression_rule={},
            baseline_rule="off",
            slice_floors={},
            slice_rule="off",
            max_group_gap={},
            feature_rule="off",
            feature_budgets=NO_BUDGETS,
        ),
    )
    text = build(_inputs(metrics=metrics, base_metrics=base, paired=paired, task="regression", verdict=verdict))
    r2 = next(line for line in text.splitlines() if line.startswith("| `r2` |"))
    assert "┼━━━━━━━━` better" in r2, r2
    rmse = next(line for line in text.splitlines() if line.startswith("| `rmse` |"))
    assert "4.1e+09" in rmse and "-2e+08 [-3.1e+08, -9e+07]" in rmse and "━" in rmse, rmse


def test_a_metric_the_base_lacks_fills_every_column_of_the_paired_table() -> None:
    """A metric added since the base has no change and no paired difference: its row still has a cell per column,
    so the markdown table stays a table."""
    from pipelines.core.reports import _metrics_table

    task = CONTRACT.task
    first, *rest = task_spec(task).metrics
    metrics = {m: 0.5 for m in task_spec(task).metrics}
    base = {m: 0.5 for m in rest}
    paired = {m: {"difference": 0.0, "low": -0.01, "high": 0.01} for m in rest}
    lines = [line for line in _metrics_table(metrics, base, task, paired=paired).splitlines() if line.startswith("|")]
    assert len({line.count("|") for line in lines}) == 1, lines
    assert any(f"`{first}`" in line and "new" in line for line in lines)


def test_the_report_shows_the_simpler_model_beside_the_candidate_or_why_there_is_none() -> None:
    doc = {"estimator": "logistic_regression", "level": 0.95, "metrics": {"roc_auc": 0.97, "log_loss": 0.11},
           "difference": {"roc_auc": {"difference": 0.02, "low": -0.001, "high": 0.04},
                          "log_loss": {"difference": -0.03, "low": -0.05, "high": -0.01}}}  # fmt: skip
    text = build(_inputs(metrics={"roc_auc": 0.99, "log_loss": 0.08}, baseline=doc))
    section = text.split("### Simpler model")[1].split("### Gate")[0]
    assert "| `roc_auc` | 0.9900 | 0.9700 | +0.0200 [-0.0010, +0.0400] | higher is better |" in section
    assert "| `log_loss` | 0.0800 | 0.1100 | -0.0300 [-0.0500, -0.0100] | lower is better |" in section
    assert "95% paired percentile-bootstrap interval" in section and "judges `roc_auc`" in section
    skipped = build(_inputs(baseline={"estimator": "logistic_regression", "skipped": "the candidate is the same"}))
    assert "_Not compared: the candidate is the same._" in skipped
    assert "### Simpler model" not in build(_inputs())


def test_the_slices_table_shows_each_slice_its_floor_and_this_minus_base_and_why_one_is_not_judged() -> None:
    from pipelines.core.gate import Rule, Verdict

    doc = {"level": 0.95, "min_rows": 30, "slices": [
        {"column": "site", "slice": "site=DE", "rows": 12, "judged": False, "metrics": {}, "intervals": {},
         "reason": "too small to judge: 12 rows, evaluate.slice_min_rows is 30"},
        {"column": "site", "slice": "site=FR", "rows": 80, "judged": True, "reason": None,
         "metrics": {"roc_auc": 0.91}, "intervals": {"roc_auc": {"low": 0.85, "high": 0.96}}}]}  # fmt: skip
    compared = {"site=FR": {"difference": -0.02, "low": -0.05, "high": 0.01, "level": 0.975, "rows": 80},
                "site=DE": {"rows": 12, "reason": "too small to judge"}}  # fmt: skip
    failed = Rule("slice floor", "roc_auc", 0.95, 0.91, False, "slice site=FR: roc_auc = 0.9100 is below", "site=FR")
    text = build(_inputs(slices=doc, slice_comparison=compared, slice_floors={"site=FR": {"roc_auc": 0.95}},
                         verdict=Verdict([failed], True)))  # fmt: skip
    section = text.split("### Slices", 1)[1].split("### Gate", 1)[0]
    assert "| `site=FR` | 80 | 0.9100 [0.8500, 0.9600] | 0.9500 | -0.0200 [-0.0500, +0.0100] |  |" in section
    assert "| `site=DE` | 12 | - | - | - | too small to judge: 12 rows, evaluate.slice_min_rows is 30 |" in section
    assert "at 97.50% each (Bonferroni over 1 slices)" in section
    assert "| slice floor | `roc_auc` · `site=FR` | >= 0.9500 | 0.9100 | ❌ fail |" in text
    assert "### Slices" not in build(_inputs())  # nothing configured, no section


def test_the_inclusion_table_shows_each_gap_its_limit_and_the_rates_per_group() -> None:
    doc = {"level": 0.95, "min_rows": 30, "columns": [
        {"column": "sex", "reason": None, "gaps": {"mae_difference": {"value": 2.1, "low": 0.2, "high": 16.1}},
         "groups": [{"group": "sex=f", "rows": 48, "judged": True, "reason": None,
                     "rates": {"mean_absolute_error": 44.2}},
                    {"group": "sex=m", "rows": 12, "judged": False, "reason": "too small to judge: 12 rows",
                     "rates": {"mean_absolute_error": 42.1}}]},
        {"column": "age", "reason": "1 group(s) judged: no gap to measure", "gaps": {}, "groups": []}]}  # fmt: skip
    text = build(_inputs(inclusion=doc, max_group_gap={"sex": {"mae_difference": 16.2}}))
    section = text.split("### Inclusion", 1)[1].split("### Gate", 1)[0]
    assert "| `sex` | `mae_difference` | 2.1000 [0.2000, 16.1000] | <= 16.2000 |" in section
    assert "| `age` | - | 1 group(s) judged: no gap to measure | - |" in section
    assert "| `sex=m` | 12 | 42.1000 | too small to judge: 12 rows |" in section
    assert "### Inclusion" not in build(_inputs(inclusion={"columns": []}))
