"""Live performance: predictions joined with the outcomes sent back for them, scored like the holdout.

Predictions come per model as columnar `Logged` arrays (pipelines.adapters.sources reads them from the
prediction log): each row's `id`, `ts` (epoch seconds), its output (class probabilities with their
`classes`, or the predicted value) and, for ingest, its inputs; outcomes are records with `id`, `ts` and
`label` (or `value`) from the feedback log. The join is vectorised (a million of each in seconds), exact, and
does not depend on order or repetition: each id's outcome is the latest one sent (on a tie of times, the
larger outcome by its text, so the result never depends on order), and each prediction id is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.core import ids
from pipelines.core.gate import floor_rules
from pipelines.core.intervals import intervals, paired
from pipelines.core.metrics import LOWER_IS_BETTER, score
from pipelines.core.params import IntervalParams


@dataclass
class Logged:
    """One model's logged predictions, one entry per row (pipelines.adapters.sources.read_predictions)."""

    model_hash: str
    role: str  # "champion" when any of its records was the champion's, else "challenger" (scored in shadow)
    classes: list[Any] | None  # a classifier's classes, the columns of `output`; None for a regressor
    columns: list[str]  # the model inputs' names, the columns of `inputs`
    ids: np.ndarray  # n prediction ids (object array of str)
    ts: np.ndarray  # n prediction times, epoch seconds
    output: np.ndarray  # n x classes probabilities, or n predicted values
    inputs: np.ndarray | None = None  # n x columns, as logged (only when asked for)
    capped: frozenset[str] = frozenset()  # the id prefixes (model, millisecond) of requests cut at the row cap


def logged_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, Logged]:
    """Per model hash, its rows as Logged: from one dict per prediction row (id, ts, model_hash, output and,
    when present, role, classes, columns, inputs), in the order given."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(str(row.get("model_hash")), []).append(row)
    found = {}
    for model_hash, group in grouped.items():
        ids = np.empty(len(group), dtype=object)
        ids[:] = [str(r["id"]) for r in group]
        inputs = [r["inputs"] for r in group] if all("inputs" in r for r in group) else None
        found[model_hash] = Logged(
            model_hash,
            "champion" if any((r.get("role") or "champion") == "champion" for r in group) else "challenger",
            next((list(r["classes"]) for r in group if r.get("classes") is not None), None),
            list(group[0].get("columns") or []),
            ids,
            np.asarray([float(r["ts"]) for r in group]),
            np.asarray([r["output"] for r in group], dtype=float),
            None if inputs is None else np.asarray(inputs, dtype=object).reshape(len(group), -1),
        )
    return found


@dataclass
class Joined:
    """The predictions of one model that have an outcome (arrays, one entry per labelled prediction)."""

    model_hash: str
    role: str = "champion"  # or "challenger": scored in shadow (or answering its share of an A/B test)
    ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    y: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # the outcomes
    output: np.ndarray = field(default_factory=lambda: np.empty(0))  # class probabilities, or predicted values
    delays: np.ndarray = field(default_factory=lambda: np.empty(0))  # seconds from each prediction to its outcome
    classes: list[Any] | None = None
    predictions: int = 0  # every prediction of this model in the window (distinct ids), labelled or not
    rows: np.ndarray | None = None  # the model inputs of the labelled rows, when they were read
    columns: list[str] = field(default_factory=list)


def first_per_id(ids: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Positions of each distinct id's earliest row (a prediction logged twice counts once), in row order."""
    import pandas as pd

    codes, uniques = pd.factorize(ids)
    if len(uniques) == len(ids):
        return np.arange(len(ids))
    order = np.lexsort((ts, codes))
    first = np.ones(len(order), dtype=bool)
    first[1:] = codes[order][1:] != codes[order][:-1]
    return np.sort(order[first])


def join(logged: Mapping[str, Logged], outcomes: Mapping[str, tuple[float, Any]]) -> tuple[dict[str, Joined], int]:
    """Per model hash, its labelled predictions (champion and challenger score the same ids); and the number of
    outcomes whose prediction is not in the window (sampled out, older, or from a model that is gone). Exact:
    each prediction id of a model is counted once, and matches at most one outcome (its latest)."""
    import pandas as pd

    known = pd.Index(list(outcomes))
    when = np.fromiter((v[0] for v in outcomes.values()), dtype=float, count=len(outcomes))
    truth = np.empty(len(outcomes), dtype=object)
    truth[:] = [v[1] for v in outcomes.values()]
    by_model: dict[str, Joined] = {}
    matched = []
    for model_hash, log in logged.items():
        first = first_per_id(log.ids, log.ts)
        where = known.get_indexer(log.ids[first]) if len(known) else np.full(len(first), -1)
        rows, at = first[where >= 0], where[where >= 0]
        matched.append(at)
        if log.classes is not None:  # an outcome that is not one of the classes (its JSON type included) is not scored
            allowed = {(type(c), c) for c in log.classes}
            fits = np.fromiter(((type(v), v) in allowed for v in truth[at]), dtype=bool, count=len(at))
            rows, at = rows[fits], at[fits]
        by_model[model_hash] = Joined(
            model_hash, log.role, log.ids[rows], truth[at], log.output[rows],
            np.maximum(0.0, when[at] - log.ts[rows]), log.classes, len(first),
            None if log.inputs is None else log.inputs[rows], log.columns,
        )  # fmt: skip
    found = np.unique(np.concatenate(matched)).size if matched else 0
    return by_model, len(outcomes) - found


UNMATCHED_CAUSES = {
    "row_cap": "past serve.log.max_rows_per_request in their request",
    "other_model": "for a model with no logged predictions in the window",
    "before_window": "for predictions made before the window",
    "not_logged": "not in the log (sampled out by serve.log.sample_rate, or dropped)",
}


def unmatched_causes(
    logged: Mapping[str, Logged], outcomes: Mapping[str, tuple[float, Any]], since: float | None
) -> dict[str, int]:
    """Why outcomes found no prediction, by cause (keys of UNMATCHED_CAUSES; causes with no outcome left out). An id
    tells its model and the millisecond its request was made (pipelines.core.ids), which a logged request cut at the
    row cap shares; `since` is the window's start (epoch seconds; None: no start)."""
    seen = {str(i) for log in logged.values() for i in log.ids}
    capped = frozenset().union(*(log.capped for log in logged.values()))
    models = {h[:12] for h in logged}
    found: dict[str, int] = {}
    for key in outcomes:
        if key in seen:
            continue
        made = ids.made_at(key) if len(key) >= 23 else None
        cause = (
            "row_cap" if key[:23] in capped else "other_model" if key[:12] not in models
            else "before_window" if since is not None and made is not None and made < since else "not_logged"
        )  # fmt: skip
        found[cause] = found.get(cause, 0) + 1
    return found


def labels(values: Any) -> np.ndarray:
    """Class labels as a typed array (integers, booleans or text, as JSON gave them): sorting and comparing
    them is then vectorised, not a Python call per label; an object array when their types are mixed."""
    given = list(values)
    if len({type(v) for v in given}) == 1 and isinstance(given[0], (bool, int, str)):
        typed = np.asarray(given)
        if typed.dtype.kind in "biuU":
            return typed
    out = np.empty(len(given), dtype=object)
    out[:] = given
    return out


def finite(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (metric -> number, or -> {low, high, ...}) without the entries that are NaN or infinite (a
    metric undefined on these rows, or outcomes so large that their squares overflow): JSON and Prometheus
    cannot hold them, and a missing metric is reported as such."""

    def ok(value: Any) -> bool:
        if isinstance(value, Mapping):
            return all(ok(v) for v in value.values())
        return not isinstance(value, (int, float)) or bool(np.isfinite(value))

    return {name: value for name, value in values.items() if ok(value)}


def performance(
    joined: Joined,
    task: str,
    threshold: float,
    interval_settings: IntervalParams,
    floors: Mapping[str, float],
    min_rows: int,
) -> dict[str, Any]:
    """Live metrics of one model on its labelled rows, with the holdout's interval machinery: the task's
    metrics, their intervals, counts, label coverage (labelled / predicted), label delay (hours, median and
    90th percentile), and the floors (gate.floors) they break, judged only with at least `min_rows` rows."""

    n = len(joined.ids)
    out: dict[str, Any] = {
        "model_hash": joined.model_hash,
        "role": joined.role,
        "predictions": joined.predictions,
        "labelled": n,
        "coverage": round(n / joined.predictions, 6) if joined.predictions else 0.0,
        "label_delay_hours": None,
        "metrics": {},
        "intervals": {},
        "below_floors": [],
        "judged": n >= min_rows,
    }
    if not n:
        return out
    delays = np.asarray(joined.delays) / 3600
    out["label_delay_hours"] = {
        "median": round(float(np.median(delays)), 4),
        "p90": round(float(np.quantile(delays, 0.9)), 4),
    }
    y = np.asarray(joined.y, dtype=float) if task == "regression" else labels(joined.y)
    output = np.asarray(joined.output, dtype=float)
    classes = None if task == "regression" else labels(joined.classes)
    if task != "regression" and len(np.unique(y)) < 2:
        return out  # one class seen so far: ranking metrics are undefined
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing squares are left out below
        out["metrics"] = finite(score(y, output, task=task, classes=classes, threshold=threshold))
        out["intervals"] = finite(intervals(task, y, output, classes, threshold, interval_settings))
    if out["judged"]:  # the merge gate's floor rule; a metric not (finitely) measured here is not judged
        reported = {metric: floor for metric, floor in floors.items() if metric in out["metrics"]}
        failed = [rule for rule in floor_rules(out["metrics"], reported) if not rule.passed]
        out["below_floors"] = [f"{rule.reason} on {n} labelled live rows" for rule in failed]
    return out


def compare_models(
    champion: Joined, challenger: Joined, task: str, threshold: float, interval_settings: IntervalParams, min_rows: int
) -> dict[str, Any] | None:
    """Champion and challenger on the same labelled live rows (the ids both scored): each one's metrics and the
    paired bootstrap difference (challenger - champion) per metric with its interval, and per metric whether
    the challenger is better, worse or not distinguishable (interval across 0). None without common rows, or
    when a classifier has seen one class so far."""
    import pandas as pd

    where = (
        pd.Index(champion.ids).get_indexer(challenger.ids) if len(champion.ids) else np.full(len(challenger.ids), -1)
    )
    both = where >= 0
    if not both.any():
        return None
    y = np.asarray(champion.y[where[both]], dtype=float) if task == "regression" else labels(champion.y[where[both]])
    if task != "regression" and len(np.unique(y)) < 2:
        return None
    base = np.asarray(champion.output[where[both]], dtype=float)
    head = np.asarray(challenger.output[both], dtype=float)
    rows = int(both.sum())
    classes = None if task == "regression" else labels(champion.classes)
    difference = finite(paired(task, y, head, base, classes, threshold, interval_settings))
    verdicts = {}
    for metric, entry in difference.items():
        sign = -1 if metric in LOWER_IS_BETTER else 1
        low, high = sorted((sign * entry["low"], sign * entry["high"]))
        verdicts[metric] = "better" if low > 0 else "worse" if high < 0 else "not distinguishable"
    return {
        "champion": champion.model_hash,
        "challenger": challenger.model_hash,
        "rows": rows,
        "judged": rows >= min_rows,
        "champion_metrics": finite(score(y, base, task=task, classes=classes, threshold=threshold)),
        "challenger_metrics": finite(score(y, head, task=task, classes=classes, threshold=threshold)),
        "difference": difference,
        "verdict": verdicts,
    }


def offline_vs_live(
    offline: Mapping[str, float],
    offline_intervals: Mapping[str, Mapping[str, float]] | None,
    live: Mapping[str, Any],
    metrics: Sequence[str],
) -> list[dict[str, Any]]:
    """The offline proxy against the online truth ("The ML Test Score", model test 2): per metric in `metrics`
    that both have, the release's holdout value (`offline`, metrics.json at its commit) and interval
    (reports/intervals.json), the live value and interval (`live`: a `performance` entry), live - offline, and
    `apart`: the two intervals do not overlap, a gap larger than both intervals reach (the holdout no longer
    predicts how the model does on live traffic, or the live labels are not what the holdout's were)."""
    rows = []
    for metric in metrics:
        now, before = (live.get("metrics") or {}).get(metric), offline.get(metric)
        if now is None or before is None:
            continue
        band = (live.get("intervals") or {}).get(metric) or {}
        hold = (offline_intervals or {}).get(metric) or {}
        apart = bool(band and hold) and (band["high"] < hold["low"] or band["low"] > hold["high"])
        rows.append({"metric": metric, "offline": before, "offline_low": hold.get("low"),
                     "offline_high": hold.get("high"), "live": now, "live_low": band.get("low"),
                     "live_high": band.get("high"), "difference": round(now - before, 6), "apart": apart})  # fmt: skip
    return rows
