"""Plot outputs of `evaluate`: data files for `dvc plots` and PNG figures for reports.

The file names below are the contract with the top-level `plots:` section of dvc.yaml
(tests/integration checks that every file it names is produced).
"""

from __future__ import annotations

import os
from pathlib import Path

from pipelines import files
from pipelines.evaluate import Evaluation

DATA_FILES = {
    "roc": "roc.csv",
    "precision_recall": "precision_recall.csv",
    "calibration": "calibration.csv",
    "confusion": "confusion.csv",
    "importance": "importance.csv",
}


def write_data(evaluation: Evaluation, directory: str | os.PathLike[str]) -> None:
    """Write one CSV per plot into `directory` (replaced as a whole)."""
    with files.atomic_dir(directory) as tmp:
        for attr, name in DATA_FILES.items():
            getattr(evaluation, attr).to_csv(tmp / name, index=False, float_format="%.6g", lineterminator="\n")


def write_figures(evaluation: Evaluation, directory: str | os.PathLike[str]) -> list[str]:
    """Render PNG figures into `directory` (replaced as a whole); return their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig: plt.Figure, tmp: Path, name: str) -> None:
        fig.tight_layout()
        # no timestamp in the metadata, so identical plots give identical bytes
        fig.savefig(tmp / name, dpi=100, metadata={"Software": None})
        plt.close(fig)

    ev = evaluation
    with files.atomic_dir(directory) as tmp:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(ev.roc["fpr"], ev.roc["tpr"], label=f"ROC AUC {ev.metrics['roc_auc']:.3f}")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve")
        ax.legend(loc="lower right")
        save(fig, tmp, "roc.png")

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(
            ev.precision_recall["recall"],
            ev.precision_recall["precision"],
            label=f"AP {ev.metrics['average_precision']:.3f}",
        )
        ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curve", ylim=(0, 1.02))
        ax.legend(loc="lower left")
        save(fig, tmp, "precision_recall.png")

        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot(ev.calibration["mean_predicted"], ev.calibration["fraction_positive"], marker="o")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set(xlabel="mean predicted probability", ylabel="fraction positive", title="Calibration")
        save(fig, tmp, "calibration.png")

        counts = ev.confusion.pivot(index="actual", columns="predicted", values="count")
        fig, ax = plt.subplots(figsize=(4, 3.6))
        ax.imshow(counts.to_numpy(), cmap="Blues")
        for (i, j), value in __import__("numpy").ndenumerate(counts.to_numpy()):
            ax.text(
                j,
                i,
                str(value),
                ha="center",
                va="center",
                color="white" if value > counts.to_numpy().max() / 2 else "black",
            )
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

        top = ev.importance.head(15).iloc[::-1]
        fig, ax = plt.subplots(figsize=(6, 5))
        ax.barh(top["feature"], top["importance"], xerr=top["std"], color="tab:blue")
        ax.set(xlabel="drop in ROC AUC when shuffled", title="Permutation importance (top 15)")
        save(fig, tmp, "importance.png")
        names = sorted(p.name for p in tmp.iterdir())
    return names
