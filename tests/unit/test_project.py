"""init's pure parts: task inference, bounds, floors, file edits, and the template record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines import project
from pipelines.config import TASK_METRICS
from pipelines.gate import check

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("values", "task"),
    [
        ([0, 1] * 20, "binary"),
        (["no", "yes", "yes"] * 10, "binary"),
        ([0, 1, 2] * 10, "multiclass"),
        (["a", "b", "c", "d"] * 5, "multiclass"),
        (list(np.linspace(0, 1, 40)), "regression"),
        (list(range(100)), "regression"),  # whole numbers, but too many to be labels
    ],
)
def test_the_task_follows_the_target(values: list, task: str) -> None:
    assert project.infer_task(pd.Series(values, name="y")) == task


def test_a_constant_target_is_refused_by_name() -> None:
    with pytest.raises(project.InitError, match="'y' has 1 distinct value"):
        project.infer_task(pd.Series([3] * 10, name="y"))


def test_bounds_are_loose_and_keep_zero_for_non_negative_columns() -> None:
    assert project._bounds(pd.Series([1.0, 5.0])) == (0.0, 10.0)
    low, high = project._bounds(pd.Series([-2.0, 3.0]))
    assert low <= -7.0 and high >= 8.0


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_first_models_scores_pass_the_floors_derived_from_them(task: str) -> None:
    """Floors sit below (ceilings above) the first model's scores, on the task's metrics only."""
    scores = {m: (0.8 if m not in ("rmse", "mae", "log_loss") else 12.0) for m in TASK_METRICS[task]}
    floors, regression, production = project.floors_for(scores, task)
    assert set(floors) <= set(TASK_METRICS[task]) and set(production) <= set(regression)
    from pipelines.config import GateParams

    assert check(scores, scores, GateParams(floors=floors, max_regression=regression)).passed


def test_environment_names_are_replaced_as_whole_words_only() -> None:
    text = "branches: [staging, production]\nstaging-notes: productionise\n--env staging"
    out = project.rename_environments(text, ["staging", "production"], ["qa", "live"])
    assert out == "branches: [qa, live]\nstaging-notes: productionise\n--env qa"


def test_the_dvc_remote_is_written_in_dvcs_layout() -> None:
    out = project.edit_dvc_config("[core]\n    analytics = false\n", "s3://bucket/dvc")
    assert (
        out
        == "[core]\n    analytics = false\n    remote = storage\n['remote \"storage\"']\n    url = s3://bucket/dvc\n"
    )


def test_the_template_record_matches_the_files_init_owns() -> None:
    """Template maintainers: after editing a file init owns, `make template-record` refreshes this."""
    record = yaml.safe_load((ROOT / project.RECORD).read_text())
    if record["initialised"]:
        pytest.skip("this project was set up by init; the record now guards its own edits")
    assert project.diverged(ROOT, record) == [], "run `make template-record`"
