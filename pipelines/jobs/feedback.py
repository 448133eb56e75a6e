"""The loop's return path: outcomes for predictions, joined and scored (`monitor` calls `live_performance`),
imported from another system (`feedback import`), and written for Prometheus (`write_prometheus`)."""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Any

from pipelines.commands import add, say


def feedback_location(params: Any, override: str | None = None) -> str:
    """Where outcomes are read from: `override`, else monitor.feedback, else serve.feedback.directory."""
    return str(override or params.monitor.feedback or params.serve.feedback.directory)


def live_performance(
    params: Any, logged: dict[str, Any], outcome_files: list[str], since: float | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per model in `logged` (pipelines.adapters.sources.scan_logs), its live performance on the predictions that
    have an outcome in `outcome_files` (pipelines.core.feedback.performance), each with `unmatched`: outcomes
    whose prediction is not in the window; and, when a challenger was scored beside the champion, the two
    compared on the same labelled rows (pipelines.core.feedback.compare_models). ([], None) when no outcome has
    come back."""
    from pipelines.adapters import sources
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import compare_models, join, latest_outcomes, performance, unmatched_causes

    if not outcome_files:
        return [], None
    outcomes = latest_outcomes(sources.read_outcomes(outcome_files, since))
    say("monitor", f"joining {sum(len(m.ids) for m in logged.values()):,} logged predictions with "
                   f"{len(outcomes):,} outcomes")  # fmt: skip
    by_model, unmatched = join(logged, outcomes)
    causes = unmatched_causes(logged, outcomes, since) if unmatched else {}
    if causes:
        from pipelines.core.feedback import UNMATCHED_CAUSES

        say("monitor", f"{unmatched:,} outcome(s) found no prediction: "
                       + "; ".join(f"{n:,} {UNMATCHED_CAUSES[c]}" for c, n in causes.items()))  # fmt: skip
    task, settings = load_contract().task, params.evaluate.intervals
    ordered = sorted(by_model.values(), key=lambda j: (j.role != "champion", -j.predictions, j.model_hash))
    found = []
    for joined in ordered:
        entry = performance(
            joined, task, params.evaluate.threshold, settings, params.gate.floors, params.monitor.min_labelled_rows
        )
        found.append({**entry, "unmatched": unmatched, "unmatched_causes": causes})
    champion = next((j for j in ordered if j.role == "champion"), None)
    challenger = next((j for j in ordered if j.role == "challenger"), None)
    comparison = None
    if champion is not None and challenger is not None:
        comparison = compare_models(
            champion, challenger, task, params.evaluate.threshold, settings, params.monitor.min_labelled_rows
        )
    return found, comparison


def _window(
    params: Any, logs: str, outcomes_at: str, since: float | None, inputs: bool
) -> tuple[dict[str, Any], list[str]]:
    """The logged predictions (per model) and the feedback-log files, for a job that reads no drift frame;
    no predictions are read when no outcome has come back."""
    from pipelines.adapters import sources

    outcome_files = sources.list_logs(outcomes_at, "feedback")
    if not outcome_files:
        return {}, []
    return sources.read_predictions(sources.list_logs(logs), since, inputs=inputs), outcome_files


def live_section(
    params: Any, logged: dict[str, Any], outcome_files: list[str], since: float, verdict: dict[str, Any]
) -> str:
    """Score the window's predictions (`logged`, read with the drift frame) against the outcomes in
    `outcome_files`; adds `live` (and `comparison`, champion vs
    challenger) to `verdict`, and any broken floor of the champion to its `below_floors`; returns the section
    for reports/monitor.md ("" when no outcome has come back)."""
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import comparison_report, report

    live, comparison = live_performance(params, logged, outcome_files, since)
    if not live:
        return ""
    task, min_rows = load_contract().task, params.monitor.min_labelled_rows
    verdict["live"] = live
    broken = [r for e in live if e["role"] == "champion" for r in e["below_floors"]]
    verdict["below_floors"] = [*verdict.get("below_floors", []), *broken]
    for entry in live:
        shown = ", ".join(f"{k}={v:.4f}" for k, v in entry["metrics"].items())
        say("monitor", f"live {entry['role']} {entry['model_hash'][:12]}: {entry['labelled']} of "
                       f"{entry['predictions']} predictions labelled; {shown or 'no metrics yet'}")  # fmt: skip
    text = report(live, params.gate.floors, task, min_rows)
    if comparison is not None:
        verdict["comparison"] = comparison
        text += "\n" + comparison_report(comparison, task, min_rows)
        sides = {v: [m for m, w in comparison["verdict"].items() if w == v] for v in ("better", "worse")}
        say("monitor", f"challenger {comparison['challenger'][:12]} vs champion on {comparison['rows']} rows: "
                       f"better on {', '.join(sides['better']) or 'no metric'}; "
                       f"worse on {', '.join(sides['worse']) or 'no metric'}")  # fmt: skip
    return text


def promotion_section(params: Any, candidate: str, champion: str | None) -> str:
    """For the promotion pull request: the candidate (`candidate`, its model hash) against the champion on live
    outcomes, when the candidate ran as the environment's challenger within monitor.window_hours (read from
    monitor.logs / serve.log.directory and the feedback log); "" otherwise, or when the logs cannot be read."""
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import comparison_report

    logs = params.monitor.logs or params.serve.log.directory
    since = time.time() - params.monitor.window_hours * 3600
    try:
        _, comparison = live_performance(params, *_window(params, logs, feedback_location(params), since, False), since)
    except Exception as exc:  # an unreachable log (no credentials, say) is not a reason to hold a promotion
        say("promotion-gate", f"no live comparison: the logs at {logs} could not be read ({type(exc).__name__})")
        return ""
    if comparison is None or comparison["challenger"] != candidate:
        return ""
    if champion is not None and comparison["champion"] != champion:
        return ""
    return comparison_report(comparison, load_contract().task, params.monitor.min_labelled_rows)


def labelled_batch(params: Any, data_dir: Any) -> list[Any]:
    """For `ingest` (ingest.feedback: true): the predictions in the log (monitor.logs, else serve.log.directory)
    that have an outcome and are not in the data yet, as one batch with the outcome as the target column
    (pipelines.adapters.sources.from_feedback); validated, quarantined or appended like any other batch."""
    from pipelines.adapters import sources
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import latest_outcomes

    logs, outcomes_at = params.monitor.logs or params.serve.log.directory, feedback_location(params)
    logged, outcome_files = _window(params, logs, outcomes_at, None, True)
    if not outcome_files:
        say("ingest", f"no outcomes at {outcomes_at} yet")
        return []
    outcomes = latest_outcomes(sources.read_outcomes(outcome_files, None))
    batches = sources.from_feedback(logged, outcomes, load_contract().target, data_dir, outcomes_at)
    say("ingest", f"{len(batches[0].frame) if batches else 0} new labelled live row(s) from {logs} and {outcomes_at}")
    return batches


def write_prometheus(path: str | None, verdict: dict[str, Any], gateway: str | None = None) -> None:
    """The monitor's verdict as Prometheus gauges: live metric values, labelled rows and label coverage per
    model, challenger - champion per metric, drift per feature, the alert. Written in text format to `path`
    (for node_exporter's textfile collector) and/or pushed to the Pushgateway at `gateway` (a URL; job
    `gitops-ml-monitor`, replacing the previous push)."""
    from prometheus_client import CollectorRegistry, Gauge, push_to_gateway, write_to_textfile

    registry = CollectorRegistry()
    metric = Gauge("gitops_ml_live_metric", "a task metric on labelled live rows", ["metric", "model_hash", "role"],
                   registry=registry)  # fmt: skip
    labelled = Gauge("gitops_ml_live_labelled_rows", "predictions with an outcome", ["model_hash"], registry=registry)
    coverage = Gauge("gitops_ml_live_label_coverage", "labelled / predicted", ["model_hash"], registry=registry)
    drifted = Gauge("gitops_ml_feature_drift", "1 when the feature drifted", ["feature"], registry=registry)
    alert = Gauge("gitops_ml_monitor_alert", "1 when the monitor alerts (drift or a broken floor)", registry=registry)
    for entry in verdict.get("live") or []:
        short = str(entry["model_hash"])[:12]
        labelled.labels(short).set(entry["labelled"])
        coverage.labels(short).set(entry["coverage"])
        for name, value in entry["metrics"].items():
            metric.labels(name, short, entry["role"]).set(value)
    comparison = verdict.get("comparison")
    if comparison:
        difference = Gauge("gitops_ml_challenger_difference", "challenger - champion on the same live rows",
                           ["metric", "challenger"], registry=registry)  # fmt: skip
        for name, entry in comparison["difference"].items():
            difference.labels(name, comparison["challenger"][:12]).set(entry["difference"])
    for name, info in (verdict.get("features") or {}).items():
        drifted.labels(name).set(1.0 if info.get("drifted") else 0.0)
    alert.set(1.0 if verdict.get("alert") else 0.0)
    if path:
        write_to_textfile(path, registry)
    if gateway:
        push_to_gateway(gateway, job="gitops-ml-monitor", registry=registry, timeout=30)
        say("monitor", f"pushed {len(list(registry.collect()))} metric families to the Pushgateway")


def _read_outcomes(args: argparse.Namespace, missing_values: Any) -> tuple[Any, str]:
    """The table to import and where it came from; PipelineError (one line, no values) when it cannot be read."""
    from pipelines.adapters import files, sources
    from pipelines.errors import PipelineError

    if not args.file:
        from pandas.errors import DatabaseError
        from sqlalchemy.exc import SQLAlchemyError

        if not args.query:
            raise PipelineError("--sql-url-env needs --query (the query returning the ids and outcomes)")
        try:
            (batch,) = sources.from_sql(args.sql_url_env, args.query)
        except (SQLAlchemyError, DatabaseError) as exc:
            raise PipelineError(f"sql:{args.sql_url_env}: the query failed ({type(exc).__name__})") from None
        return batch.frame, batch.source
    import fsspec
    import pandas as pd

    try:
        with fsspec.open(args.file, "rb") as handle:
            return files.read_table(handle, missing_values, name=args.file), f"file:{args.file}"
    except pd.errors.EmptyDataError:  # a 0-byte file: no outcomes
        return pd.DataFrame(), f"file:{args.file}"
    except FileNotFoundError:
        raise PipelineError(f"{args.file}: no such file") from None
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # not CSV/Parquet, not UTF-8, truncated
        raise PipelineError(f"{args.file}: cannot be read as CSV (UTF-8) or Parquet ({type(exc).__name__})") from None


def outcome_pairs(frame: Any, id_column: str, column: str, ts_column: str | None, now: float, max_age_days: float,
                  contract: Any, source: str) -> list[tuple[str, Any, float]]:  # fmt: skip
    """(id, outcome, ts) per prediction id in `frame`, sorted by id: the outcome checked with the target's rule
    in the contract, ts from `ts_column` (epoch seconds or a date-time) or `now`; an id given twice keeps its
    latest row (the last one on a tie). PipelineError naming the column, rule and rows (never the values) for a
    missing column, an outcome that breaks the rule, a malformed, expired or future id, or a bad time."""
    import numpy as np
    import pandas as pd

    from pipelines.core import ids, outcomes
    from pipelines.errors import PipelineError

    wanted = [id_column, column] + ([ts_column] if ts_column else [])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise PipelineError(
            f"{source}: no column(s) {', '.join(missing)} (see --id-column, --outcome-column, --ts-column)"
        )

    def rows(mask: Any) -> str:
        if not mask.any():  # a rule about the whole column (its type)
            return "the outcomes"
        where = [int(k) + 1 for k in np.flatnonzero(np.asarray(mask))[:5]]
        return f"{int(mask.sum())} row(s), e.g. row(s) {', '.join(map(str, where))}"

    try:
        checked = outcomes.coerce(contract, frame[column])
    except outcomes.OutcomeError as exc:
        raise PipelineError(f"{source}: {rows(exc.rows)} in {column}: {exc.reason}") from None
    given = frame[id_column].astype(str)
    malformed = ~given.map(ids.well_formed)
    if malformed.any():
        raise PipelineError(
            f"{source}: {rows(malformed.to_numpy())} are not prediction ids (37 hex digits with their check)"
        )
    expired = given.map(lambda i: ids.problem(i, [i[:12]], max_age_days, now) is not None)  # foreign: see monitor
    if expired.any():
        raise PipelineError(f"{source}: {rows(expired.to_numpy())} have ids older than {max_age_days:g} days "
                            "(serve.feedback.max_age_days) or made in the future")  # fmt: skip
    stamps = pd.Series(now, index=frame.index, dtype=float)
    if ts_column:
        if pd.api.types.is_numeric_dtype(frame[ts_column]):
            stamps = frame[ts_column].astype(float)
        else:
            when = pd.to_datetime(frame[ts_column], utc=True, errors="coerce", format="ISO8601")
            stamps = (when - pd.Timestamp(0, tz="UTC")).dt.total_seconds()  # whatever the parsed resolution
        unreadable = ~np.isfinite(stamps.to_numpy(dtype=float))
        if unreadable.any():
            raise PipelineError(f"{source}: {rows(unreadable)} have no readable time in {ts_column}")
        made = given.map(lambda i: int(i[12:23], 16) / 1000).to_numpy()  # when each prediction was made
        impossible = (stamps.to_numpy(dtype=float) < made - 300) | (stamps.to_numpy(dtype=float) > now + 300)
        if impossible.any():
            raise PipelineError(f"{source}: {rows(impossible)} have a time in {ts_column} before their prediction "
                                "was made or in the future (epoch seconds, or ISO 8601)")  # fmt: skip
    latest: dict[str, tuple[float, int, Any]] = {}
    for order, (i, outcome, ts) in enumerate(zip(given, checked, stamps, strict=True)):
        if i not in latest or (ts, order) >= latest[i][:2]:
            latest[i] = (float(ts), order, outcome)
    return sorted((i, value, ts) for i, (ts, _, value) in latest.items())


def cmd_feedback_import(args: argparse.Namespace) -> int:
    """Outcomes from a file (CSV or Parquet, path or fsspec URL) or a SQL query, appended to the feedback log as
    one content-addressed file: importing the same outcomes twice writes nothing new."""
    import os

    import fsspec
    import orjson

    from pipelines.adapters.params import load_contract, load_params

    params, contract = load_params(args.params), load_contract()
    frame, source = _read_outcomes(args, params.data.missing_values)
    column = args.outcome_column or contract.target
    ts_column = args.ts_column or ("ts" if "ts" in frame.columns and column != "ts" else None)
    now = time.time()
    max_age = params.serve.feedback.max_age_days
    pairs = (
        outcome_pairs(frame, args.id_column, column, ts_column, now, max_age, contract, source) if len(frame) else []
    )
    if not pairs:
        say("feedback import", f"{source} has no outcomes: nothing to import")
        return 0
    field = "value" if contract.task == "regression" else "label"
    digest = hashlib.sha256(orjson.dumps(pairs if ts_column else [p[:2] for p in pairs])).hexdigest()[:16]
    lines = [orjson.dumps({"id": i, field: outcome, "ts": ts, "source": source}) for i, outcome, ts in pairs]
    location = feedback_location(params, args.to)
    target_path = f"{location.rstrip('/')}/feedback-import-{digest}.jsonl"
    fs, path = fsspec.core.url_to_fs(target_path)
    if fs.exists(path):
        say("feedback import", f"{len(lines)} outcome(s) from {source} were imported already ({target_path})")
        return 0
    if "://" not in location:
        os.makedirs(location, exist_ok=True)
    with fsspec.open(target_path + ".partial", "wb") as out:
        out.write(b"\n".join(lines) + b"\n")
    fs.mv(path + ".partial", path)
    say("feedback import", f"{len(lines)} outcome(s) from {source} -> {target_path}")
    return 0


def add_commands(sub: Any) -> None:
    """Register feedback (its action: import)."""
    about = "outcomes (ground truth) for prediction ids; `monitor` scores them"
    actions = sub.add_parser("feedback", help=about, description=about).add_subparsers(
        dest="action", required=True, metavar="<action>"
    )
    p = add(actions, "import", cmd_feedback_import, "append outcomes for prediction ids from a file or SQL query")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", help="CSV or Parquet with the ids and outcomes (path or fsspec URL)")
    source.add_argument("--sql-url-env", help="NAME of the environment variable holding a SQLAlchemy URL")
    p.add_argument("--query", help="with --sql-url-env: the query returning the ids and outcomes")
    p.add_argument("--id-column", default="id", help="the column of prediction ids (default: id)")
    p.add_argument("--outcome-column", help="the column of outcomes (default: the target's name)")
    p.add_argument("--ts-column", help="when each outcome was known: epoch seconds or a date-time (default: ts when "
                   "present, else the time of the import); the latest outcome per id wins")  # fmt: skip
    p.add_argument("--to", help="the feedback log (default: monitor.feedback, else serve.feedback.directory)")
