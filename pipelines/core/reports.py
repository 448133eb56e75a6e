"""Every markdown the template writes, from data: the pull-request report, the gate table and its
job summary, the promotion report, the drift report, the live-metrics table and the registry table.

All of it reads the task's entry in pipelines.core.tasks (which metrics, in which order) and builds
tables with pipelines.core.markdown, which escapes cell text, and charts with pipelines.core.charts
(Mermaid); the full-resolution PNGs travel as a workflow artifact linked from the report. With
`images="publish"` the report links the local PNGs instead, for `cml comment --publish` to upload
to an image host you choose (opt-in: CML's default host is public).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from pipelines.core import charts
from pipelines.core import markdown as md
from pipelines.core.data import DataChange
from pipelines.core.feature_report import features_table
from pipelines.core.gate import Verdict
from pipelines.core.metrics import LOWER_IS_BETTER, NAMES
from pipelines.core.reproduce import Reproduction
from pipelines.core.tasks import task_spec


@dataclass(frozen=True)
class ReportInputs:
    """Everything the pull-request report shows; base-side values are None when the base lacks them."""

    metrics: Mapping[str, float]
    base_metrics: Mapping[str, float] | None
    params: Mapping[str, Any]  # flat: {"train.seed": 42}
    base_params: Mapping[str, Any] | None
    verdict: Verdict
    plots: Mapping[str, pd.DataFrame]  # tasks.task_spec(task).plot_files keys
    base_plots: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    data: DataChange | None = None
    head: str = "HEAD"  # the commit judged, with a `-dirty` suffix when the working copy has uncommitted changes
    base: str | None = None  # the base's commit
    head_branch: str | None = None  # the branch the working copy is on (None: detached, as in CI)
    base_name: str | None = None  # the base as it was named (`main`), when that is not the commit itself
    figures_url: str | None = None
    figures: list[str] = field(default_factory=list)  # local PNG paths, linked when images="publish"
    images: str = "mermaid"
    task: str = "binary"  # the contract's task
    reproduction: Reproduction | None = None  # the committed outputs against a re-run (pull requests)
    intervals: Mapping[str, Any] | None = None  # reports/intervals.json of this branch
    base_intervals: Mapping[str, Any] | None = None  # ... and of the base (None: it has none)
    paired: Mapping[str, Mapping[str, float]] | None = None  # pipelines.core.intervals.paired against the base
    pairing: str = ""  # how the comparison was made (paired on which rows, or why unpaired)
    baseline: Mapping[str, Any] | None = None  # reports/baseline.json: the simpler model (pipelines.core.baseline)
    slices: Mapping[str, Any] | None = None  # reports/slices.json (pipelines.core.slices)
    slice_comparison: Mapping[str, Mapping[str, Any]] | None = None  # per slice: this - base, paired
    slice_floors: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # gate.slice_floors
    inclusion: Mapping[str, Any] | None = None  # reports/inclusion.json (pipelines.core.inclusion)
    max_group_gap: Mapping[str, Mapping[Any, float]] = field(default_factory=dict)  # gate.max_group_gap
    features: Mapping[str, Any] | None = None  # reports/features.json (pipelines.core.benefit)
    feature_cost: Mapping[str, Any] | None = None  # reports/feature_cost.json when measured (core.feature_cost)
    new_features: Sequence[str] = ()  # inputs the base's model did not have
    feature_budgets: Mapping[str, float | None] = field(default_factory=dict)  # gate.feature_budgets


def _fmt(value: Any) -> str:
    if value is None:
        return md.code("null")
    if isinstance(value, float):
        return f"{value:.4f}"
    return md.code(value)


def _order(task: str) -> list[str]:
    return [*task_spec(task).metrics, *(m for m in NAMES if m not in task_spec(task).metrics)]


def _metrics_table(
    metrics: Mapping[str, float],
    base: Mapping[str, float] | None,
    task: str,
    intervals: Mapping[str, Any] | None = None,
    base_intervals: Mapping[str, Any] | None = None,
    paired: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    names = [m for m in _order(task) if m in metrics]
    now_ci = (intervals or {}).get("metrics", {})
    base_ci = (base_intervals or {}).get("metrics", {})
    if base is None:
        return md.table(
            ["metric", "this branch"], [(md.code(m), md.with_interval(metrics[m], now_ci.get(m))) for m in names]
        )
    rows = []
    for m in names:
        now, before = metrics[m], base.get(m)
        if before is None:  # a metric the base did not report: no change and no paired difference to show
            rows.append([md.code(m), "n/a", md.with_interval(now, now_ci.get(m)), "new", *(["n/a"] if paired else [])])
            continue
        delta = now - before
        better = delta < 0 if m in LOWER_IS_BETTER else delta > 0
        mark = "⚪" if abs(delta) < 5e-5 else ("🟢" if better else "🔴")
        row = [
            md.code(m),
            md.with_interval(before, base_ci.get(m)),
            md.with_interval(now, now_ci.get(m)),
            f"{mark} {md.number(delta, sign=True)}",
        ]
        if paired is not None:
            entry = paired.get(m)  # each bar on its own metric's scale: units differ (an RMSE in billions, an R²)
            span = max(1e-3, abs(entry["low"]), abs(entry["high"])) * 1.1 if entry else 1.0
            row.append(md.difference(entry, span, m in LOWER_IS_BETTER))
        rows.append(row)
    header = ["metric", "base", "this branch", "change"] + (
        ["paired difference [interval]"] if paired is not None else []
    )
    return md.table(header, rows)


def _weighting(params: Mapping[str, Any]) -> str:
    """The estimator trained and, for one that weighs classes, its class weights (none: every row counts once)."""
    name = params.get("train.estimator")
    if f"train.{name}.class_weight" not in params:
        return f"Estimator {md.code(name)}.\n\n"
    weights = params[f"train.{name}.class_weight"]
    return f"Estimator {md.code(name)}; class weights: " + (
        f"{md.code(weights)} (each class counts as much as the others).\n\n"
        if weights
        else "none (every row counts once).\n\n"
    )


def _params_diff(params: Mapping[str, Any], base: Mapping[str, Any] | None) -> str:
    if base is None:
        return "_No params.yaml on the base branch to compare with._"
    keys = sorted(k for k in set(params) | set(base) if params.get(k) != base.get(k))
    if not keys:
        return "_No parameter changes._"
    return md.table(
        ["param", "base", "this branch"],
        [(md.code(k), _fmt(base[k]) if k in base else "n/a", _fmt(params[k]) if k in params else "n/a") for k in keys],
    )


def gate_table(verdict: Verdict) -> str:
    """The gate as a table: rule, metric (and the slice it judges), threshold, value, result ("not compared": a
    metric the base lacks, a slice too small to judge)."""
    rows = [
        (
            r.kind,
            md.code(r.metric) + (f" · {md.code(r.scope)}" if r.scope else ""),
            "-" if r.threshold is None else f"{r.comparison} {r.threshold:.4f}",
            ("-" if r.kind == "not compared" else "missing") if r.value is None else f"{r.value:.4f}",
            "⚪ not compared" if r.threshold is None else "✅ pass" if r.passed else "❌ fail",
        )
        for r in verdict.rules
    ]
    return md.table(["rule", "metric", "threshold", "value", "result"], rows)


def gate_summary(verdict: Verdict, reasons: list[str]) -> str:
    """The job summary of `gate`: the outcome, one line per failed rule, the table."""
    heading = "### ✅ Model gate passed" if not reasons else "### ❌ Model gate failed"
    lines = "".join(f"- {reason}\n" for reason in reasons)
    return f"{heading}\n\n{lines}\n{gate_table(verdict)}\n"


def _data_section(change: DataChange) -> str:
    out = ["### Data", ""]
    if change.diff_error:
        out.append(f"`dvc diff`: unavailable ({change.diff_error})")
    else:
        for label, names in (("added", change.added), ("modified", change.modified), ("deleted", change.deleted)):
            if names:
                out.append(f"- {label}: " + ", ".join(md.code(n) for n in names[:20]))
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
            table = md.table(
                ["column", "mean (base -> now)", "shift", "std (base -> now)", "missing (base -> now)"],
                [
                    (
                        md.code(name),
                        f"{was['mean']:.4g} -> {now['mean']:.4g}",
                        f"{shift:+.2f}",
                        f"{was['std']:.4g} -> {now['std']:.4g}",
                        f"{was['missing_rate']:.3f} -> {now['missing_rate']:.3f}",
                    )
                    for _, name, was, now, shift in rows[:10]
                ],
            )
            out += ["", "Largest distribution shifts (mean change in base standard deviations):", "", table]
    personal = [md.code(n) for n, now in (change.profile_after or {}).items() if now.get("privacy") == "personal"]
    if personal:  # their profile holds a missing rate only (docs/OPERATIONS.md, Privacy)
        out += ["", f"Personal columns, not profiled beyond their missing rate: {', '.join(personal)}."]
    return "\n".join(out)


def _compared(inputs: ReportInputs) -> str:
    """What was judged against what: `working copy of branch try, uncommitted, compared with main @ 446a02a3`."""
    commit, branch = inputs.head.removesuffix("-dirty")[:8], inputs.head_branch
    head = f"commit `{commit}`" + (f" (branch {branch})" if branch else "")
    if inputs.head.endswith("-dirty"):
        head = f"working copy{f' of branch {branch}' if branch else ''}, uncommitted (on `{commit}`)"
    sha = (inputs.base or "")[:8]
    base = f"{inputs.base_name} @ `{sha}`" if inputs.base_name else f"`{sha}`"
    return f"{head}, compared with {base}" if inputs.base else f"{head}, no base"


def build(inputs: ReportInputs) -> str:
    """Render the whole report."""
    v, reproduced = inputs.verdict, inputs.reproduction
    passed = v.passed and (reproduced is None or reproduced.ok)
    title = "## ✅ Model gate passed" if passed else "## ❌ Model gate failed"
    parts = [title, f"<sub>{_compared(inputs)}</sub>"]
    failures = ([] if reproduced is None or reproduced.ok else [reproduced.headline()]) + [r.reason for r in v.failures]
    if failures:
        parts.append("\n".join(f"- {reason}" for reason in failures))
    if not v.has_base:
        parts.append(
            "> **No base metrics:** the base branch has no committed metrics yet, so the gate checks the "
            "absolute floors only."
        )
    table = _metrics_table(
        inputs.metrics, inputs.base_metrics, inputs.task, inputs.intervals, inputs.base_intervals, inputs.paired
    )
    parts += ["### Metrics", table]
    if inputs.intervals:
        level, resamples = inputs.intervals.get("level", 0.95), inputs.intervals.get("resamples")
        note = f"<sub>[low, high]: {level:.0%} percentile-bootstrap intervals on the holdout ({resamples} resamples"
        if inputs.base_metrics is not None:
            note += f"; comparison with the base {inputs.pairing or 'unpaired'}"
            if inputs.paired is None:
                note += "; without a paired interval, read the two intervals side by side"
        parts.append(note + ").</sub>")
    if inputs.baseline is not None:
        parts += ["### Simpler model", simpler_model(inputs.metrics, inputs.baseline, inputs.task)]
    if inputs.slices is not None and inputs.slices.get("slices"):
        parts += ["### Slices", slice_table(inputs.slices, inputs.slice_comparison, inputs.slice_floors, inputs.task)]
    if inputs.inclusion is not None and inputs.inclusion.get("columns"):
        parts += ["### Inclusion", inclusion_table(inputs.inclusion, inputs.max_group_gap)]
    if inputs.features is not None and inputs.features.get("features"):
        table = features_table(inputs.features, inputs.feature_cost, inputs.new_features, inputs.feature_budgets)
        parts += ["### Features", table]
    parts += ["### Gate", gate_table(v)]
    if reproduced is not None:
        parts += ["### Reproduction", reproduction(reproduced).rstrip()]
    parts += ["### Params", _weighting(inputs.params) + _params_diff(inputs.params, inputs.base_params)]
    if inputs.data is not None:
        parts.append(_data_section(inputs.data))
    parts += [
        "### Plots",
        charts.holdout_charts(inputs.plots, inputs.base_plots, task_spec(inputs.task).importance_label),
    ]
    if inputs.images == "publish":
        parts.append("\n".join(f"![{p.rsplit('/', 1)[-1]}]({p})" for p in inputs.figures))
    elif inputs.figures_url:
        parts.append(f"Full-resolution figures: [report artifact]({inputs.figures_url}).")
    return "\n\n".join(parts) + "\n"


def simpler_model(metrics: Mapping[str, float], baseline: Mapping[str, Any], task: str) -> str:
    """The candidate beside the simpler model `evaluate.baseline` fit on the same split and scored on the same
    rows: per metric both values and candidate - baseline with its paired interval; or why there is none."""
    name = baseline.get("estimator")
    if baseline.get("skipped"):
        return f"_Not compared: {baseline['skipped']}._"
    level = float(baseline.get("level", 0.95))
    rows = []
    for metric in (m for m in _order(task) if m in (baseline.get("difference") or {})):
        entry, mine, theirs = baseline["difference"][metric], metrics.get(metric), baseline["metrics"].get(metric)
        better = "lower" if metric in LOWER_IS_BETTER else "higher"
        rows.append((
            md.code(metric), "-" if mine is None else f"{mine:.4f}", "-" if theirs is None else f"{theirs:.4f}",
            f"{entry['difference']:+.4f} [{entry['low']:+.4f}, {entry['high']:+.4f}]", f"{better} is better",
        ))  # fmt: skip
    note = (f"<sub>{md.code(name)} fit on the same training split, scored on the same holdout rows; [low, high]: "
            f"{level:.0%} paired percentile-bootstrap interval of the difference (gate.baseline_rule judges "
            f"{md.code(task_spec(task).primary)}).</sub>")  # fmt: skip
    header = ["metric", "candidate", md.code(name), "candidate - baseline [interval]", ""]
    return md.table(header, rows) + "\n\n" + note


def slice_table(
    doc: Mapping[str, Any],
    compared: Mapping[str, Mapping[str, Any]] | None,
    floors: Mapping[str, Mapping[str, float]],
    task: str,
) -> str:
    """The primary metric per slice (reports/slices.json): rows, value [interval], its floor, this - base
    [Bonferroni-corrected paired interval], and for a slice not judged, why."""
    primary = task_spec(task).primary
    rows = []
    for entry in doc["slices"]:
        name, value = entry["slice"], (entry.get("metrics") or {}).get(primary)
        interval = (entry.get("intervals") or {}).get(primary) or {}
        shown = "-" if value is None else f"{value:.4f}"
        if value is not None and "low" in interval:
            shown += f" [{interval['low']:.4f}, {interval['high']:.4f}]"
        floor = floors.get(name, {}).get(primary)
        diff = (compared or {}).get(name, {})
        versus = f"{diff['difference']:+.4f} [{diff['low']:+.4f}, {diff['high']:+.4f}]" if "difference" in diff else "-"
        note = entry.get("reason") or diff.get("reason") or ""
        rows.append((md.code(name), str(entry["rows"]), shown, "-" if floor is None else f"{floor:.4f}", versus, note))
    level = float(doc.get("level", 0.95))
    judged = [float(d["level"]) for d in (compared or {}).values() if "level" in d]
    paired = f"; this - base paired, at {judged[0]:.2%} each (Bonferroni over {len(judged)} slices)" if judged else ""
    note = (f"<sub>{md.code(primary)} per slice of evaluate.slices with its {level:.0%} percentile-bootstrap "
            f"interval{paired}; gate.slice_floors and gate.slice_rule judge them. Every metric per slice: "
            f"reports/slices.json.</sub>")  # fmt: skip
    header = ["slice", "rows", f"{md.code(primary)} [interval]", "floor", "this - base [interval]", "note"]
    return md.table(header, rows) + "\n\n" + note


def inclusion_table(doc: Mapping[str, Any], limits: Mapping[str, Mapping[Any, float]]) -> str:
    """Per sensitive column (reports/inclusion.json): each gap between its groups with its interval and limit,
    and each group's rows and rates (a group not judged with why)."""
    rows = []
    for entry in doc["columns"]:
        column = entry["column"]
        for gap, found in entry["gaps"].items():
            limit = limits.get(column, {}).get(gap)
            shown = f"{found['value']:.4f} [{found['low']:.4f}, {found['high']:.4f}]"
            rows.append((md.code(column), md.code(gap), shown, "-" if limit is None else f"<= {limit:.4f}"))
        if not entry["gaps"]:
            rows.append((md.code(column), "-", entry.get("reason") or "-", "-"))
    gaps = md.table(["column", "gap between groups", "value [interval]", "limit"], rows)
    details = []
    for entry in doc["columns"]:
        names = list(entry["groups"][0]["rates"]) if entry["groups"] else []
        lines = [(md.code(g["group"]), str(g["rows"]), *(f"{g['rates'][n]:.4f}" for n in names),
                  "" if g["judged"] else g["reason"]) for g in entry["groups"]]  # fmt: skip
        header = [md.code(entry["column"]), "rows", *names, "note"]
        details.append(md.table(header, lines))
        if entry.get("per_class"):  # multiclass: the gaps one-vs-rest per class; the gate judges the largest
            kinds = list(next(iter(entry["per_class"].values())))
            per_class = [(md.code(c), *(f"{v[k]:.4f}" for k in kinds)) for c, v in entry["per_class"].items()]
            details.append(md.table([f"{md.code(entry['column'])} per class", *kinds], per_class))
    level = float(doc.get("level", 0.95))
    note = (f"<sub>Largest minus smallest over the judged groups (fairlearn's definitions); [low, high]: "
            f"{level:.0%} percentile-bootstrap interval; gate.max_group_gap judges them. Per-group rates below; "
            f"reports/inclusion.json has them all.</sub>")  # fmt: skip
    body = "\n\n".join(details)
    return f"{gaps}\n\n{note}\n\n<details><summary>Rates per group</summary>\n\n{body}\n\n</details>"


def promotion_report(title: str, env: str, champion_source: str, note: str, report: str) -> str:
    """The promotion pull request's body: title, where the champion's numbers came from, the report."""
    return f"# {title}\n\nChampion ({env} now): {champion_source}." + (f" {note}" if note else "") + f"\n\n{report}"


def promotion_body(model_hash: str, env: str, source: str, metrics: Mapping[str, float], task: str) -> str:
    """A short promotion pull-request body when no report was written: the model and its headline metrics."""
    shown = ", ".join(f"{m} {metrics[m]:.4f}" for m in task_spec(task).headline if m in metrics)
    return f"Promote model `{model_hash[:12]}` from `{source}` to `{env}`" + (f": {shown}." if shown else ".")


def registry_table(
    rows: list[tuple[str, Any]], main_hash: str | None, task: str, declared: Mapping[str, str | None] | None = None
) -> str:
    """What runs where: one row per environment (a releases.Release or None), headline metrics of the task, and
    the image digest each environment's Kubernetes overlay declares (`declared`, by environment)."""
    shown = list(task_spec(task).headline)
    header = ["environment", "version", "model hash", "image", "commit", "data hash", *shown, "promoted at"]
    if declared is not None:
        header.append("overlay declares")
    table_rows: list[list[Any]] = []
    if main_hash:
        table_rows.append(["main (not a release)", "-", main_hash[:12], *["-"] * (len(header) - 3)])
    for label, r in rows:
        overlay = [] if declared is None else [(declared.get(label) or "-").rsplit("@", 1)[-1][:19]]
        if r is None:
            table_rows.append([label, *["-"] * (len(header) - 1 - len(overlay)), *overlay])
            continue
        values = [f"{r.metrics[m]:.4f}" if m in r.metrics else "n/a" for m in shown]
        image = r.image.rsplit("@", 1)[-1][:19] if r.image else "-"
        table_rows.append(
            [label, f"v{r.version}", r.model_hash[:12], image, r.commit[:10], r.data_hash[:12], *values, r.promoted_at,
             *overlay]
        )  # fmt: skip
    return md.table(header, table_rows)


def reproduction(result: Reproduction) -> str:
    """A re-run against the committed outputs: one line when every output is byte-identical, else a table of
    every output that is not (stage, output, result, detail)."""
    rows = [f for f in result.findings if f.status != "identical"]
    icon = {"equivalent": "🟰", "differs": "❌", "stale": "❌", "not compared": "·"}
    text = f"{'✅' if result.ok else '❌'} {result.headline()}\n"
    if rows:
        table = md.table(
            ["stage", "output", "result", "detail"],
            [(f.stage, md.code(f.path), f"{icon[f.status]} {f.status}", f.detail) for f in rows],
        )
        text += f"\n{table}\n"
    return text
