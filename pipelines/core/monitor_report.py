"""reports/monitor.md: every markdown `monitor` writes, in one module (its layout is one edit here), and the
live comparison the promotion pull request quotes. Takes results as data (pipelines.core.drift, .feedback) and
returns markdown; the tables go through pipelines.core.markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.core import charts
from pipelines.core import markdown as md
from pipelines.core.drift import DriftReport
from pipelines.core.feedback import UNMATCHED_CAUSES
from pipelines.core.metrics import LOWER_IS_BETTER, NAMES
from pipelines.core.tasks import task_spec


def build(
    window: str,
    rows: int,
    min_rows: int,
    drift: DriftReport | None,
    task: str,
    floors: Mapping[Any, float],
    labelled: tuple[Mapping[str, float], list[str]] | None = None,
    live: Sequence[Mapping[str, Any]] = (),
    comparison: Mapping[str, Any] | None = None,
    min_labelled_rows: int = 0,
    problem: str | None = None,
    not_monitored: Mapping[str, str] | None = None,
) -> str:
    """The whole report: why nothing was read (`problem`), drift (`drift`; None: fewer than `min_rows` rows in the
    window) and the inputs whose drift is not measured (`not_monitored`: input -> why, e.g. "personal"), the
    labelled file's metrics (`labelled`: metrics and broken floors), live performance per model (`live`) and
    champion vs challenger (`comparison`)."""
    text = not_enough_data(rows, window, min_rows) if drift is None else drift_report(drift, window)
    if not_monitored:
        named = ", ".join(f"{md.code(name)} ({why})" for name, why in not_monitored.items())
        text += (f"\nNot monitored: {named}. A personal input is scored but never logged, so its drift is not "
                 "measured (docs/OPERATIONS.md, Privacy).\n")  # fmt: skip
    if labelled is not None:
        text += labelled_metrics(labelled[0], floors, labelled[1], task)
    if live:
        text += live_performance(live, floors, task, min_labelled_rows)
        if comparison is not None:
            text += "\n" + champion_vs_challenger(comparison, task, min_labelled_rows)
    if problem:
        text = f"## No prediction logs\n\n{problem}\n\n" + text
    return text


def _test_cell(f: Any) -> str:
    """The feature's distribution test: KS distance for a continuous feature, chi-square w otherwise."""
    if f.ks_statistic is not None:
        return f"KS {f.ks_statistic:.3f} (p={f.ks_pvalue:.2g})"
    if f.chi2_effect is not None:
        return f"chi-square V={f.chi2_effect:.3f} (p={f.chi2_pvalue:.2g})"
    return "n/a"


def drift_report(report: DriftReport, window: str) -> str:
    """The drift report: verdict, a PSI bar chart (Mermaid), and a table of every feature."""
    head = (f"## ⚠️ Drift in {len(report.drifted)} feature(s)" if report.drifted else "## ✅ No drift") + (
        f"\n\n{report.rows} logged rows ({window})."
    )
    ordered = sorted(report.features, key=lambda f: -f.psi)
    chart = charts.bar_chart("PSI by feature (top 12)", [f.name for f in ordered[:12]], [f.psi for f in ordered[:12]])
    rows = [
        (
            md.code(f.name),
            f"{f.psi:.4f}",
            _test_cell(f),
            f"{f.missing_before:.3f} -> {f.missing_now:.3f}",
            ("⚠️ " + "; ".join(f.reasons)) if f.drifted else "no",
        )
        for f in ordered
    ]
    return (
        "\n\n".join([head, chart, md.table(["feature", "PSI", "test", "missing (ref -> now)", "drift"], rows)]) + "\n"
    )


def not_enough_data(rows: int, window: str, needed: int) -> str:
    """The monitor report when the window holds too few logged rows for a verdict."""
    return f"## Not enough data\n\n{rows} logged rows ({window}); at least {needed} are needed.\n"


def labelled_metrics(metrics: Mapping[str, float], floors: Mapping[Any, float], failures: list[str], task: str) -> str:
    """`monitor --labelled`: the metrics of a labelled file of live rows against the gate floors (metrics without a
    floor show n/a)."""
    rows = [
        (md.code(m), f"{metrics[m]:.4f}", f"{floors[m]:.4f}" if m in floors else "n/a")
        for m in [*task_spec(task).metrics, *(n for n in NAMES if n not in task_spec(task).metrics)]
        if m in metrics
    ]
    verdict = "".join(f"- ⚠️ {f}\n" for f in failures) or "All gate floors hold.\n"
    return f"\n### Live metrics on labelled traffic\n\n{md.table(['metric', 'live', 'floor'], rows)}\n\n{verdict}"


def champion_vs_challenger(found: Mapping[str, Any], task: str, min_rows: int) -> str:
    """Markdown: champion vs challenger on the same live labelled rows (metric, each value, the paired
    difference with its interval, the verdict), for reports/monitor.md and the promotion pull request."""

    rows = [
        (md.code(m), f"{found['champion_metrics'][m]:.4f}", f"{found['challenger_metrics'][m]:.4f}",
         f"{found['difference'][m]['difference']:+.4f} [{found['difference'][m]['low']:+.4f}, "
         f"{found['difference'][m]['high']:+.4f}]", found["verdict"][m])
        for m in task_spec(task).metrics
        if m in found["difference"] and m in found["champion_metrics"] and m in found["challenger_metrics"]
    ]  # fmt: skip
    head = (
        f"Champion `{found['champion'][:12]}` and challenger `{found['challenger'][:12]}` on the same "
        f"{found['rows']} labelled live rows (paired bootstrap; challenger - champion)."
    )
    if not found["judged"]:
        head += f" Fewer than {min_rows} rows: read it as a hint, not a verdict."
    table = md.table(["metric", "champion", "challenger", "difference [interval]", "challenger is"], rows)
    return "### Champion vs challenger on live outcomes\n\n" + head + "\n\n" + table + "\n"


def _causes(causes: Mapping[str, int]) -> str:
    """`: 50 past serve.log.max_rows_per_request in their request, 2 ...` (or `.` with no causes)."""
    named = [f"{n} {UNMATCHED_CAUSES.get(cause, cause)}" for cause, n in sorted(causes.items(), key=lambda c: -c[1])]
    return (": " + "; ".join(named) + ".") if named else "."


def live_performance(live: Sequence[Mapping[str, Any]], floors: Mapping[Any, float], task: str, min_rows: int) -> str:
    """The live-performance section of reports/monitor.md: per model, coverage, label delay, and each metric
    with its interval against its floor, plus a bar chart of the first model's metrics."""

    parts = ["## Live performance (predictions joined with their outcomes)"]
    for entry in live:
        delay = entry["label_delay_hours"]
        head = (
            f"Model `{str(entry['model_hash'])[:12]}` ({entry['role']}): {entry['labelled']} of "
            f"{entry['predictions']} predictions have an outcome (coverage {entry['coverage']:.1%})"
            + (f"; label delay median {delay['median']:.2f} h, p90 {delay['p90']:.2f} h" if delay else "")
            + f"; {entry['unmatched']} outcome(s) without a prediction in the window"
            + _causes(entry.get("unmatched_causes") or {})
        )
        if not entry["judged"]:
            head += f" Fewer than {min_rows} labelled rows: the floors are not judged yet."
        rows = [
            (md.code(m), md.with_interval(entry["metrics"][m], entry["intervals"].get(m)),
             f"{floors[m]:.4f}" if m in floors else "n/a")
            for m in task_spec(task).metrics if m in entry["metrics"]
        ]  # fmt: skip
        parts += [
            head,
            md.table(["metric", "live [interval]", "floor"], rows)
            if rows
            else (
                "_No metrics yet: every labelled row has the same class (ROC AUC and the others need two)._"
                if entry["labelled"]
                else "_No metrics yet._"
            ),
        ]
        parts += [f"- ⚠️ {reason}" for reason in entry["below_floors"]]
    first = next((e for e in live if e["metrics"]), None)
    if first is not None:
        bounded = [m for m in task_spec(task).metrics if m in first["metrics"] and m not in LOWER_IS_BETTER]
        if bounded:
            values = ", ".join(f"{first['metrics'][m]:.4f}" for m in bounded)
            labels = ", ".join(md.label(m) for m in bounded)
            parts.append(
                '```mermaid\nxychart-beta\n    title "Live metrics"\n'
                f"    x-axis [{labels}]\n    y-axis 0 --> 1\n    bar [{values}]\n```"
            )
    return "\n\n" + "\n\n".join(parts) + "\n"


def offline_live_table(found: Sequence[Mapping[str, Any]]) -> str:
    """Per environment whose running model has live metrics (pipelines.core.feedback.offline_vs_live): each
    metric's holdout value beside its live one, with their intervals, and whether they are apart."""
    if not found:
        return ""

    def shown(value: Any, low: Any, high: Any) -> str:
        return f"{value:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None and high is not None else "")

    rows = [(md.code(f["env"]), md.code(r["metric"]), shown(r["offline"], r["offline_low"], r["offline_high"]),
             shown(r["live"], r["live_low"], r["live_high"]), f"{r['difference']:+.4f}",
             "⚠️ apart" if r["apart"] else "overlap") for f in found for r in f["rows"]]  # fmt: skip
    header = ["environment", "metric", "offline (holdout) [interval]", "live [interval]", "live - offline", ""]
    note = ("<sub>apart: the two intervals do not overlap, so the holdout no longer predicts live quality (or live "
            "outcomes differ from the holdout's labels): an alert cause.</sub>")  # fmt: skip
    return "### Offline against live\n\n" + md.table(header, rows) + "\n\n" + note + "\n"
