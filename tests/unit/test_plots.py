"""The plot table (pipelines/core/plots.py): adding a plot is one entry, and every consumer picks it up: the data
`evaluate` computes, plots/<key>.csv, dvc.yaml's `plots:` section, a PNG figure and the report's chart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.adapters import plots as writers
from pipelines.core import charts, plots
from pipelines.core.evaluate import Evaluation
from pipelines.core.tasks import TASKS, dvc_plots, task_spec
from tests.helpers import synthetic_holdout
from tests.helpers.project import PARAMS


def _lift(h: plots.Holdout) -> pd.DataFrame:
    """Cumulative share of positives against the share of rows, best-scored first."""
    assert h.classes is not None
    order = np.argsort(-h.output[:, 1], kind="mergesort")
    hits = (h.y[order] == h.classes[1]).astype(float)
    return pd.DataFrame({"rows": np.arange(1, len(hits) + 1) / len(hits), "captured": np.cumsum(hits) / hits.sum()})


def test_a_plot_added_to_the_table_is_computed_written_declared_drawn_and_charted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = plots.PlotSpec(key="lift", tasks=frozenset({"binary"}), title="Cumulative gains", x="rows",
                           y="captured", template="linear", chart="curve", frame=_lift)  # fmt: skip
    monkeypatch.setattr(plots, "PLOTS", (*plots.PLOTS, entry))
    monkeypatch.setattr(charts, "PLOTS", plots.PLOTS)
    y, output, classes = synthetic_holdout("binary", 120, 4)
    frames = plots.frames("binary", plots.Holdout("binary", y, output, classes, PARAMS.evaluate))
    assert frames["lift"]["captured"].iloc[-1] == pytest.approx(1.0)
    assert task_spec("binary").plot_files["lift"] == "lift.csv" and "lift.png" in task_spec("binary").figures
    assert {"Cumulative gains": {"template": "linear", "x": "rows", "y": {"plots/lift.csv": "captured"}}} in (
        dvc_plots("binary")
    )
    frames["importance"] = pd.DataFrame({"feature": ["a"], "importance": [0.1], "std": [0.0]})
    evaluation = Evaluation(task="binary", metrics={"roc_auc": 0.9, "average_precision": 0.8}, plots=frames)
    writers.write_data(evaluation, tmp_path / "plots")
    assert (tmp_path / "plots" / "lift.csv").exists()
    assert "lift.png" in writers.write_figures(evaluation, tmp_path / "figures")
    assert 'title "Cumulative gains curve"' in charts.holdout_charts(frames, {})


def test_every_task_draws_its_table_entries_and_names_each_file_once() -> None:
    for task in TASKS:
        entries = plots.for_task(task)
        assert [p.key for p in entries] == list(task_spec(task).plot_files)
        pngs = [png for p in entries for png in p.pngs]
        assert len(pngs) == len(set(pngs)) and tuple(sorted(pngs)) == task_spec(task).figures
        assert [next(iter(d)) for d in dvc_plots(task)] == [p.title for p in entries]


def test_dvc_yaml_declares_exactly_the_table_s_plots_for_the_project_s_task() -> None:
    """A plot added to the table but not to dvc.yaml's `plots:` would be written yet never shown by `dvc plots`:
    `init` writes the section from the table, and in a project after init it is kept in step by hand (this test
    says what to write)."""
    import yaml

    from tests.helpers.project import CONTRACT, ROOT

    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    assert declared == dvc_plots(CONTRACT.task), f"dvc.yaml plots: should be {dvc_plots(CONTRACT.task)}"
