"""The pull-request report: one markdown document comparing this branch with its base.

Charts are Mermaid `xychart-beta` blocks, which GitHub renders inside a comment without uploading
anything; the full-resolution PNGs travel as a workflow artifact linked from the report. With
`images="publish"` the report links the local PNGs instead, for `cml comment --publish` to upload
to an image host you choose (opt-in: CML's default host is public).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from pipelines.config import IMPORTANCE_LABEL, LOWER_IS_BETTER, METRICS, TASK_METRICS
from pipelines.gate import Verdict, markdown_table
from pipelines.reproduce import Reproduction

PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#9e9e9e, #1f77b4"}}}}%%'
GRID = np.linspace(0.0, 1.0, 21)


@dataclass(frozen=True)
class DataChange:
    """What changed in the data between the base and this branch."""

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    diff_error: str | None = None
    rows_before: int | None = None
    rows_after: int | None = None
    valid: bool | None = None
    profile_before: Mapping[str, Mapping[str, Any]] | None = None
    profile_after: Mapping[str, Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class ReportInputs:
    metrics: Mapping[str, float]
    base_metrics: Mapping[str, float] | None
    params: Mapping[str, Any]  # flat: {"train.seed": 42}
    base_params: Mapping[str, Any] | None
    verdict: Verdict
    plots: Mapping[str, pd.DataFrame]  # plots.DATA_FILES keys
    base_plots: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    data: DataChange | None = None
    head: str = "HEAD"
    base: str | None = None
    figures_url: str | None = None
    figures: list[str] = field(default_factory=list)  # local PNG paths, linked when images="publish"
    images: str = "mermaid"
    task: str = "binary"  # schema.TASK of the project
    reproduction: Reproduction | None = None  # the committed outputs against a re-run (pull requests)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}"
    return f"`{value}`"


def _metrics_table(metrics: Mapping[str, float], base: Mapping[str, float] | None, task: str) -> str:
    order = [*TASK_METRICS[task], *(m for m in METRICS if m not in TASK_METRICS[task])]
    if base is None:
        lines = ["| metric | this branch |", "|---|---|"]
        lines += [f"| `{m}` | {metrics[m]:.4f} |" for m in order if m in metrics]
        return "\n".join(lines)
    lines = ["| metric | base | this branch | change |", "|---|---|---|---|"]
    for m in order:
        if m not in metrics:
            continue
        now, before = metrics[m], base.get(m)
        if before is None:
            lines.append(f"| `{m}` | n/a | {now:.4f} | new |")
            continue
        delta = now - before
        better = delta < 0 if m in LOWER_IS_BETTER else delta > 0
        mark = "⚪" if abs(delta) < 5e-5 else ("🟢" if better else "🔴")
        lines.append(f"| `{m}` | {before:.4f} | {now:.4f} | {mark} {delta:+.4f} |")
    return "\n".join(lines)


def _params_diff(params: Mapping[str, Any], base: Mapping[str, Any] | None) -> str:
    if base is None:
        return "_No params.yaml on the base branch to compare with._"
    keys = sorted(k for k in set(params) | set(base) if params.get(k) != base.get(k))
    if not keys:
        return "_No parameter changes._"
    lines = ["| param | base | this branch |", "|---|---|---|"]
    lines += [f"| `{k}` | {_fmt(base.get(k))} | {_fmt(params.get(k))} |" for k in keys]
    return "\n".join(lines)


def _curve(frame: pd.DataFrame, x: str, y: str) -> list[float]:
    """`y` interpolated at evenly spaced `x` (Mermaid spreads line points evenly along the axis)."""
    ordered = frame.sort_values([x, y])
    return [round(float(v), 4) for v in np.interp(GRID, ordered[x].to_numpy(), ordered[y].to_numpy())]


def _line_chart(title: str, x_label: str, y_label: str, series: list[list[float]]) -> str:
    lines = [
        "```mermaid",
        PALETTE,
        "xychart-beta",
        f'    title "{title}"',
        f'    x-axis "{x_label}" 0 --> 1',
        f'    y-axis "{y_label}" 0 --> 1',
    ]
    lines += [f"    line [{', '.join(str(v) for v in s)}]" for s in series]
    return "\n".join([*lines, "```"])


def _bar_chart(title: str, names: list[str], values: list[float], y_label: str = "") -> str:
    quoted = ", ".join('"' + n.replace('"', "'") + '"' for n in names)
    axis = f'\n    y-axis "{y_label}"' if y_label else ""
    return (
        f'```mermaid\nxychart-beta\n    title "{title}"\n    x-axis [{quoted}]{axis}\n'
        f"    bar [{', '.join(f'{v:.4f}' for v in values)}]\n```"
    )


def _predictions_chart(frame: pd.DataFrame, points: int = 40) -> str:
    """Regression: actual values sorted, and the predictions for the same rows (Mermaid has no scatter)."""
    ordered = frame.sort_values(["actual", "predicted"]).reset_index(drop=True)
    keep = np.unique(np.linspace(0, len(ordered) - 1, min(points, len(ordered))).round().astype(int))
    ordered = ordered.iloc[keep]
    low = float(ordered[["actual", "predicted"]].min().min())
    high = float(ordered[["actual", "predicted"]].max().max())
    lines = [
        "```mermaid",
        PALETTE,
        "xychart-beta",
        '    title "Holdout rows sorted by actual value"',
        '    x-axis "rows, by actual value" 1 --> ' + str(len(ordered)),
        f'    y-axis "target" {low:.4g} --> {high:.4g}',
        "    line [" + ", ".join(f"{v:.4g}" for v in ordered["actual"]) + "]",
        "    line [" + ", ".join(f"{v:.4g}" for v in ordered["predicted"]) + "]",
        "```",
    ]
    return "\n".join(lines) + "\n<sub>grey: actual, blue: predicted</sub>"


def _charts(
    plots: Mapping[str, pd.DataFrame], base_plots: Mapping[str, pd.DataFrame], importance_label: str = "ROC AUC"
) -> str:
    parts = []
    legend = "grey: base, blue: this branch" if base_plots else "this branch"
    for key, x, y, title, xl, yl in (
        ("roc", "fpr", "tpr", "ROC curve", "false positive rate", "true positive rate"),
        ("precision_recall", "recall", "precision", "Precision-recall curve", "recall", "precision"),
    ):
        if key not in plots:
            continue
        series = [_curve(base_plots[key], x, y)] if key in base_plots else []
        series.append(_curve(plots[key], x, y))
        parts.append(f"{_line_chart(title, xl, yl, series)}\n<sub>{legend}</sub>")
    if "predictions" in plots:
        parts.append(_predictions_chart(plots["predictions"]))
    if "per_class" in plots:
        frame = plots["per_class"]
        parts.append(_bar_chart("F1 per class (holdout set)", [str(c) for c in frame["class"]], list(frame["f1"])))
    if "importance" in plots:
        top = plots["importance"].head(8)
        parts.append(
            _bar_chart(
                f"Permutation importance (drop in {importance_label}), top 8",
                [str(n) for n in top["feature"]],
                list(top["importance"]),
            )
        )
    if "confusion" in plots:
        c = plots["confusion"].astype({"actual": str, "predicted": str})
        labels = sorted(set(c["actual"]) | set(c["predicted"]))
        counts = {(a, p): n for a, p, n in c[["actual", "predicted", "count"]].itertuples(index=False)}
        lines = ["| actual \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        lines += [f"| **{a}** | " + " | ".join(str(counts.get((a, p), 0)) for p in labels) + " |" for a in labels]
        parts.append("Confusion matrix (holdout set):\n\n" + "\n".join(lines))
    return "\n\n".join(parts)


def _data_section(change: DataChange) -> str:
    out = ["### Data", ""]
    if change.diff_error:
        out.append(f"`dvc diff`: unavailable ({change.diff_error})")
    else:
        for label, names in (("added", change.added), ("modified", change.modified), ("deleted", change.deleted)):
            if names:
                out.append(f"- {label}: " + ", ".join(f"`{n}`" for n in names[:20]))
        if not (change.added or change.modified or change.deleted):
            out.append("- `dvc diff`: no file-level changes")
    before, after = change.rows_before, change.rows_after
    if after is not None:
        delta = f" ({after - before:+d})" if before is not None else ""
        out.append(f"- rows: {before if before is not None else 'unknown'} -> {after}{delta}")
    if change.valid is not None:
        out.append(f"- schema: {'✅ valid' if change.valid else '❌ invalid'}")
    if change.profile_before and change.profile_after:
        rows = []
        for name, now in change.profile_after.items():
            was = change.profile_before.get(name)
            if not was or now.get("mean") is None or was.get("mean") is None:
                continue
            spread = was.get("std") or 1.0
            shift = (float(now["mean"]) - float(was["mean"])) / float(spread)
            rows.append((abs(shift), name, was, now, shift))
        rows.sort(key=lambda r: (-r[0], r[1]))
        if rows:
            out += [
                "",
                "Largest distribution shifts (mean change in base standard deviations):",
                "",
                "| column | mean (base -> now) | shift | std (base -> now) | missing (base -> now) |",
                "|---|---|---|---|---|",
            ]
            for _, name, was, now, shift in rows[:10]:
                out.append(
                    f"| `{name}` | {was['mean']:.4g} -> {now['mean']:.4g} | {shift:+.2f} | "
                    f"{was['std']:.4g} -> {now['std']:.4g} | {was['missing_rate']:.3f} -> {now['missing_rate']:.3f} |"
                )
    return "\n".join(out)


def build(inputs: ReportInputs) -> str:
    """Render the whole report."""
    v, reproduced = inputs.verdict, inputs.reproduction
    passed = v.passed and (reproduced is None or reproduced.ok)
    title = "## ✅ Model gate passed" if passed else "## ❌ Model gate failed"
    against = f"`{inputs.base[:8]}`" if inputs.base else "no base"
    parts = [title, f"<sub>commit `{inputs.head[:8]}` compared with {against}</sub>"]
    failures = ([] if reproduced is None or reproduced.ok else [reproduced.headline()]) + [r.reason for r in v.failures]
    if failures:
        parts.append("\n".join(f"- {reason}" for reason in failures))
    if not v.has_baseline:
        parts.append(
            "> **No baseline:** the base branch has no committed metrics yet, so the gate checks the "
            "absolute floors only."
        )
    parts += ["### Metrics", _metrics_table(inputs.metrics, inputs.base_metrics, inputs.task)]
    parts += ["### Gate", markdown_table(v)]
    if reproduced is not None:
        parts += ["### Reproduction", reproduced.markdown().rstrip()]
    parts += ["### Params", _params_diff(inputs.params, inputs.base_params)]
    if inputs.data is not None:
        parts.append(_data_section(inputs.data))
    parts += ["### Plots", _charts(inputs.plots, inputs.base_plots, IMPORTANCE_LABEL[inputs.task])]
    if inputs.images == "publish":
        parts.append("\n".join(f"![{p.rsplit('/', 1)[-1]}]({p})" for p in inputs.figures))
    elif inputs.figures_url:
        parts.append(f"Full-resolution figures: [report artifact]({inputs.figures_url}).")
    return "\n\n".join(parts) + "\n"
