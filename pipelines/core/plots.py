"""The plots: ONE table, the only place a plot is defined.

Each entry (`PlotSpec`) names a plot, the tasks that draw it, its columns, title and axis labels, how DVC
draws it (`template`), how the pull-request report draws it in markdown (`chart`), the PNG figures it gives,
and the function that computes its data from the holdout. Every consumer loops over this table:

- `evaluate` computes `frame` for every plot of the task (pipelines.core.evaluate);
- `plots/<key>.csv` is written for each (pipelines.adapters.plots.write_data);
- dvc.yaml's `plots:` section is `dvc_plots(task)` (`init` writes it; a test compares);
- the PNG figures: a plot without a drawing of its own in pipelines/adapters/plots.py gets a generic one
  (a line for "curve", bars for "bars", points otherwise), named `<key>.png`;
- the report's Mermaid charts: "curve" (0-1 axes, the base in grey) and "bars" are drawn from the entry; the
  other kinds ("predictions", "importance", "confusion") have their own drawing in pipelines/core/charts.py.

Adding a plot: one `PlotSpec` in PLOTS below (its data function beside it). Permutation importance is the one
plot whose data needs the model itself (`frame` None): `evaluate` computes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipelines.core.metrics import predicted_labels
from pipelines.core.params import EvaluateParams


@dataclass(frozen=True)
class Holdout:
    """What a plot's data is computed from: the `task`, the n true values `y`, the model's `output` (n
    predictions, or n x k probabilities in `classes` order), and evaluate's params (threshold, curve points,
    calibration bins)."""

    task: str
    y: np.ndarray
    output: np.ndarray
    classes: np.ndarray | None
    params: EvaluateParams


@dataclass(frozen=True)
class PlotSpec:
    """One plot. `key`: Evaluation.plots key, and the CSV `plots/<key>.csv`; `x`, `y`: its columns; `title`,
    `x_label`, `y_label` as DVC, the figure and the chart show them (no label: DVC shows the column); `template`:
    DVC's; `chart`: how the report draws it ("curve", "bars", "predictions", "importance", "confusion", or None
    for no chart); `figures`: its PNGs, in file-name order (empty: `<key>.png`); `frame`: its data."""

    key: str
    tasks: frozenset[str]
    title: str
    x: str
    y: str
    template: str
    chart: str | None
    frame: Callable[[Holdout], pd.DataFrame] | None
    x_label: str | None = None
    y_label: str | None = None
    figures: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        """The CSV under plots/."""
        return f"{self.key}.csv"

    @property
    def pngs(self) -> tuple[str, ...]:
        """The PNGs under reports/figures it gives."""
        return self.figures or (f"{self.key}.png",)


def thin(frame: pd.DataFrame, points: int) -> pd.DataFrame:
    """Keep at most `points` evenly spaced rows (first and last included) so plot files stay small."""
    if len(frame) <= points:
        return frame.reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(frame) - 1, points).round().astype(int))
    return frame.iloc[keep].reset_index(drop=True)


def _positive(h: Holdout) -> tuple[np.ndarray, np.ndarray]:
    assert h.classes is not None
    return (h.y == h.classes[1]).astype(int), h.output[:, 1]


def roc(h: Holdout) -> pd.DataFrame:
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(*_positive(h))
    return thin(pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": np.minimum(thresholds, 1.0)}), h.params.curve_points)


def precision_recall(h: Holdout) -> pd.DataFrame:
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(*_positive(h))
    # the last (precision=1, recall=0) point has no threshold
    frame = pd.DataFrame({"recall": recall, "precision": precision, "threshold": np.append(thresholds, 1.0)})
    return thin(frame, h.params.curve_points)


def calibration(h: Holdout) -> pd.DataFrame:
    from sklearn.calibration import calibration_curve

    fraction, mean_predicted = calibration_curve(*_positive(h), n_bins=h.params.calibration_bins)
    return pd.DataFrame({"mean_predicted": mean_predicted, "fraction_positive": fraction})


def confusion(h: Holdout) -> pd.DataFrame:
    from sklearn.metrics import confusion_matrix

    labels = np.asarray(h.classes)
    predicted = predicted_labels(h.output, labels, h.task, h.params.threshold)
    matrix = confusion_matrix(h.y, predicted, labels=labels)
    return pd.DataFrame(
        [
            {"actual": str(a), "predicted": str(p), "count": int(matrix[i, j])}
            for i, a in enumerate(labels)
            for j, p in enumerate(labels)
        ]
    )


def per_class(h: Holdout) -> pd.DataFrame:
    from sklearn.metrics import precision_recall_fscore_support

    labels = np.asarray(h.classes)
    predicted = predicted_labels(h.output, labels, "multiclass", h.params.threshold)
    precision, recall, f1, support = precision_recall_fscore_support(h.y, predicted, labels=labels, zero_division=0)
    return pd.DataFrame(
        {"class": [str(c) for c in labels], "precision": precision, "recall": recall, "f1": f1, "support": support}
    )


def predictions(h: Holdout) -> pd.DataFrame:
    frame = pd.DataFrame({"actual": h.y.astype(float), "predicted": h.output.astype(float)})
    frame["residual"] = frame["actual"] - frame["predicted"]
    return thin(frame.sort_values(["actual", "predicted"]), h.params.curve_points)


_B, _M, _R = frozenset({"binary"}), frozenset({"multiclass"}), frozenset({"regression"})
PLOTS: tuple[PlotSpec, ...] = (
    PlotSpec(
        key="roc",
        tasks=_B,
        title="ROC",
        x="fpr",
        y="tpr",
        template="simple",
        chart="curve",
        frame=roc,
        x_label="false positive rate",
        y_label="true positive rate",
    ),
    PlotSpec(
        key="precision_recall",
        tasks=_B,
        title="Precision-recall",
        x="recall",
        y="precision",
        template="simple",
        chart="curve",
        frame=precision_recall,
    ),
    PlotSpec(
        key="calibration",
        tasks=_B,
        title="Calibration",
        x="mean_predicted",
        y="fraction_positive",
        template="linear",
        chart=None,
        frame=calibration,
        x_label="mean predicted probability",
        y_label="fraction positive",
    ),
    PlotSpec(
        key="predictions",
        tasks=_R,
        title="Predicted vs actual",
        x="actual",
        y="predicted",
        template="scatter",
        chart="predictions",
        frame=predictions,
        x_label="actual",
        y_label="predicted",
        figures=("predicted_vs_actual.png", "residuals.png"),
    ),
    PlotSpec(
        key="confusion",
        tasks=_B | _M,
        title="Confusion matrix",
        x="predicted",
        y="actual",
        template="confusion_counts",
        chart="confusion",
        frame=confusion,
    ),
    PlotSpec(
        key="per_class",
        tasks=_M,
        title="F1 per class",
        x="f1",
        y="class",
        template="bar_horizontal",
        chart="bars",
        frame=per_class,
    ),
    PlotSpec(
        key="importance",
        tasks=_B | _M | _R,
        title="Permutation importance",
        x="importance",
        y="feature",
        template="bar_horizontal_sorted",
        chart="importance",
        frame=None,
    ),
)
"""In dvc.yaml's order (the order `dvc plots show` lists them)."""


def for_task(task: str) -> tuple[PlotSpec, ...]:
    """The plots `task` draws, in table order."""
    return tuple(p for p in PLOTS if task in p.tasks)


def frames(task: str, holdout: Holdout) -> dict[str, pd.DataFrame]:
    """The data of every plot of `task` that the holdout alone gives (all but permutation importance)."""
    return {p.key: p.frame(holdout) for p in for_task(task) if p.frame is not None}


def dvc_plots(task: str, directory: str = "plots") -> list[dict[str, Any]]:
    """dvc.yaml's top-level `plots:` section for `task` (`init` writes it; a test compares it)."""
    found = []
    for p in for_task(task):
        entry: dict[str, Any] = {"template": p.template, "x": p.x, "y": {f"{directory}/{p.file}": p.y}}
        if p.x_label is not None:
            entry["x_label"] = p.x_label
        if p.y_label is not None:
            entry["y_label"] = p.y_label
        found.append({p.title: entry})
    return found
