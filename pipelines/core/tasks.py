"""What each task is: ONE table that every stage, renderer and `init` reads.

A task is what the target is: a yes/no label (binary), one of several labels (multiclass) or a
number (regression). Per task it fixes the metrics `evaluate` reports (and so the ones a gate rule
may name), which of them tables and pull-request bodies headline, how permutation importance is
scored, and the metrics `init` gates a new project on. A metric is one entry in
pipelines/core/metrics.py and a plot one entry in pipelines/core/plots.py; each task reports the
metrics and draws the plots listed there for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pipelines.core import metrics

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[str, ...] = get_args(Task)


@dataclass(frozen=True)
class TaskSpec:
    """Everything that differs between tasks."""

    name: str
    headline: tuple[str, ...]  # the few metrics tables and pull-request bodies show
    importance_label: str  # the primary metric, whose drop permutation importance measures, as people read it
    gated: tuple[str, ...]  # the metrics `init` sets gate floors and regression tolerances on
    primary: str  # the one production's tighter tolerance applies to (init)
    stratify: bool  # a stratified split is possible (the target is a label)
    group_gaps: tuple[str, ...]  # the gaps between groups of evaluate.sensitive (pipelines.core.inclusion)

    @property
    def plot_files(self) -> dict[str, str]:
        """Evaluation.plots key -> file under plots/ (pipelines.core.plots, the table; dvc.yaml's `plots:`)."""
        from pipelines.core import plots  # lazily: the stages before evaluate draw nothing

        return {p.key: p.file for p in plots.for_task(self.name)}

    @property
    def figures(self) -> tuple[str, ...]:
        """The PNGs under reports/figures, in file-name order."""
        from pipelines.core import plots

        return tuple(sorted(png for p in plots.for_task(self.name) for png in p.pngs))

    @property
    def metrics(self) -> tuple[str, ...]:
        """What `evaluate` reports, in report order (pipelines.core.metrics, the table)."""
        return metrics.for_task(self.name)


TASK_SPECS: dict[str, TaskSpec] = {
    "binary": TaskSpec(
        name="binary",
        headline=("roc_auc", "f1", "recall"),
        importance_label="ROC AUC",
        gated=("roc_auc", "average_precision", "f1", "recall", "log_loss"),
        primary="roc_auc",
        stratify=True,
        group_gaps=("demographic_parity_difference", "equalized_odds_difference"),
    ),
    "multiclass": TaskSpec(
        name="multiclass",
        headline=("accuracy", "f1_macro", "log_loss"),
        importance_label="macro F1",
        gated=("accuracy", "f1_macro", "log_loss"),
        primary="f1_macro",
        stratify=True,
        group_gaps=("demographic_parity_difference", "equalized_odds_difference"),
    ),
    "regression": TaskSpec(
        name="regression",
        headline=("r2", "rmse", "mae"),
        importance_label="R²",
        gated=("r2", "rmse", "mae"),
        primary="r2",
        stratify=False,
        group_gaps=("mae_difference",),
    ),
}


def task_spec(task: str) -> TaskSpec:
    """The table entry for `task`; ValueError naming the tasks there are."""
    try:
        return TASK_SPECS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; one of: {', '.join(TASKS)}") from None


def dvc_plots(task: str, directory: str = "plots") -> list[dict[str, Any]]:
    """dvc.yaml's top-level `plots:` section for `task` (pipelines.core.plots, the table)."""
    from pipelines.core import plots

    return plots.dvc_plots(task, directory)
