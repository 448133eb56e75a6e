"""Operations: fresh data and retraining (.github/workflows/retrain.yml), drift and live-metric
monitoring and its alert (monitor.yml)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.adapters import dvc, git
from pipelines.adapters.github import GhCli, dispatch_workflow, upsert_drift_issue, upsert_issue
from pipelines.adapters.metrics_export import write_prometheus
from pipelines.adapters.params import load_contract, load_params, load_paths
from pipelines.commands import Subparsers, add, add_repo, annotate, append, say
from pipelines.core.gate import check
from pipelines.core.metrics import model_output, score
from pipelines.core.params import Params
from pipelines.jobs import ageing, judging
from pipelines.jobs.live import feedback_location, labelled_batch, live_section, offline_against_live

if TYPE_CHECKING:
    from pipelines.adapters import sources

NO_SOURCE = (
    "no source configured: set ingest.source, or ingest.sql_url_env and sql_query, or ingest.feedback, in params.yaml"
)


def configured(params: Params) -> bool:
    """Whether params.yaml names a source of fresh data (`ingest.source`, `sql_url_env` and `sql_query`, or
    `feedback`: the live rows whose outcomes came back)."""
    return bool(
        params.ingest.source or (params.ingest.sql_url_env and params.ingest.sql_query) or params.ingest.feedback
    )


def ingest(params: Params, need_remote_for_new_data: bool = False) -> sources.Outcome:
    """Fetch the configured source's batches, validate them, append the new ones to the tracked data and
    `dvc add` it; the sources.Outcome. With `need_remote_for_new_data`, refuse (changing nothing) when
    there is new data and no DVC remote to share it through."""
    from pipelines.adapters import sources
    from pipelines.core.data import DataError, parse_pointer

    settings = params.ingest
    data_dir = Path(parse_pointer(Path("data.dvc").read_text())[0])
    batches = []
    if settings.source:
        batches = sources.from_files(settings.source, params.data.missing_values)
    elif settings.sql_url_env and settings.sql_query:
        batches = sources.from_sql(settings.sql_url_env, settings.sql_query)
    elif not settings.feedback:
        raise sources.IngestError(NO_SOURCE)
    if settings.feedback:  # the live rows whose outcomes came back, as one more batch (pipelines.jobs.feedback)
        batches += labelled_batch(params, data_dir)
    schema = load_contract().raw
    if need_remote_for_new_data and sources.pending(batches, data_dir, schema) and not dvc.has_remote():
        raise DataError(
            "there is new data, but no DVC remote is configured, so a pushed branch would point at data that "
            "exists only here: add one (`dvc remote add -d storage <url>`, commit .dvc/config) and run again"
        )
    outcome = sources.ingest(batches, data_dir, Path(settings.quarantine), schema)
    say(
        "ingest",
        f"{len(batches)} batch(es): {len(outcome.added)} new ({outcome.rows} rows), "
        f"{len(outcome.known)} already ingested, {len(outcome.quarantined)} quarantined",
    )
    for line in outcome.quarantined:
        say("ingest", f"quarantined {line}")
    if outcome.added:
        dvc.add(str(data_dir))
        say("ingest", f"updated data.dvc ({', '.join(outcome.added)})")
    return outcome


def cmd_ingest(args: argparse.Namespace) -> int:
    ingest(load_params(args.params))
    return 0


def cmd_retrain(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    if not configured(params):
        # a fresh fork has no source yet: the weekly run says so and stays green
        notice = f"Retraining skipped: {NO_SOURCE}."
        say("retrain", notice)
        annotate("notice", notice)
        append(args.summary, f"### Retraining\n\n{notice}\n")
        return 0
    outcome = ingest(params, need_remote_for_new_data=args.push)
    status = _retrain(args, params, outcome)
    stale = ageing.stale_data(args.staleness, outcome)
    if stale:
        say("retrain", stale)
        annotate("error", stale)
        append(args.summary, f"### Stale data\n\n{stale}\n")
    return _refused(outcome, args.summary, args.refused_reports) or status or int(bool(stale))


def _refused(outcome: sources.Outcome, summary: str | None, reports: str | None) -> int:
    """A batch the contract refused must reach a person: the run fails (GitHub notifies on a failed scheduled
    run), its step summary lists each batch's failing checks, and its validation report is copied to
    `reports` (retrain.yml uploads that folder as the artifact `refused-batches`; the rows stay in the
    quarantine folder on the runner, never uploaded). 1 when any batch was refused, else 0."""

    if not outcome.quarantined:
        return 0
    if reports:
        Path(reports).mkdir(parents=True, exist_ok=True)
        for folder, _ in outcome.refused:
            shutil.copyfile(folder / "report.json", Path(reports) / f"{folder.name}.json")
    where = f"; their validation reports are in {reports}" if reports else ""
    headline = (
        f"{len(outcome.quarantined)} batch(es) broke the data contract and were quarantined "
        f"(nothing of them reached the data){where}"
    )
    say("retrain", headline)
    annotate("error", headline)
    details = "\n".join(f"- {line}" for _, line in outcome.refused)
    append(summary, f"### Refused batches\n\n{headline}.\n\n```\n{details}\n```\n")
    return 1


def _retrain(args: argparse.Namespace, params: Params, outcome: sources.Outcome) -> int:
    """dvc repro after an ingest; a retrain/<date> branch (and pull request) only if data or model changed."""

    if dvc.stream("repro") != 0:
        say("retrain", "dvc repro failed")
        return 1
    new_data = bool(outcome.added)
    # Without new data, "changed" means the outputs no longer reproduce the committed ones within the
    # tolerances; model bytes that differ on this runner's CPU while the numbers agree are no change.
    reproduced = None if new_data else judging.reproduction("HEAD", args.params, "dvc.yaml")
    if reproduced is not None and reproduced.ok:
        summary = "Nothing to do: no new data, and the pipeline reproduces the committed outputs" + (
            " (this runner's model bytes differ; its numbers agree)." if reproduced.equivalent else "."
        )
        say("retrain", summary)
        append(args.summary, f"### Retraining\n\n{summary}\n")
        return 0
    message = (
        f"Retrain on new data: {len(outcome.added)} batch(es), {outcome.rows} rows"
        if new_data
        else f"Retrain: the committed outputs no longer reproduce ({reproduced.headline() if reproduced else ''})"
    )
    branch = judging.propose_branch("retrain", message, args.params, args.push, args.repo)
    append(args.summary, f"### Retraining\n\n{message}: branch `{branch}`.\n")
    return 0


def live_metrics(location: str, params: Params) -> tuple[dict[str, float], list[str]]:
    """Metrics of the workspace's model on labelled live rows (CSV or Parquet, path or fsspec URL), and the
    gate floors they break."""
    import fsspec

    from pipelines.adapters import modelio
    from pipelines.adapters.files import read_table
    from pipelines.adapters.modelio import workspace_model
    from pipelines.core.validation import validate

    contract = load_contract()
    with fsspec.open(location, "rb") as handle:
        frame = read_table(handle, params.data.missing_values, name=location)
    labelled, _ = validate(frame, contract.raw)
    model_dir, _ = workspace_model()
    model = modelio.load(model_dir)
    output = model_output(model, labelled[contract.features], contract.task)
    live = score(
        labelled[contract.target].to_numpy(),
        output,
        task=contract.task,
        classes=getattr(model, "classes_", None),
        threshold=params.evaluate.threshold,
    )
    say(
        "monitor",
        f"live metrics on {len(labelled)} labelled rows: " + ", ".join(f"{k}={v:.4f}" for k, v in live.items()),
    )
    return live, [rule.reason for rule in check(live, None, params.gate).failures]


def cmd_monitor(args: argparse.Namespace) -> int:
    from pipelines.adapters import files, sources
    from pipelines.core import monitor_report
    from pipelines.core.drift import detect_drift, monitored
    from pipelines.core.monitor_report import offline_live_table

    params, contract = load_params(args.params), load_contract()
    settings = params.monitor
    location = args.logs or settings.logs or params.serve.log.directory
    reference = json.loads(Path(args.reference or load_paths()["reference"]).read_text())
    # personal inputs are not logged, so not compared: said in the report, never read as missing or drifted
    reference, not_monitored = monitored(reference, contract.personal_inputs)
    window = f"the last {settings.window_hours:g} hours, from {location}"
    paths = sources.list_logs(location)
    say("monitor", f"reading {len(paths)} log file(s) from {location}")
    where = _log_location_problem(args.logs or settings.logs, location, paths)
    if where:  # a wrong or missing location must not look like quiet traffic
        say("monitor", where)
        annotate("warning", where)
        append(args.summary, f"### Monitoring\n\n⚠️ {where}\n")

    since = time.time() - settings.window_hours * 3600
    outcome_files = sources.list_logs(feedback_location(params, args.feedback), "feedback")
    live, logged = sources.scan_logs(paths, since, settings.max_rows, predictions=bool(outcome_files))
    verdict: dict[str, Any]
    drift = None
    if len(live) < settings.min_rows:
        verdict = {
            "rows": len(live),
            "drift": False,
            "drifted_features": [],
            "status": "not enough data",
            "min_rows": settings.min_rows,
        }
    else:
        drift = detect_drift(
            live,
            reference,
            settings.psi_threshold,
            settings.ks_alpha,
            settings.ks_min_statistic,
            settings.missing_rate_change,
            settings.chi2_min_effect,
            params.train.reference_bins,
        )
        verdict = {**drift.to_dict(), "status": "drift" if drift.drifted else "ok"}
    labelled = None
    if args.labelled:
        labelled = live_metrics(args.labelled, params)
        verdict["live_metrics"], verdict["below_floors"] = labelled
    joined, comparison = live_section(params, logged, outcome_files, since, verdict)
    verdict["offline_vs_live"] = offline = offline_against_live(params, joined) if joined else []
    stale = ageing.stale_releases(params, ageing.recommended_days(args.staleness))
    verdict["stale_releases"] = stale
    causes = ([f"drift in {', '.join(map(str, verdict['drifted_features']))}"] if verdict["drift"] else []) + [
        f"below its floor: {failure}" for failure in verdict.get("below_floors") or []] + stale + [
        f"{f['env']}: live {r['metric']} {r['live']:.4f} is apart from its holdout value {r['offline']:.4f} (their "
        "intervals do not overlap)" for f in offline for r in f["rows"] if r["apart"]]  # fmt: skip
    verdict["alert"], verdict["alert_causes"] = bool(causes), causes  # an alert always says what raised it
    if where:
        verdict.update(status="no logs", problem=where)
    if not_monitored:
        verdict["not_monitored"] = not_monitored
    text = monitor_report.build(
        window, len(live), settings.min_rows, drift, contract.task, params.gate.floors, labelled, joined,
        comparison, settings.min_labelled_rows, where, not_monitored,
    )  # fmt: skip
    files.write_text(args.out, text + offline_live_table(offline))
    files.write_json(args.verdict, verdict)
    gateway = os.environ.get(args.pushgateway_env) if args.pushgateway_env else None
    if args.prometheus or gateway:
        families = write_prometheus(args.prometheus, verdict, gateway)
        if gateway:
            say("monitor", f"pushed {families} metric families to the Pushgateway")
    drifted = ", ".join(str(name) for name in verdict["drifted_features"]) or "none"
    say("monitor", f"{verdict['status']}: {len(live)} rows; drifted: {drifted}; alert: "
                   + ("; ".join(causes) if causes else "none"))  # fmt: skip
    drifted_flag, alert = ("true" if verdict[key] else "false" for key in ("drift", "alert"))
    append(args.github_output, f"drift={drifted_flag}\nalert={alert}\n")
    return 0


def _log_location_problem(configured: str | None, location: str, paths: list[str]) -> str | None:
    """Why there is nothing to read at all, or None. With no location configured the service's local log
    directory is read, which exists only where the service ran (never on a runner); a configured location
    that holds no prediction log at all is more likely wrong than quiet."""
    if paths:
        return None
    if not configured:
        return (
            f"no prediction-log location is configured (monitor.logs is null) and {location} holds no logs: "
            "set monitor.logs in params.yaml to where the service writes them (serve.log.directory of the "
            "deployed service, e.g. an s3:// URL); until then nothing is monitored"
        )
    return (
        f"monitor.logs ({location}) holds no prediction log at all: check the location and the credentials "
        "(MONITOR_AWS_* secrets); a wrong location looks exactly like no traffic"
    )


def cmd_alert(args: argparse.Namespace) -> int:
    verdict = json.loads(Path(args.verdict).read_text())
    if not verdict.get("alert", verdict.get("drift")):
        say("alert", "no drift and no floor broken: nothing to report")
        return 0
    parts = []
    if verdict.get("drifted_features"):
        parts.append("input drift: " + ", ".join(verdict["drifted_features"]))
    if verdict.get("below_floors"):
        parts.append("live metrics below the gate floors")
    title = ("Monitoring: " + "; ".join(parts))[:200]
    body = Path(args.report).read_text() + "\n\n_Opened by the monitor workflow; a retraining run was dispatched._\n"
    github = GhCli()
    number, created = upsert_drift_issue(github, args.repo, title, body)
    say("alert", f"{'opened' if created else 'updated'} issue #{number}")
    if args.retrain_workflow:
        dispatch_workflow(github, args.repo, args.retrain_workflow, args.ref)
        say("alert", f"dispatched {args.retrain_workflow} on {args.ref}")
    return 0


INACTIVITY_LABEL = "schedules"


def scheduled_workflows(directory: Path) -> list[str]:
    """The workflow files under `directory` that have an `on: schedule` trigger."""
    import yaml

    found = []
    for path in sorted(directory.glob("*.yml")):
        doc = yaml.safe_load(path.read_text()) or {}
        triggers = doc.get("on", doc.get(True)) or {}  # PyYAML reads the key `on` as True
        if isinstance(triggers, dict) and "schedule" in triggers:
            found.append(path.name)
    return found


def cmd_keepalive(args: argparse.Namespace) -> int:
    """Warn before GitHub stops the schedules: days since the default branch's last commit, from git."""

    limit = load_params(args.params).monitor.inactivity_warning_days
    last = int(git.text("log", "-1", "--format=%ct", args.rev))
    days = int((time.time() - last) // 86400)
    scheduled = scheduled_workflows(Path(args.workflows))
    if days < limit:
        say("keepalive", f"{args.rev}'s last commit is {days} day(s) old (warning from {limit}): schedules are safe")
        return 0
    message = (
        f"The default branch has had no commit for {days} days. In a public repository GitHub disables scheduled "
        f"workflows after 60 days without activity, and then {', '.join(scheduled) or 'the scheduled workflows'} "
        "stop (retraining and monitoring with them). Push a commit to the default branch, or re-enable each "
        "workflow in the Actions tab once it has been disabled."
    )
    say("keepalive", message)
    annotate("warning", message)
    append(args.summary, f"### Schedules\n\n⚠️ {message}\n")
    if args.repo:
        github = GhCli()
        number, created = upsert_issue(github, args.repo, INACTIVITY_LABEL, "Scheduled workflows will stop", message)
        say("keepalive", f"{'opened' if created else 'updated'} issue #{number}")
        for name in scheduled:  # documented to re-enable a disabled workflow; a no-op for an enabled one
            github.put(f"repos/{args.repo}/actions/workflows/{name}/enable", {})
        say("keepalive", f"enabled {', '.join(scheduled)} through the API")
    return 0


def add_commands(sub: Subparsers) -> None:
    """Register ingest, retrain, monitor, alert and keepalive."""
    add(sub, "ingest", cmd_ingest)

    p = add(sub, "retrain", cmd_retrain)
    p.add_argument("--push", action="store_true", help="push the branch to origin")
    p.add_argument("--repo", help="owner/name: also open the pull request (needs GH_TOKEN)")
    p.add_argument("--summary", help="append the outcome to this file ($GITHUB_STEP_SUMMARY)")
    p.add_argument("--refused-reports", help="copy the validation report of each refused batch into this folder")
    p.add_argument("--staleness", help="reports/staleness.json: fail when the data is older than its recommended "
                   "retrain interval and no fresh data came in")  # fmt: skip

    p = add(sub, "monitor", cmd_monitor)
    p.add_argument("--logs", help="prediction-log directory or fsspec URL (default: monitor.logs)")
    p.add_argument("--reference", help="training-input profile (default: from dvc.yaml)")
    p.add_argument("--out", default="reports/monitor.md")
    p.add_argument("--verdict", default="reports/drift.json")
    p.add_argument(
        "--labelled",
        help="labelled live rows (features + target; CSV/Parquet, path or fsspec URL): "
        "adds live metrics against the gate floors",
    )
    p.add_argument(
        "--feedback", help="outcomes for prediction ids (default: monitor.feedback, else serve.feedback.directory)"
    )
    p.add_argument("--prometheus", help="also write the verdict as Prometheus gauges (text format) to this file")
    p.add_argument("--staleness", help="reports/staleness.json: alert on an environment whose model is older than "
                   "its recommended retrain interval")  # fmt: skip
    p.add_argument("--pushgateway-env", help="NAME of an environment variable with a Pushgateway URL to push them to "
                   "(nothing is pushed when it is unset or empty)")  # fmt: skip
    p.add_argument("--github-output", help="append drift= and alert=true|false to this file ($GITHUB_OUTPUT)")
    p.add_argument(
        "--summary", help="append a warning when there are no logs to read to this file ($GITHUB_STEP_SUMMARY)"
    )

    p = add(sub, "alert", cmd_alert, params=False)
    p.add_argument("--verdict", default="reports/drift.json")
    p.add_argument("--report", default="reports/monitor.md")
    add_repo(p, required=True)
    p.add_argument("--retrain-workflow", default="retrain.yml", help="workflow file to dispatch ('' for none)")
    p.add_argument("--ref", default="main")

    p = add(
        sub,
        "keepalive",
        cmd_keepalive,
    )
    add_repo(p, help="owner/name: also open or update the one issue and call the enable endpoint (needs GH_TOKEN)")
    p.add_argument("--rev", default="HEAD", help="the default branch's commit (default: %(default)s)")
    p.add_argument("--workflows", default=".github/workflows", help="where the workflow files are")
    p.add_argument("--summary", help="append the warning to this file ($GITHUB_STEP_SUMMARY)")
