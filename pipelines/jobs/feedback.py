"""The loop's return path: outcomes for predictions, joined and scored (`monitor` calls `live_performance`),
imported from another system (`feedback import`), and written for Prometheus (`write_prometheus`)."""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Any

from pipelines.jobs.common import add, say


def feedback_location(params: Any, override: str | None = None) -> str:
    """Where outcomes are read from: `override`, else monitor.feedback, else serve.feedback.directory."""
    return str(override or params.monitor.feedback or params.serve.feedback.directory)


def live_performance(
    params: Any, logs: str, outcomes_at: str, since: float | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Per model in the prediction log, its live performance on the predictions that have an outcome
    (pipelines.core.feedback.performance), each with `unmatched`: outcomes whose prediction is not in the
    window; and, when a challenger was scored beside the champion, the two compared on the same labelled
    rows (pipelines.core.feedback.compare_models). ([], None) when no outcome has come back."""
    from pipelines.adapters import sources
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import compare_models, join, latest_outcomes, performance

    outcome_files = sources.list_logs(outcomes_at, "feedback")
    if not outcome_files:
        return [], None
    outcomes = latest_outcomes(sources.read_outcomes(outcome_files, since))
    by_model, unmatched = join(sources.read_predictions(sources.list_logs(logs), since, inputs=False), outcomes)
    task, settings = load_contract().task, params.evaluate.intervals.settings()
    ordered = sorted(by_model.values(), key=lambda j: (j.role != "champion", -j.predictions, j.model_hash))
    found = []
    for joined in ordered:
        entry = performance(
            joined, task, params.evaluate.threshold, settings, params.gate.floors, params.monitor.min_labelled_rows
        )
        found.append({**entry, "unmatched": unmatched})
    champion = next((j for j in ordered if j.role == "champion"), None)
    challenger = next((j for j in ordered if j.role == "challenger"), None)
    comparison = None
    if champion is not None and challenger is not None:
        comparison = compare_models(
            champion, challenger, task, params.evaluate.threshold, settings, params.monitor.min_labelled_rows
        )
    return found, comparison


def live_section(params: Any, logs: str, feedback: str | None, since: float, verdict: dict[str, Any]) -> str:
    """Score the window's predictions against their outcomes; adds `live` (and `comparison`, champion vs
    challenger) to `verdict`, and any broken floor of the champion to its `below_floors`; returns the section
    for reports/monitor.md ("" when no outcome has come back)."""
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import comparison_report, report

    live, comparison = live_performance(params, logs, feedback_location(params, feedback), since)
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
        better = [m for m, v in comparison["verdict"].items() if v == "better"]
        say("monitor", f"challenger {comparison['challenger'][:12]} vs champion on {comparison['rows']} rows: "
                       f"better on {', '.join(better) or 'no metric'}")  # fmt: skip
    return text


def promotion_section(params: Any, candidate: str, champion: str | None) -> str:
    """For the promotion pull request: the candidate (`candidate`, its model hash) against the champion on live
    outcomes, when the candidate ran as the environment's challenger within monitor.window_hours (read from
    monitor.logs / serve.log.directory and the feedback log); "" otherwise, or when the logs cannot be read."""
    from pipelines.adapters.params import load_contract
    from pipelines.core.feedback import comparison_report

    logs = params.monitor.logs or params.serve.log.directory
    try:
        _, comparison = live_performance(
            params, logs, feedback_location(params), time.time() - params.monitor.window_hours * 3600
        )
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
    outcome_files = sources.list_logs(outcomes_at, "feedback")
    if not outcome_files:
        say("ingest", f"no outcomes at {outcomes_at} yet")
        return []
    outcomes = latest_outcomes(sources.read_outcomes(outcome_files, None))
    predictions = [r for r in sources.read_predictions(sources.list_logs(logs), None) if r["role"] == "champion"]
    batches = sources.from_feedback(predictions, outcomes, load_contract().target, data_dir, outcomes_at)
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


def cmd_feedback_import(args: argparse.Namespace) -> int:
    """Outcomes from a file (CSV or Parquet, path or fsspec URL) or a SQL query, appended to the feedback log as
    one content-addressed file: importing the same outcomes twice writes nothing new."""
    import os

    import orjson

    from pipelines.adapters import files, sources
    from pipelines.adapters.params import load_contract, load_params
    from pipelines.errors import PipelineError

    params, contract = load_params(args.params), load_contract()
    if args.file:
        import fsspec

        with fsspec.open(args.file, "rb") as handle:
            frame = files.read_table(handle, params.data.missing_values, name=args.file)
        source = f"file:{args.file}"
    else:
        (batch,) = sources.from_sql(args.sql_url_env, args.query)
        frame, source = batch.frame, batch.source
    column = args.outcome_column or contract.target
    missing = [c for c in (args.id_column, column) if c not in frame.columns]
    if missing:
        raise PipelineError(f"{source}: no column(s) {', '.join(missing)} (see --id-column, --outcome-column)")
    target = contract.raw.columns[contract.target]
    checked = target.validate(frame[[column]].rename(columns={column: contract.target})) if len(frame) else frame
    from pipelines.core.ids import well_formed

    bad = [i for i in frame[args.id_column] if not well_formed(str(i))]
    if bad:
        raise PipelineError(f"{source}: {len(bad)} id(s) are not prediction ids (37 hex digits with their check)")
    field = "value" if contract.task == "regression" else "label"
    pairs = sorted(
        (str(i), outcome.item() if hasattr(outcome, "item") else outcome)
        for i, outcome in zip(frame[args.id_column], checked[contract.target], strict=True)
    )
    digest = hashlib.sha256(orjson.dumps(pairs)).hexdigest()[:16]  # the outcomes, not when they came in
    now = time.time()
    lines = [orjson.dumps({"id": i, field: outcome, "ts": now, "source": source}) for i, outcome in pairs]
    location = feedback_location(params, args.to)
    target_path = f"{location.rstrip('/')}/feedback-import-{digest}.jsonl"
    import fsspec

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
    p.add_argument("--to", help="the feedback log (default: monitor.feedback, else serve.feedback.directory)")
