"""Live performance: predictions joined with the outcomes sent back for them, scored like the holdout.

Inputs are plain records (pipelines.adapters.sources reads them from the prediction and feedback logs):
a prediction row has its `id`, `ts` (epoch seconds), `model_hash`, the model inputs, and its output (class
probabilities with their `classes`, or the predicted value); an outcome has `id`, `ts` and `label` (or
`value`). The join is exact and does not depend on order or repetition: each id's outcome is the latest
one sent (on a tie of times, the larger outcome by its text, so the result never depends on order), and
each prediction id is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipelines.core.tasks import LOWER_IS_BETTER, spec


def latest_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> dict[str, tuple[float, Any]]:
    """id -> (ts, outcome): the latest outcome per id, whatever order or how often they were sent."""
    found: dict[str, tuple[float, Any]] = {}
    for record in outcomes:
        outcome = record["label"] if "label" in record else record["value"]
        key = (float(record.get("ts", 0.0)), str(outcome))
        now = found.get(record["id"])
        if now is None or key > (now[0], str(now[1])):
            found[record["id"]] = (key[0], outcome)
    return found


@dataclass
class Joined:
    """The predictions of one model that have an outcome, and what could not be joined."""

    model_hash: str
    role: str = "champion"  # or "challenger": scored in shadow (or answering its share of an A/B test)
    ids: list[str] = field(default_factory=list)
    y: list[Any] = field(default_factory=list)  # the outcomes
    output: list[Any] = field(default_factory=list)  # per row: class probabilities, or the predicted value
    delays: list[float] = field(default_factory=list)  # seconds from the prediction to its outcome
    classes: list[Any] | None = None
    predictions: int = 0  # every prediction of this model in the window, labelled or not
    rows: list[list[Any]] = field(default_factory=list)  # the model inputs of the labelled rows


def join(
    predictions: Iterable[Mapping[str, Any]], outcomes: Mapping[str, tuple[float, Any]]
) -> tuple[dict[str, Joined], int]:
    """Per model hash, its labelled predictions (champion and challenger score the same ids); and the number of
    outcomes whose prediction is not in the window (sampled out, older, or from a model that is gone). A
    prediction id seen twice for one model counts once."""
    by_model: dict[str, Joined] = {}
    seen: set[tuple[str, str]] = set()
    for row in sorted(predictions, key=lambda r: (str(r.get("model_hash")), str(r["id"]), float(r["ts"]))):
        key = (str(row.get("model_hash")), str(row["id"]))
        if key in seen:
            continue
        seen.add(key)
        joined = by_model.setdefault(key[0], Joined(key[0], str(row.get("role") or "champion")))
        joined.predictions += 1
        if joined.classes is None and row.get("classes") is not None:
            joined.classes = list(row["classes"])
        found = outcomes.get(row["id"])
        if found is None:
            continue
        joined.ids.append(row["id"])
        joined.y.append(found[1])
        joined.output.append(row["output"])
        joined.delays.append(max(0.0, found[0] - float(row["ts"])))
        joined.rows.append(list(row.get("inputs", [])))
    known = {prediction_id for _, prediction_id in seen}
    return by_model, sum(1 for key in outcomes if key not in known)


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
    interval_settings: Any,
    floors: Mapping[str, float],
    min_rows: int,
) -> dict[str, Any]:
    """Live metrics of one model on its labelled rows, with the holdout's interval machinery: the task's
    metrics, their intervals, counts, label coverage (labelled / predicted), label delay (hours, median and
    90th percentile), and the floors (gate.floors) they break, judged only with at least `min_rows` rows."""
    from pipelines.core.evaluate import score
    from pipelines.core.intervals import intervals

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
    y = np.asarray(joined.y, dtype=float if task == "regression" else object)
    output = np.asarray(joined.output, dtype=float)
    classes = None if task == "regression" else np.asarray(joined.classes, dtype=object)
    if task != "regression" and len(set(y.tolist())) < 2:
        return out  # one class seen so far: ranking metrics are undefined
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing squares are left out below
        out["metrics"] = finite(score(y, output, task=task, classes=classes, threshold=threshold))
        out["intervals"] = finite(intervals(task, y, output, classes, threshold, interval_settings))
    if out["judged"]:
        for metric, floor in floors.items():
            value = out["metrics"].get(metric)
            if value is None or not np.isfinite(value):
                continue
            worse = value > floor if metric in LOWER_IS_BETTER else value < floor
            if worse:
                side = "above the ceiling" if metric in LOWER_IS_BETTER else "below the floor"
                out["below_floors"].append(f"{metric} = {value:.4f} is {side} {floor:.4f} on {n} labelled live rows")
    return out


def compare_models(
    champion: Joined, challenger: Joined, task: str, threshold: float, interval_settings: Any, min_rows: int
) -> dict[str, Any] | None:
    """Champion and challenger on the same labelled live rows (the ids both scored): each one's metrics and the
    paired bootstrap difference (challenger - champion) per metric with its interval, and per metric whether
    the challenger is better, worse or not distinguishable (interval across 0). None without common rows, or
    when a classifier has seen one class so far."""
    from pipelines.core.evaluate import score
    from pipelines.core.intervals import paired

    index = {i: k for k, i in enumerate(champion.ids)}
    pairs = sorted((i, index[i], k) for k, i in enumerate(challenger.ids) if i in index)
    if not pairs:
        return None
    y = np.asarray([champion.y[a] for _, a, _ in pairs], dtype=float if task == "regression" else object)
    if task != "regression" and len(set(y.tolist())) < 2:
        return None
    base = np.asarray([champion.output[a] for _, a, _ in pairs], dtype=float)
    head = np.asarray([challenger.output[b] for _, _, b in pairs], dtype=float)
    classes = None if task == "regression" else np.asarray(champion.classes, dtype=object)
    difference = finite(paired(task, y, head, base, classes, threshold, interval_settings))
    verdicts = {}
    for metric, entry in difference.items():
        sign = -1 if metric in LOWER_IS_BETTER else 1
        low, high = sorted((sign * entry["low"], sign * entry["high"]))
        verdicts[metric] = "better" if low > 0 else "worse" if high < 0 else "not distinguishable"
    return {
        "champion": champion.model_hash,
        "challenger": challenger.model_hash,
        "rows": len(pairs),
        "judged": len(pairs) >= min_rows,
        "champion_metrics": finite(score(y, base, task=task, classes=classes, threshold=threshold)),
        "challenger_metrics": finite(score(y, head, task=task, classes=classes, threshold=threshold)),
        "difference": difference,
        "verdict": verdicts,
    }


def comparison_report(found: Mapping[str, Any], task: str, min_rows: int) -> str:
    """Markdown: champion vs challenger on the same live labelled rows (metric, each value, the paired
    difference with its interval, the verdict), for reports/monitor.md and the promotion pull request."""
    from pipelines.core import markdown as md

    rows = [
        (md.code(m), f"{found['champion_metrics'][m]:.4f}", f"{found['challenger_metrics'][m]:.4f}",
         f"{found['difference'][m]['difference']:+.4f} [{found['difference'][m]['low']:+.4f}, "
         f"{found['difference'][m]['high']:+.4f}]", found["verdict"][m])
        for m in spec(task).metrics
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


def report(live: Sequence[Mapping[str, Any]], floors: Mapping[Any, float], task: str, min_rows: int) -> str:
    """The live-performance section of reports/monitor.md: per model, coverage, label delay, and each metric
    with its interval against its floor, plus a bar chart of the first model's metrics."""
    from pipelines.core import markdown as md

    parts = ["## Live performance (predictions joined with their outcomes)"]
    for entry in live:
        delay = entry["label_delay_hours"]
        head = (
            f"Model `{str(entry['model_hash'])[:12]}` ({entry['role']}): {entry['labelled']} of "
            f"{entry['predictions']} predictions have an outcome (coverage {entry['coverage']:.1%})"
            + (f"; label delay median {delay['median']:.2f} h, p90 {delay['p90']:.2f} h" if delay else "")
            + f"; {entry['unmatched']} outcome(s) without a prediction in the window."
        )
        if not entry["judged"]:
            head += f" Fewer than {min_rows} labelled rows: the floors are not judged yet."
        rows = [
            (md.code(m), md.with_interval(entry["metrics"][m], entry["intervals"].get(m)),
             f"{floors[m]:.4f}" if m in floors else "n/a")
            for m in spec(task).metrics if m in entry["metrics"]
        ]  # fmt: skip
        parts += [head, md.table(["metric", "live [interval]", "floor"], rows) if rows else "_No metrics yet._"]
        parts += [f"- ⚠️ {reason}" for reason in entry["below_floors"]]
    first = next((e for e in live if e["metrics"]), None)
    if first is not None:
        bounded = [m for m in spec(task).metrics if m in first["metrics"] and m not in LOWER_IS_BETTER]
        if bounded:
            values = ", ".join(f"{first['metrics'][m]:.4f}" for m in bounded)
            labels = ", ".join(md.label(m) for m in bounded)
            parts.append(
                '```mermaid\nxychart-beta\n    title "Live metrics"\n'
                f"    x-axis [{labels}]\n    y-axis 0 --> 1\n    bar [{values}]\n```"
            )
    return "\n\n" + "\n\n".join(parts) + "\n"
