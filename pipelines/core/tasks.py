"""What each task is: ONE table that every stage, renderer and `init` reads.

A task is what the target is: a yes/no label (binary), one of several labels (multiclass) or a
number (regression). Per task it fixes the metrics `evaluate` reports (and so the ones a gate rule
may name), which of them tables and pull-request bodies headline, how permutation importance is
scored, the plot files and figures `evaluate` writes, and the metrics `init` gates a new project
on. Adding a plot for a task is one edit here; a metric is one entry in pipelines/core/metrics.py,
and each task reports the metrics listed there for it.
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
    importance_scoring: str  # scikit-learn scorer whose drop permutation importance measures
    importance_label: str  # the same, as people read it
    plot_files: dict[str, str]  # Evaluation.plots key -> file under plots/ (dvc.yaml's `plots:` names them)
    figures: tuple[str, ...]  # PNGs under reports/figures, in file-name order
    gated: tuple[str, ...]  # the metrics `init` sets gate floors and regression tolerances on
    primary: str  # the one production's tighter tolerance applies to (init)
    stratify: bool  # a stratified split is possible (the target is a label)

    @property
    def metrics(self) -> tuple[str, ...]:
        """What `evaluate` reports, in report order (pipelines.core.metrics, the table)."""
        return metrics.for_task(self.name)


TASK_SPECS: dict[str, TaskSpec] = {
    "binary": TaskSpec(
        name="binary",
        headline=("roc_auc", "f1", "recall"),
        importance_scoring="roc_auc",
        importance_label="ROC AUC",
        plot_files={
            "roc": "roc.csv",
            "precision_recall": "precision_recall.csv",
            "calibration": "calibration.csv",
            "confusion": "confusion.csv",
            "importance": "importance.csv",
        },
        figures=("calibration.png", "confusion.png", "importance.png", "precision_recall.png", "roc.png"),
        gated=("roc_auc", "average_precision", "f1", "recall", "log_loss"),
        primary="roc_auc",
        stratify=True,
    ),
    "multiclass": TaskSpec(
        name="multiclass",
        headline=("accuracy", "f1_macro", "log_loss"),
        importance_scoring="accuracy",
        importance_label="accuracy",
        plot_files={"confusion": "confusion.csv", "per_class": "per_class.csv", "importance": "importance.csv"},
        figures=("confusion.png", "importance.png", "per_class.png"),
        gated=("accuracy", "f1_macro", "log_loss"),
        primary="f1_macro",
        stratify=True,
    ),
    "regression": TaskSpec(
        name="regression",
        headline=("r2", "rmse", "mae"),
        importance_scoring="r2",
        importance_label="R²",
        plot_files={"predictions": "predictions.csv", "importance": "importance.csv"},
        figures=("importance.png", "predicted_vs_actual.png", "residuals.png"),
        gated=("r2", "rmse", "mae"),
        primary="r2",
        stratify=False,
    ),
}


def spec(task: str) -> TaskSpec:
    """The table entry for `task`; ValueError naming the tasks there are."""
    try:
        return TASK_SPECS[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; one of: {', '.join(TASKS)}") from None


def dvc_plots(task: str, directory: str = "plots") -> list[dict[str, Any]]:
    """dvc.yaml's top-level `plots:` section for `task` (`init` writes it; a test compares it)."""
    importance = {
        "Permutation importance": {
            "template": "bar_horizontal_sorted",
            "x": "importance",
            "y": {f"{directory}/importance.csv": "feature"},
        }
    }
    confusion = {
        "Confusion matrix": {
            "template": "confusion_counts",
            "x": "predicted",
            "y": {f"{directory}/confusion.csv": "actual"},
        }
    }
    if task == "binary":
        return [
            {
                "ROC": {
                    "template": "simple",
                    "x": "fpr",
                    "y": {f"{directory}/roc.csv": "tpr"},
                    "x_label": "false positive rate",
                    "y_label": "true positive rate",
                }
            },
            {
                "Precision-recall": {
                    "template": "simple",
                    "x": "recall",
                    "y": {f"{directory}/precision_recall.csv": "precision"},
                }
            },
            {
                "Calibration": {
                    "template": "linear",
                    "x": "mean_predicted",
                    "y": {f"{directory}/calibration.csv": "fraction_positive"},
                    "x_label": "mean predicted probability",
                    "y_label": "fraction positive",
                }
            },
            confusion,
            importance,
        ]
    if task == "multiclass":
        per_class = {
            "F1 per class": {"template": "bar_horizontal", "x": "f1", "y": {f"{directory}/per_class.csv": "class"}}
        }
        return [confusion, per_class, importance]
    scatter = {
        "Predicted vs actual": {
            "template": "scatter",
            "x": "actual",
            "y": {f"{directory}/predictions.csv": "predicted"},
            "x_label": "actual",
            "y_label": "predicted",
        }
    }
    return [scatter, importance]
