"""Charts in markdown: Mermaid `xychart-beta` blocks, which GitHub renders inside a comment without
uploading anything (line charts for curves, bar charts for per-feature and per-class numbers)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from pipelines.core import markdown as md
from pipelines.core.plots import PLOTS

PALETTE = '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#9e9e9e, #1f77b4"}}}}%%'
GRID = np.linspace(0.0, 1.0, 21)


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


def bar_chart(title: str, names: list[str], values: list[float], y_label: str = "") -> str:
    """A Mermaid bar chart: one bar per name (names escaped as labels), values to 4 decimals."""
    quoted = ", ".join(md.label(n) for n in names)
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


CHART_ORDER = ("curve", "predictions", "bars", "importance", "confusion")  # the report's order, by kind


def holdout_charts(
    plots: Mapping[str, pd.DataFrame], base_plots: Mapping[str, pd.DataFrame], importance_label: str = "ROC AUC"
) -> str:
    """The holdout's charts for the report, for every plot of pipelines.core.plots that `plots` holds and that has
    a chart: curves (base in grey) and bars drawn from the plot's entry; predictions, permutation importance and
    the confusion matrix drawn here."""
    parts = []
    legend = "grey: base, blue: this branch" if base_plots else "this branch"
    shown = sorted((p for p in PLOTS if p.key in plots and p.chart in CHART_ORDER), key=lambda p: CHART_ORDER.index(
        str(p.chart)))  # fmt: skip
    for p in shown:
        frame = plots[p.key]
        if p.chart == "curve":
            series = [_curve(base_plots[p.key], p.x, p.y)] if p.key in base_plots else []
            series.append(_curve(frame, p.x, p.y))
            chart = _line_chart(f"{p.title} curve", p.x_label or p.x, p.y_label or p.y, series)
            parts.append(f"{chart}\n<sub>{legend}</sub>")
        elif p.chart == "bars":
            parts.append(bar_chart(f"{p.title} (holdout set)", [str(c) for c in frame[p.y]], list(frame[p.x])))
        elif p.chart == "predictions":
            parts.append(_predictions_chart(frame))
        elif p.chart == "importance":
            top = frame.head(8)
            title = f"Permutation importance (drop in {importance_label}), top 8"
            parts.append(bar_chart(title, [str(n) for n in top["feature"]], list(top["importance"])))
        else:
            parts.append(_confusion_table(frame))
    return "\n\n".join(parts)


def _confusion_table(frame: pd.DataFrame) -> str:
    c = frame.astype({"actual": str, "predicted": str})
    labels = sorted(set(c["actual"]) | set(c["predicted"]))
    counts = {(a, p): n for a, p, n in c[["actual", "predicted", "count"]].itertuples(index=False)}
    rows = [[f"**{md.cell(a)}**", *(counts.get((a, p), 0) for p in labels)] for a in labels]
    return "Confusion matrix (holdout set):\n\n" + md.table(["actual \\ predicted", *labels], rows)
