"""How fast the model goes stale (retrain.yml and monitor.yml run it first): `staleness` backtests the project's
pipeline on time-ordered data (pipelines.core.staleness) and writes the decay per period and a recommended
retrain interval to reports/staleness.json and reports/staleness.md; `retrain --staleness` and `monitor
--staleness` act on that recommendation."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from pipelines.adapters import dvc, files
from pipelines.adapters.params import estimators, load_contract, load_params, load_paths
from pipelines.commands import Subparsers, add, append, say
from pipelines.core import staleness
from pipelines.core.data import time_order
from pipelines.core.intervals import bootstrap_counts, resamples_used
from pipelines.core.metrics import LOWER_IS_BETTER, model_output, score, scored, weighted
from pipelines.core.params import ParamsError
from pipelines.core.tasks import task_spec
from pipelines.errors import PipelineError

Scored = tuple[np.ndarray, np.ndarray, Any]  # a window's row positions, the model's output on them, its classes


def backtest(
    frame: Any, times: np.ndarray, contract: Any, params: Any
) -> tuple[list[staleness.Point], list[Scored], list[str]]:
    """Fit the project's pipeline at each cut-off on the rows of `frame` before it, score each window after it
    (`times`: each row's time in days): the scored windows, what each scored (for the bootstrap), and one line
    per cut-off or window left out."""
    from pipelines.core.train import build_pipeline
    from pipelines.yours.features import build_preprocessor

    settings = params.staleness
    cuts = staleness.cutoffs(float(times.max()), settings.period_days, settings.windows, settings.cutoffs)
    points: list[staleness.Point] = []
    outputs: list[Scored] = []
    skipped: list[str] = []
    y_all = frame[contract.target].to_numpy()
    for i, cut in enumerate(cuts):
        before = times < cut
        classes = set(map(str, y_all))
        if before.sum() < settings.min_rows or (contract.task != "regression" and
                                                set(map(str, y_all[before])) != classes):  # fmt: skip
            skipped.append(f"cut-off {i + 1}: {int(before.sum())} rows before it, too few (or a class missing) to fit")
            continue
        model = build_pipeline(contract, params.train, estimators(), build_preprocessor)
        model.fit(frame.loc[before, contract.features], frame.loc[before, contract.target])
        window = staleness.ages(times, cut, settings.period_days, settings.windows)
        for j in range(settings.windows):
            rows = window == j
            if rows.sum() < settings.min_rows:
                skipped.append(f"cut-off {i + 1}, window {j + 1}: {int(rows.sum())} rows (staleness.min_rows is "
                               f"{settings.min_rows})")  # fmt: skip
                continue
            output = model_output(model, frame.loc[rows, contract.features], contract.task)
            value = score(y_all[rows], output, task=contract.task, classes=getattr(model, "classes_", None),
                          threshold=params.evaluate.threshold).get(settings.metric, math.nan)  # fmt: skip
            if math.isfinite(value):
                points.append(staleness.Point(i, j + 0.5, int(rows.sum()), value))
                outputs.append((np.flatnonzero(rows), output, getattr(model, "classes_", None)))
            else:
                skipped.append(f"cut-off {i + 1}, window {j + 1}: {settings.metric} undefined (one class?)")
        say("staleness", f"cut-off {i + 1}/{len(cuts)}: fit on {int(before.sum())} rows, scored "
                         f"{sum(p.cutoff == i for p in points)} window(s)")  # fmt: skip
    return points, outputs, skipped


def measure(params_file: str, dvc_yaml: str) -> dict[str, Any]:
    """The staleness document of the project's data (reports/staleness.json); {"status": "no time column"} when
    split.order_by is not set."""
    import pandas as pd

    params, contract, paths = load_params(params_file), load_contract(), load_paths(dvc_yaml)
    settings, order_by = params.staleness, params.split.order_by
    if order_by is None:
        return {"status": "no time column", "reason": "split.order_by is null: the rows have no time order, so how "
                "the model decays with age cannot be measured (set it to a timestamp column)"}  # fmt: skip
    if not Path(paths["validated"]).exists() and dvc.stream("repro", "validate") != 0:
        raise PipelineError("dvc repro validate failed: staleness needs the validated data (its output is above)")
    reported = task_spec(contract.task).metrics
    if settings.metric not in reported:
        raise ParamsError(f"staleness.metric: {settings.metric} is not reported for a {contract.task} task; its "
                          f"metrics are: {', '.join(reported)}")  # fmt: skip
    frame = files.read_frame(paths["validated"])
    stamps = time_order(frame, order_by)
    if not pd.api.types.is_datetime64_any_dtype(stamps):
        raise ParamsError(f"split.order_by: {order_by!r} holds numbers, not timestamps: staleness needs dates to age "
                          "by (staleness.period_days)")  # fmt: skip
    frame = frame.loc[stamps.notna()].reset_index(drop=True)
    times = ((stamps.dropna() - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)).to_numpy(dtype=float)  # days
    return summarise(frame[contract.target].to_numpy(), times, *backtest(frame, times, contract, params), params,
                     contract.task)  # fmt: skip


def resampled(y: np.ndarray, times: np.ndarray, outputs: list[Scored], params: Any, task: str) -> np.ndarray:
    """B x P: each scored window's metric on bootstrap resamples of the rows, drawn once per period of time (and
    label), so two cut-offs scoring the same rows see the same resample (pipelines.core.intervals' counts and
    pipelines.core.metrics' count-weighted definitions)."""
    settings, metric = params.evaluate.intervals, params.staleness.metric
    used = np.unique(np.concatenate([rows for rows, _, _ in outputs]))
    period = np.floor(times[used] / params.staleness.period_days).astype(int).astype(str)
    strata = period if task == "regression" else np.char.add(np.char.add(period, "|"), y[used].astype(str))
    count = resamples_used(settings, len(used))
    counts = bootstrap_counts(strata, count, np.random.default_rng(settings.seed))
    where = {row: k for k, row in enumerate(used)}
    columns = []
    for rows, output, classes in outputs:
        w = counts[:, [where[r] for r in rows]]
        columns.append(weighted(scored(task, y[rows], output, classes, params.evaluate.threshold), w)[metric])
    return np.stack(columns, axis=1)


def summarise(y: np.ndarray, times: np.ndarray, points: list[staleness.Point], outputs: list[Scored],
              skipped: list[str], params: Any, task: str) -> dict[str, Any]:  # fmt: skip
    """The staleness document from the scored windows: the decay fit, the recommendation, the mean per age."""
    settings = params.staleness
    draws = resampled(y, times, outputs, params, task) if points else np.zeros((0, 0))
    fit = staleness.decay(points, params.evaluate.intervals.level, draws)
    floor = params.gate.floors.get(settings.metric)
    lower = settings.metric in LOWER_IS_BETTER
    days, why = staleness.recommend(fit, floor, lower, settings.period_days, settings.max_retrain_days)
    by_age: dict[float, list[float]] = {}
    for point in points:
        by_age.setdefault(point.age, []).append(point.value)
    ages = [{"age": a, "windows": len(v), "mean": round(float(np.mean(v)), 6)} for a, v in sorted(by_age.items())]
    return {"status": "measured", "metric": settings.metric, "period_days": settings.period_days, "decay": fit,
            "floor": floor, "recommended_retrain_days": days, "reason": why, "skipped": skipped,
            "points": [vars(p) for p in points], "by_age": ages}  # fmt: skip


def markdown(doc: dict[str, Any]) -> str:
    """reports/staleness.md: the decay per period, the metric per age, and the recommendation."""
    if doc["status"] != "measured":
        return f"### Staleness\n\nNot measured: {doc['reason']}.\n"
    fit, metric, period = doc["decay"], doc["metric"], doc["period_days"]
    if fit.get("slope") is None:
        rate = f"No decay could be fitted: {fit['reason']}."
    else:
        rate = (f"`{metric}` changes by **{fit['slope']:+.4f} per period** of {period:g} days "
                f"[{fit['low']:+.4f}, {fit['high']:+.4f}] ({fit['level']:.0%} interval, {fit['points']} windows), "
                f"from {fit['start']:.4f} at age 0.")  # fmt: skip
    rows = "\n".join(f"| {a['age'] * period:.1f} | {a['windows']} | {a['mean']:.4f} |" for a in doc["by_age"])
    return (f"### Staleness\n\n{rate}\n\nRecommended retrain interval: **{doc['recommended_retrain_days']:g} days** "
            f"({doc['reason']}).\n\n| age (days) | windows | mean `{metric}` |\n|---|---|---|\n{rows}\n")  # fmt: skip


def cmd_staleness(args: argparse.Namespace) -> int:
    doc = measure(args.params, args.dvc_yaml)
    files.write_json(args.out, doc)
    text = markdown(doc)
    files.write_text(args.report, text)
    say("staleness", text.splitlines()[2] if doc["status"] == "measured" else doc["reason"])
    for line in doc.get("skipped", []):
        say("staleness", f"left out: {line}")
    if doc["status"] == "measured":
        say("staleness", f"recommended retrain interval: {doc['recommended_retrain_days']:g} days ({doc['reason']})")
    append(args.summary, text)
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register staleness."""
    p = add(sub, "staleness", cmd_staleness)
    p.add_argument("--dvc-yaml", default="dvc.yaml", help="where the validated data's path is defined")
    p.add_argument("--out", default="reports/staleness.json", help="the backtest and its recommendation, as JSON")
    p.add_argument("--report", default="reports/staleness.md", help="the same as markdown")
    p.add_argument("--summary", help="append the report to this file ($GITHUB_STEP_SUMMARY)")
