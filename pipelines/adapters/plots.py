"""Plot outputs of `evaluate`: data files for `dvc plots` and PNG figures for reports.

The plots are pipelines.core.plots' table, whose entries also give dvc.yaml's top-level `plots:` section
(tests/integration checks that every file it names is produced).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pipelines.adapters import files
from pipelines.core.evaluate import Evaluation
from pipelines.core.plots import PlotSpec, for_task
from pipelines.core.tasks import task_spec


def write_data(evaluation: Evaluation, directory: str | os.PathLike[str]) -> None:
    """Write one CSV per plot into `directory` (replaced as a whole)."""
    with files.atomic_dir(directory) as tmp:
        for key, name in task_spec(evaluation.task).plot_files.items():
            evaluation.plots[key].to_csv(tmp / name, index=False, float_format="%.6g", lineterminator="\n")


def write_figures(
    evaluation: Evaluation,
    directory: str | os.PathLike[str],
    slices: Mapping[str, Any] | None = None,
    inclusion: Mapping[str, Any] | None = None,
) -> list[str]:
    """Render the PNG figures of every plot of the task (pipelines.core.plots) into `directory` (replaced as a
    whole): the plot's own drawing below, else a generic one from its entry; with `slices` (reports/slices.json,
    pipelines.core.slices) holding any slice, slices.png too, and with `inclusion` (reports/inclusion.json) holding
    any group, inclusion.png; return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: Any, tmp: Path, name: str) -> None:
        fig.tight_layout()
        # no timestamp in the metadata, so identical plots give identical bytes
        fig.savefig(tmp / name, dpi=100, metadata={"Software": None})
        plt.close(fig)

    with files.atomic_dir(directory) as tmp:
        for plot in for_task(evaluation.task):
            DRAWINGS.get(plot.key, _generic)(evaluation, plot, tmp, plt, save)
        if slices and slices.get("slices"):
            _slices(evaluation, slices, tmp, plt, save)
        columns = [c for c in (inclusion or {}).get("columns", []) if c["groups"]]
        if columns:
            _inclusion(columns, tmp, plt, save)
        names = sorted(p.name for p in tmp.iterdir())
    return names


def _generic(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    """A plot without a drawing of its own: a line ("curve"), horizontal bars ("bars"), else points."""
    frame = ev.plots[plot.key]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    if plot.chart == "curve":
        ax.plot(frame[plot.x], frame[plot.y])
    elif plot.chart == "bars":
        ax.barh([str(v) for v in frame[plot.y]], frame[plot.x], color="tab:blue")
    else:
        ax.scatter(frame[plot.x], frame[plot.y], s=10, alpha=0.6)
    ax.set(xlabel=plot.x_label or plot.x, ylabel=plot.y_label or plot.y, title=plot.title)
    save(fig, tmp, plot.pngs[0])


def _slices(ev: Evaluation, doc: Mapping[str, Any], tmp: Path, plt: Any, save: Any) -> None:
    """slices.png: the primary metric per slice with its interval, the whole holdout's as a line; a slice not
    judged is a grey cross at its value when it has one, with its row count in the label."""
    metric = task_spec(ev.task).primary
    entries = doc["slices"]
    fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(entries) + 1.6))
    for i, entry in enumerate(entries):
        value = (entry.get("metrics") or {}).get(metric)
        if entry.get("judged") and value is not None:
            bounds = entry["intervals"][metric]
            ax.plot([bounds["low"], bounds["high"]], [i, i], color="#4c72b0", linewidth=2)
            ax.plot([value], [i], "o", color="#4c72b0")
        elif value is not None:
            ax.plot([value], [i], "x", color="grey")
    ax.axvline(ev.metrics[metric], color="grey", linewidth=1, linestyle="--")
    labels = [f"{e['slice']} (n={e['rows']}{'' if e.get('judged') else ', not judged'})" for e in entries]
    ax.set_yticks(range(len(entries)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(metric)
    level = float(doc["level"])
    ax.set_title(f"{metric} per slice, {level:.0%} bootstrap interval (dashed: whole holdout)", fontsize=9)
    save(fig, tmp, "slices.png")


def _inclusion(columns: list[Mapping[str, Any]], tmp: Path, plt: Any, save: Any) -> None:
    """inclusion.png: per sensitive column, the rates its gaps compare (pipelines.core.inclusion), one bar per
    group and rate; a group not judged is drawn hatched, with "(not judged)" in its label."""
    import textwrap

    fig, axes = plt.subplots(1, len(columns), figsize=(6.0 * len(columns), 3.6), squeeze=False)
    for ax, entry in zip(axes[0], columns, strict=True):
        groups = entry["groups"]
        rates = list(groups[0]["rates"])
        height = 0.8 / max(1, len(rates))
        for k, rate in enumerate(rates):
            values = [g["rates"].get(rate, 0.0) for g in groups]
            bars = ax.barh([i + k * height for i in range(len(groups))], values, height=height, label=rate)
            for bar, g in zip(bars, groups, strict=True):
                bar.set_hatch("" if g["judged"] else "//")
        labels = [f"{g['group']} (n={g['rows']}{'' if g['judged'] else ', not judged'})" for g in groups]
        ax.set_yticks([i + height * (len(rates) - 1) / 2 for i in range(len(groups))], labels)
        ax.invert_yaxis()
        gaps = ", ".join(f"{k.replace('_difference', '')} gap {v['value']:.3f}" for k, v in entry["gaps"].items())
        ax.set_title(textwrap.fill(f"{entry['column']}: {gaps or entry.get('reason') or ''}", 60), fontsize=9)
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    save(fig, tmp, "inclusion.png")


def _roc(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    roc = ev.plots["roc"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(roc["fpr"], roc["tpr"], label=f"ROC AUC {ev.metrics['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel=plot.x_label, ylabel=plot.y_label, title=f"{plot.title} curve")
    ax.legend(loc="lower right")
    save(fig, tmp, "roc.png")


def _precision_recall(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    pr = ev.plots["precision_recall"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(pr["recall"], pr["precision"], label=f"AP {ev.metrics['average_precision']:.3f}")
    ax.set(xlabel=plot.x, ylabel=plot.y, title=f"{plot.title} curve", ylim=(0, 1.02))
    ax.legend(loc="lower left")
    save(fig, tmp, "precision_recall.png")


def _calibration(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    calibration = ev.plots["calibration"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(calibration["mean_predicted"], calibration["fraction_positive"], marker="o")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel=plot.x_label, ylabel=plot.y_label, title=plot.title)
    save(fig, tmp, "calibration.png")


def _confusion(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    import numpy as np

    counts = ev.plots["confusion"].pivot(index="actual", columns="predicted", values="count")
    size = max(3.6, 0.5 * len(counts) + 2)
    fig, ax = plt.subplots(figsize=(size + 0.4, size))
    ax.imshow(counts.to_numpy(), cmap="Blues")
    for (i, j), value in np.ndenumerate(counts.to_numpy()):
        color = "white" if value > counts.to_numpy().max() / 2 else "black"
        ax.text(j, i, str(value), ha="center", va="center", color=color)
    ax.set(
        xticks=range(len(counts.columns)),
        xticklabels=counts.columns,
        yticks=range(len(counts.index)),
        yticklabels=counts.index,
        xlabel="predicted",
        ylabel="actual",
        title="Confusion matrix",
    )
    save(fig, tmp, "confusion.png")


def _per_class(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    per_class = ev.plots["per_class"].iloc[::-1]
    fig, ax = plt.subplots(figsize=(5, 0.4 * len(per_class) + 1.5))
    ax.barh(per_class["class"], per_class["f1"], color="tab:blue")
    ax.set(xlabel="F1 on the holdout set", xlim=(0, 1), title="F1 per class")
    save(fig, tmp, "per_class.png")


def _predictions(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    frame = ev.plots["predictions"]
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.scatter(frame["actual"], frame["predicted"], s=10, alpha=0.6)
    low, high = float(frame[["actual", "predicted"]].min().min()), float(frame[["actual", "predicted"]].max().max())
    ax.plot([low, high], [low, high], linestyle=":", color="grey")
    ax.set(xlabel="actual", ylabel="predicted", title=f"Predicted vs actual (R² {ev.metrics['r2']:.3f})")
    save(fig, tmp, "predicted_vs_actual.png")

    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.hist(frame["residual"], bins=30, color="tab:blue")
    ax.axvline(0, linestyle=":", color="grey")
    ax.set(xlabel="actual - predicted", ylabel="rows", title=f"Residuals (RMSE {ev.metrics['rmse']:.3g})")
    save(fig, tmp, "residuals.png")


def _importance(ev: Evaluation, plot: PlotSpec, tmp: Path, plt: Any, save: Any) -> None:
    top = ev.importance.head(15).iloc[::-1]
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.barh(top["feature"], top["importance"], xerr=top["std"], color="tab:blue")
    ax.set(
        xlabel=f"drop in {task_spec(ev.task).importance_label} when shuffled", title="Permutation importance (top 15)"
    )
    save(fig, tmp, "importance.png")


DRAWINGS: dict[str, Callable[[Evaluation, PlotSpec, Path, Any, Any], None]] = {
    "roc": _roc,
    "precision_recall": _precision_recall,
    "calibration": _calibration,
    "confusion": _confusion,
    "per_class": _per_class,
    "predictions": _predictions,
    "importance": _importance,
}
"""The plots drawn with more than their entry says (reference lines, metric values in legends); any other plot
gets `_generic`."""


def forest(
    paired: Mapping[str, Mapping[str, float]], tolerances: Mapping[str, float], level: float, path: Path
) -> None:
    """A forest plot of the paired differences (this - base) with their intervals, and each metric's allowed
    regression as a dashed mark (its side depends on the metric's direction). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipelines.core.metrics import LOWER_IS_BETTER

    names = list(paired)
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(names) + 1.2), dpi=100)
    for i, name in enumerate(names):
        entry = paired[name]
        ax.plot([entry["low"], entry["high"]], [i, i], color="#4c72b0", linewidth=2)
        ax.plot([entry["difference"]], [i], "o", color="#4c72b0")
        if name in tolerances:
            bound = tolerances[name] if name in LOWER_IS_BETTER else -tolerances[name]
            ax.plot([bound], [i], "|", color="#c44e52", markersize=14)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlabel(f"this branch - base, paired {level:.0%} interval (red: allowed regression)")
    fig.tight_layout()
    with files.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    plt.close(fig)
