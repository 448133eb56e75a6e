"""init's pure parts: task inference, bounds, floors, file edits, and the template record."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipelines.core.gate import check
from pipelines.core.params import GateParams
from pipelines.core.tasks import spec
from pipelines.template import edits, floors, infer, record

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
    assert infer.infer_task(pd.Series(values, name="y")) == task


def test_a_constant_target_is_refused_by_name() -> None:
    with pytest.raises(infer.InitError, match="'y' has 1 distinct value"):
        infer.infer_task(pd.Series([3] * 10, name="y"))


def test_bounds_are_loose_and_keep_zero_for_non_negative_columns() -> None:
    assert infer._bounds(pd.Series([1.0, 5.0])) == (0.0, 10.0)
    low, high = infer._bounds(pd.Series([-2.0, 3.0]))
    assert low <= -7.0 and high >= 8.0


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_the_first_models_scores_pass_the_floors_derived_from_them(task: str) -> None:
    """Floors sit below (ceilings above) the first model's scores, on the task's metrics only."""
    scores = {m: (0.8 if m not in ("rmse", "mae", "log_loss") else 12.0) for m in spec(task).metrics}
    minimums, regression, production = floors.floors_for(scores, task)
    assert set(minimums) <= set(spec(task).metrics) and set(production) <= set(regression)
    assert check(scores, scores, GateParams(floors=minimums, max_regression=regression)).passed


def test_environment_names_are_replaced_as_whole_words_only() -> None:
    text = "branches: [staging, production]\nstaging-notes: productionise\n--env staging"
    out = edits.rename_environments(text, ["staging", "production"], ["qa", "live"])
    assert out == "branches: [qa, live]\nstaging-notes: productionise\n--env qa"


def test_the_dvc_remote_is_written_in_dvcs_layout() -> None:
    out = edits.edit_dvc_config("[core]\n    analytics = false\n", "s3://bucket/dvc")
    assert (
        out
        == "[core]\n    analytics = false\n    remote = storage\n['remote \"storage\"']\n    url = s3://bucket/dvc\n"
    )


def test_the_template_record_matches_the_files_init_owns() -> None:
    """Template maintainers: after editing a file init owns, `make template-record` refreshes this."""
    recorded = yaml.safe_load((ROOT / record.RECORD).read_text())
    if recorded["initialised"]:
        pytest.skip("this project was set up by init; the record now guards its own edits")
    assert record.diverged(ROOT, recorded) == [], "run `make template-record`"
